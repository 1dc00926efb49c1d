"""Run one check of the plan, exactly as `lint` would, on a copy of the repo.

`root` is a fixture: a conftest imports it (`from tests.support.monitoring import root`).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import anyio
import pytest

from pipeline.executors import FAILED, PASSED, native
from pipeline.plan import Tree
from pipeline.plan.model import Check
from tests.support import warmchecks
from tests.support.repo import copy_repo, plan_of

# No src/pipeline: Python checks run the module's own code, never the tree's (executors/native.py).
MONITORING_PATHS = ("infra/monitoring", ".pint.hcl", "docker-compose.prod.yml", "infra/compose")
RULES = "infra/monitoring/alertmanager/rules"
DASHBOARDS = "infra/monitoring/grafana/dashboards"
CONTRACT = "infra/monitoring/metrics-contract.yaml"
ALERTMANAGER = "infra/monitoring/alertmanager/alertmanager.yml"
PROMETHEUS = "infra/monitoring/prometheus/prometheus.yml"


def monitoring_repo(tmp_path: Path) -> Path:
    """The files the monitoring and compose checks read, in a fresh tree."""
    return copy_repo(tmp_path / "repo", *MONITORING_PATHS)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A fresh copy of the files the monitoring and compose checks read."""
    return monitoring_repo(tmp_path)


def plan_check(root: Path, check_id: str) -> Check:
    checks = plan_of(Tree.from_path(root))
    assert check_id in checks, f"{check_id} not in the plan: {sorted(checks)}"
    return checks[check_id]


def run(root: Path, check_id: str) -> tuple[str, str]:
    """(status, output) of the plan's check, run by the native executor with cwd = root."""
    check = plan_check(root, check_id)
    env = native.environment(root)
    # A `python -m` check forks from the warm server of this test process, as `lint` forks
    # it from its own (tests/support/warmchecks.py).
    result = anyio.run(partial(native.run_check, python=warmchecks.for_executor(env)),
                       check, root, env)
    return result.status, result.output


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count))


def passes(root: Path, check_id: str) -> str:
    """The output of the plan's check, which must pass on the files as they are."""
    status, output = run(root, check_id)
    assert status == PASSED, output
    assert ": OK" in output, output
    return output


def edit_cases(cases: list[tuple]) -> pytest.MarkDecorator:
    """Parametrize a test over (case, file, old, new, expected lines) edits, named by case."""
    return pytest.mark.parametrize(("path", "old", "new", "expected"), [c[1:] for c in cases],
                                   ids=[c[0] for c in cases])


def fails_after_edit(root: Path, check_id: str, path: str, old: str, new: str) -> str:
    """The output of the plan's check, which must fail once `old` is `new` in `path`."""
    edit(root / path, old, new)
    status, output = run(root, check_id)
    assert status == FAILED, output
    return output


def run_check_on_chart(check_id: str, chart: Path):
    """A chart check of the plan with its `helm template` producer pointed at a copy of the chart
    (its values files too)."""
    import subprocess

    from tests.support.repo import REPO, native
    from tests.support.repo import plan_check as repo_check

    check = repo_check(check_id)
    chart_dir = "infra/helm/dpp-platform"
    producer = [str(chart) + a[len(chart_dir):] if a == chart_dir or a.startswith(chart_dir + "/") else a
                for a in native(check.stdin_from.argv, check.stdin_from.tool)]
    made = subprocess.run(producer, cwd=REPO, capture_output=True, text=True, timeout=120)
    if made.returncode != 0:
        return made
    return subprocess.run(native(check.argv, check.tool), cwd=REPO, input=made.stdout,
                          capture_output=True, text=True, timeout=300)


def edited_chart(tmp_path: Path, *edits: tuple[str, str, str]) -> Path:
    """A copy of the chart with each (file, old, new) edit applied (old must be there)."""
    import shutil

    from tests.support.repo import CHART

    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    for rel, old, new in edits:
        edit(chart / rel, old, new)
    return chart
