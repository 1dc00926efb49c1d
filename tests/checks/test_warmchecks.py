"""The tests' warm runner (tests/support/warmchecks.py) gives what a fresh `python -m` gives:
the same exit code, stdout and stderr kept apart (the server's optional "errors" file), the
check's own argv, cwd and stdin; and a subprocess where the server cannot serve."""

from __future__ import annotations

import subprocess
import sys

import anyio

from pipeline.executors import PASSED, native

from tests.support import warmchecks
from tests.support.repo import REPO, plan_check
from tests.support.repo import native as native_argv

REFUSED = [sys.executable, "-m", "pipeline.checks.chart.netpol", "--no-such-flag"]
NETPOL = native_argv(plan_check("chart/netpol-dev").argv, "python")  # its edges file: relative


def fresh(argv, cwd=REPO, input=None):
    return subprocess.run(argv, cwd=cwd, input=input, capture_output=True, text=True, timeout=120)


def test_a_forked_check_answers_as_a_fresh_process_with_its_streams_apart():
    before = warmchecks.forked()
    warm = warmchecks.run(REFUSED, REPO, timeout=120)
    assert warmchecks.forked() == before + 1  # served by the warm server, not a subprocess
    cold = fresh(REFUSED)
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)
    assert warm.returncode == 2 and "error:" in warm.stderr and warm.stdout == ""


def test_stdin_and_cwd_are_the_checks(tmp_path, rendered):
    text = rendered("dev")
    warm = warmchecks.run(NETPOL, REPO, input=text, timeout=120)
    cold = fresh(NETPOL, input=text)
    assert warm.returncode == cold.returncode == 0, warm.stdout + warm.stderr
    assert warm.stdout == cold.stdout and warm.stderr == cold.stderr
    # From another cwd, the check's relative default (its edges file) is not there: it says so.
    away = warmchecks.run(NETPOL, tmp_path, input=text, timeout=120)
    assert (away.returncode, away.stdout, away.stderr) == (
        lambda done: (done.returncode, done.stdout, done.stderr))(fresh(NETPOL, cwd=tmp_path, input=text))
    assert away.returncode != 0


def test_a_changed_environment_runs_a_subprocess(monkeypatch):
    warmchecks.run(REFUSED, REPO, timeout=120)  # the server is up, with the session's environment
    monkeypatch.setenv("DPP_WARMCHECKS_PROBE", "1")
    before = warmchecks.forked()
    done = warmchecks.run([sys.executable, "-m", "pipeline.checks.chart.netpol", "--help"], REPO,
                          timeout=120)
    assert warmchecks.forked() == before  # not forked: the server's environment differs
    assert done.returncode == 0 and "--env" in done.stdout


def test_the_executor_forks_a_check_from_its_own_environments_server(tmp_path):
    """tests/support/monitoring.run hands the executor the server of its environment: the
    check's result is the one the executor gets from a subprocess."""
    from tests.support import monitoring

    root = monitoring.monitoring_repo(tmp_path)
    before = warmchecks.forked()
    warm = monitoring.run(root, "monitoring/metrics-contract")
    assert warmchecks.forked() == before + 1
    check = monitoring.plan_check(root, "monitoring/metrics-contract")
    cold = anyio.run(native.run_check, check, root, native.environment(root))
    assert warm == (cold.status, cold.output)
    assert cold.status == PASSED and ": OK" in cold.output
