"""The native smoke end to end: real prometheus + alertmanager from scripts/bootstrap.

Runs `python -m pipeline.smoke` (what `python -m pipeline smoke` calls) in a subprocess,
non-TTY, against the real repo files or broken copies of them.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import toolchain
from pipeline.smoke import native, stack
from pipeline.smoke.expectations import expectations
from pipeline.smoke.probes import READY_TIMEOUT
from tests.support.repo import REPO, copy_repo, take_ctrl_c

pytestmark = pytest.mark.tools

STARTED = re.compile(r"smoke: started (\S+) on 127\.0\.0\.1:(\d+) \(pid (\d+)\)")
WORKDIR = re.compile(r"smoke: working in (\S+)")


@pytest.fixture(autouse=True)
def binaries():
    for name in ("prometheus", "alertmanager"):
        if not (toolchain.native_bin() / name).is_file():
            pytest.skip(f"{name} not installed: run scripts/bootstrap")


def started(source: Path = REPO, **env: str) -> tuple[subprocess.Popen, float]:
    """`python -m pipeline.smoke` started (non-TTY), and when."""
    return subprocess.Popen([sys.executable, "-m", "pipeline.smoke", "--source", str(source)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200", **env}), time.monotonic()


def finished(run: tuple[subprocess.Popen, float], timeout: float = 180
             ) -> tuple[subprocess.CompletedProcess, float]:
    """The run's outcome and its seconds from start to exit (killed past `timeout`)."""
    proc, began = run
    try:
        out, err = proc.communicate(timeout=max(0.0, began + timeout - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), \
        time.monotonic() - began


def smoke(source: Path = REPO, timeout: float = 180, **env: str
          ) -> tuple[subprocess.CompletedProcess, float]:
    return finished(started(source, **env), timeout)


END_TO_END = "test_the_stack_from_the_repo_files_passes_end_to_end"
CAPS = {native.GROUP_WAIT_ENV: "1s", native.INTERVAL_ENV: "1s"}


@pytest.fixture(scope="module", autouse=True)
def end_to_end(request) -> Iterator[Future | None]:
    """The end-to-end run, started with the module's first test when that test is selected:
    most of its seconds are Prometheus' own clocks (its discovery's 5 s ticker, the first
    scrape and evaluation), so the module's other runs overlap them; its test (the module's
    last) collects the outcome, timed from the run's own start to its own exit (a thread
    waits for it), whatever the other tests took. Its own ports and tmp dir: nothing is
    shared with them. A module cut short interrupts it (Ctrl-C: it cleans up), then kills it."""
    selected = any(item.name == END_TO_END and item.module is request.module
                   for item in request.session.items)
    installed = all((toolchain.native_bin() / name).is_file()
                    for name in ("prometheus", "alertmanager"))
    if not (selected and installed):
        yield None
        return
    run = started(**CAPS)
    with ThreadPoolExecutor(max_workers=1) as waiter:
        outcome = waiter.submit(finished, run)
        try:
            yield outcome
        finally:
            if run[0].poll() is None:
                run[0].send_signal(signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    run[0].wait(timeout=30)


def line(output: str, name: str) -> str:
    found = [entry for entry in output.splitlines() if re.match(rf"\w+\s+{re.escape(name)} \(",
                                                                 entry)]
    assert found, f"no report line for {name!r}:\n{output}"
    return found[0]


def assert_cleaned_up(output: str) -> None:
    started = STARTED.findall(output)
    assert {name for name, _, _ in started} >= {"prometheus", "alertmanager", "sink", "target"}
    for name, port, pid in started:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            pass
        else:
            status = Path(f"/proc/{pid}/status").read_text() if Path(
                f"/proc/{pid}").exists() else ""
            assert "zombie" in status, f"{name} (pid {pid}) still runs"
        with socket.socket() as probe:  # no listener left (TIME_WAIT entries are fine)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", int(port)))
            probe.listen()
    workdir = WORKDIR.search(output)
    assert workdir and not Path(workdir.group(1)).exists(), "tmp dir left behind"


def broken_copy(tmp_path: Path, rel: str, edit) -> Path:
    root = copy_repo(tmp_path, "docker-compose.prod.yml", "infra/compose", "infra/monitoring", "src/pipeline")
    path = root / rel
    path.write_text(edit(path.read_text()))
    return root


def test_a_broken_prometheus_yml_fails_fast_with_prometheus_own_error(tmp_path):
    root = broken_copy(tmp_path, "infra/monitoring/prometheus/prometheus.yml",
                       lambda text: text.replace("scrape_interval: 15s",
                                                 "scrape_interval: 15s\n  bogus_field: 1", 1))
    done, elapsed = smoke(root)
    out = done.stdout
    assert done.returncode == 1, out
    failed = line(out, "prometheus ready")
    assert failed.startswith("FAILED")
    assert "field bogus_field not found" in failed and "level=error" in failed
    assert elapsed < READY_TIMEOUT / 2, f"not fast: {elapsed:.1f}s"
    assert_cleaned_up(out)


def test_a_broken_alertmanager_yml_fails_fast_with_alertmanager_own_error(tmp_path):
    root = broken_copy(tmp_path, "infra/monitoring/alertmanager/alertmanager.yml",
                       lambda text: text.replace("receiver: webhook", "receiver: nowhere", 1))
    done, elapsed = smoke(root)
    out = done.stdout
    assert done.returncode == 1, out
    failed = line(out, "alertmanager ready")
    assert failed.startswith("FAILED")
    assert 'undefined receiver \\"nowhere\\" used in route' in failed
    assert elapsed < READY_TIMEOUT / 2, f"not fast: {elapsed:.1f}s"
    assert_cleaned_up(out)


def test_a_bad_flag_value_shows_the_servers_error_line_not_its_usage(tmp_path):
    """An unset ${PROMETHEUS_RETENTION} without default: Prometheus prints its error line,
    then its whole --help; the report leads with the error line, the usage text is gone."""
    root = broken_copy(tmp_path, "docker-compose.prod.yml",
                       lambda text: text.replace("${PROMETHEUS_RETENTION:-15d}",
                                                 "${PROMETHEUS_RETENTION}", 1))
    done, _ = smoke(root)
    out = done.stdout
    assert done.returncode == 1, out
    failed = line(out, "prometheus ready")
    assert "Error parsing command line arguments: empty duration string" in failed, failed
    assert "usage: prometheus" not in out and "--log.format" not in out, out
    assert_cleaned_up(out)


def wait_ready(port: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def test_sigint_stops_every_process_and_frees_the_ports():
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.smoke", "--source", str(REPO)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=take_ctrl_c)
    seen = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # until both servers are started (prometheus last)
            text = proc.stdout.readline()
            seen.append(text)
            if "started prometheus" in text:
                break
        # then until both answer /-/ready: the servers run, the checks are under way
        ports = {name: port for name, port, _ in STARTED.findall("".join(seen))}
        for name in ("alertmanager", "prometheus"):
            assert wait_ready(ports[name], deadline), f"{name} never ready:\n{''.join(seen)}"
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(seen) + rest
    assert proc.returncode == 130, out
    assert "interrupted" in out
    assert_cleaned_up(out)


def test_the_stack_from_the_repo_files_passes_end_to_end(end_to_end):
    """The repo's configs, with the critical route's 30 s group_wait capped at 1 s
    (native.capped_group_waits) and the 15 s scrape and evaluation intervals at 1 s
    (native.capped_intervals): routing, grouping, receivers, targets and rules are the
    repo's, only the waits before the first notification, scrape and evaluation are shorter
    (test_native_config proves the routes end at the same receivers and the copy scrapes
    the same targets with the same rules). Last in the module: it ran meanwhile."""
    done, elapsed = end_to_end.result()  # started with the module (the end_to_end fixture)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert f"smoke: group_wait capped at 1s for this run ({native.GROUP_WAIT_ENV})" in out
    assert (f"smoke: scrape and evaluation intervals capped at 1s for this run "
            f"({native.INTERVAL_ENV})") in out
    for name in ("prometheus ready", "alertmanager ready", "targets up", "contract series scraped",
                 "rules loaded",
                 "prometheus sees alertmanager", "alertmanager receivers",
                 "watchdog end to end", "critical alert routed"):
        assert line(out, name).startswith("PASSED"), line(out, name)
    for name in ("grafana healthy", "grafana datasource healthy",
                 "grafana dashboards provisioned"):
        assert line(out, name).startswith("SKIPPED"), line(out, name)
    assert "received by deadmansswitch" in line(out, "watchdog end to end")
    assert "(evaluation interval 1s + group_wait 0s)" in line(out, "watchdog end to end")
    critical = line(out, "critical alert routed")
    assert "critical (pagerduty" in critical and "webhook (webhook" in critical
    assert "(group_wait 1s)" in critical, critical
    assert "backend" in line(out, "targets up") and "edc-exporter" in line(out, "targets up")
    # the EDC exporter's series (query-exporter's names and labels, metrics-contract.yaml)
    assert "edc-exporter: 3 series" in line(out, "contract series scraped")
    expect = expectations(REPO, stack.load(REPO))
    assert f"{expect.rule_groups} groups, {expect.rules} rules" in line(out, "rules loaded")
    assert_cleaned_up(out)
    assert elapsed < 120
