"""The chart-file sync check: the chart's copies of the monitoring files equal their sources."""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.checks.chart import chartfiles
from pipeline.layout import CHART_COPIES
from tests.support import warmchecks
from tests.support.repo import REPO


def test_copies_in_sync():
    assert chartfiles.drift(REPO) == []


def make_root(tmp_path: Path) -> Path:
    for source, pattern, copy in CHART_COPIES:
        (tmp_path / source).mkdir(parents=True)
        (tmp_path / copy).mkdir(parents=True)
        (tmp_path / source / f"a{pattern[1:]}").write_text("groups: []\n")
    chartfiles.sync(tmp_path)
    return tmp_path


def test_drift_names_the_file(tmp_path):
    root = make_root(tmp_path)
    assert chartfiles.drift(root) == []
    (root / "infra/monitoring/alertmanager/rules/a.yml").write_text("groups: [x]\n")
    (root / "infra/monitoring/grafana/dashboards/new.json").write_text("{}\n")
    (root / "infra/helm/dpp-platform/files/dashboards/old.json").write_text("{}\n")
    problems = [str(p) for p in chartfiles.drift(root)]
    assert "infra/helm/dpp-platform/files/rules/a.yml: differs from what scripts/sync-chart-files makes of infra/monitoring/alertmanager/rules/a.yml" in problems
    assert any(p.startswith("infra/helm/dpp-platform/files/dashboards/new.json: missing copy") for p in problems)
    assert any(p.startswith("infra/helm/dpp-platform/files/dashboards/old.json: no source") for p in problems)
    result = warmchecks.run([sys.executable, "-m", "pipeline.checks.chart.chartfiles", "--check", "--root", str(root)],
                            Path.cwd())
    assert result.returncode == 1 and "a.yml" in result.stdout + result.stderr
    chartfiles.sync(root)
    assert chartfiles.drift(root) == []


def test_missing_sources_and_no_copies_pass(tmp_path):
    assert chartfiles.drift(tmp_path) == []
