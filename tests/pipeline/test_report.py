"""The people's report over real tool output: one cause shown once, pointed at its file."""

from __future__ import annotations

import pytest

from pipeline import plan
from tests.support.repo import copy_repo, run_pipeline

pytestmark = pytest.mark.tools

CHART = "infra/helm/dpp-platform"


def test_a_values_typo_is_shown_once_and_pointed_at_the_overlay_line(tmp_path):
    root = copy_repo(tmp_path / "repo", "infra/helm", "infra/schemas")
    overlay = root / CHART / "values-dev.yaml"
    overlay.write_text(overlay.read_text().replace("  environment: development",
                                                   "  environmnt: development"))
    done = run_pipeline("lint", "--source", str(root), "--only", "chart/*-dev*")
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    count = len(plan.select(plan.build(plan.Tree.from_path(root)), ["chart/*-dev*"]))
    assert count >= 15  # helm lint, 8 renders and the policies over the render
    # one root cause, shown once
    assert out.count("additional properties 'environmnt' not allowed") <= 2, out
    assert f"same error in {count - 1} more checks: " in out
    line = overlay.read_text().splitlines().index("  environmnt: development") + 1
    assert f"hint: global.environmnt is set in {CHART}/values-dev.yaml:{line}" in out
    assert out.splitlines()[-1].startswith(
        f"lint: {count} of {count} checks failed (1 distinct error), 0 passed")
    assert len(out.splitlines()) < 40, out


def test_distinct_causes_are_each_shown(tmp_path):
    root = copy_repo(tmp_path / "repo", "infra/helm", "infra/schemas")
    for env, typo in (("dev", "environmnt"), ("prod", "enviroment")):
        overlay = root / CHART / f"values-{env}.yaml"
        overlay.write_text(overlay.read_text().replace("  environment: ", f"  {typo}: "))
    done = run_pipeline("lint", "--source", str(root), "--only", "chart/helm-lint-*-1.37.0")
    assert "=== chart: 2 checks failed, 2 distinct errors" in done.stdout, done.stdout
    assert "'environmnt' not allowed" in done.stdout and "'enviroment' not allowed" in done.stdout
