"""Run one check of the plan, exactly as `lint` would, on a copy of the repo."""

from __future__ import annotations

from pathlib import Path

import anyio

from pipeline.executors import native
from pipeline.plan import Tree, build
from pipeline.plan.model import Check
from tests.conftest import copy_repo

MONITORING_PATHS = ("infra/monitoring", ".pint.hcl", "docker-compose.prod.yml", "infra/compose",
                    "src/pipeline")
RULES = "infra/monitoring/alertmanager/rules"
DASHBOARDS = "infra/monitoring/grafana/dashboards"
CONTRACT = "infra/monitoring/metrics-contract.yaml"
ALERTMANAGER = "infra/monitoring/alertmanager/alertmanager.yml"
PROMETHEUS = "infra/monitoring/prometheus/prometheus.yml"


def monitoring_repo(tmp_path: Path) -> Path:
    """The files the monitoring and compose checks read, in a fresh tree."""
    return copy_repo(tmp_path / "repo", *MONITORING_PATHS)


def plan_check(root: Path, check_id: str) -> Check:
    checks = {c.id: c for c in build(Tree.from_path(root))}
    assert check_id in checks, f"{check_id} not in the plan: {sorted(checks)}"
    return checks[check_id]


def run(root: Path, check_id: str) -> tuple[str, str]:
    """(status, output) of the plan's check, run by the native executor with cwd = root."""
    check = plan_check(root, check_id)
    result = anyio.run(native.run_check, check, root, native.environment(root))
    return result.status, result.output


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count))
