"""The chart-file sync check, the values documentation check and the plan's shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pipeline.plan import build
from pipeline.plan.model import Tree
from pipeline.policies import chartfiles, valuesdoc
from pipeline.toolchain import kube_versions
from tests.chart.helpers import CHART, REPO


def test_copies_in_sync():
    assert chartfiles.drift(REPO) == []


def make_root(tmp_path: Path) -> Path:
    for source, pattern, copy in chartfiles.PAIRS:
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
    problems = chartfiles.drift(root)
    assert "infra/helm/dpp-platform/files/rules/a.yml: differs from what scripts/sync-chart-files makes of infra/monitoring/alertmanager/rules/a.yml" in problems
    assert any(p.startswith("infra/helm/dpp-platform/files/dashboards/new.json: missing copy") for p in problems)
    assert any(p.startswith("infra/helm/dpp-platform/files/dashboards/old.json: no source") for p in problems)
    result = subprocess.run([sys.executable, "-m", "pipeline.policies.chartfiles", "--check", "--root", str(root)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "a.yml" in result.stderr
    chartfiles.sync(root)
    assert chartfiles.drift(root) == []


def test_missing_sources_and_no_copies_pass(tmp_path):
    assert chartfiles.drift(tmp_path) == []


def test_values_documented():
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert valuesdoc.check((CHART / "values.yaml").read_text(), schema) == []


def test_undocumented_or_unknown_value_fails():
    schema = json.loads((CHART / "values.schema.json").read_text())
    text = (CHART / "values.yaml").read_text()
    undocumented = text.replace("  # replicas is the pod count when the HPA is off.\n", "", 1)
    assert any("backend.replicas: no comment above it" in p for p in valuesdoc.check(undocumented, schema))
    unknown = text.replace("  # replicas is the pod count", "  # replica is new\n  replica: 1\n  # replicas is the pod count", 1)
    assert any("backend.replica: not in values.schema.json" in p for p in valuesdoc.check(unknown, schema))


def test_plan_shape():
    checks = [c for c in build(Tree.from_path(REPO)) if c.group in ("chart", "argocd")]
    ids = {c.id for c in checks}
    envs = ["dev", "staging", "prod"]
    versions = kube_versions()
    for env in envs:
        for kube in versions:
            assert f"chart/helm-lint-{env}-{kube}" in ids
            assert f"chart/kubeconform-{env}-{kube}" in ids
            assert f"chart/kubeconform-{env}-{kube}-monitoring" in ids
        for name in ("policies", "hardening", "netpol", "resources", "scrape", "prometheusrule",
                     "edc-settings", "app-contract"):
            assert f"chart/{name}-{env}" in ids
    assert {"chart/monitoring-files-sync", "chart/values-docs", "argocd/kubeconform", "argocd/sources"} <= ids
    assert len(checks) == len(envs) * len(versions) * 3 + len(envs) * 8 + 4
    tree = Tree.from_path(REPO)
    for check in checks:
        for path in check.reads:
            assert tree.exists(path), f"{check.id} reads {path}, which is not in the repo"
        if check.tool == "kubeconform":
            assert "-ignore-missing-schemas" not in check.argv
            assert "-strict" in check.argv and "-kubernetes-version" in check.argv
        if check.stdin_from and check.stdin_from.tool == "helm":
            assert "--kube-version" in check.stdin_from.argv


def test_plan_from_a_tree_without_monitoring_sources():
    files = [f for f in Tree.from_path(REPO).files if not f.startswith("infra/monitoring/")]
    checks = {c.id: c for c in build(Tree(frozenset(files)))}
    assert checks["chart/monitoring-files-sync"].reads == (f"{CHART.relative_to(REPO)}/files",)
