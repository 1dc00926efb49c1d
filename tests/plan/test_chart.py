"""The plan of the chart and argocd groups: which checks, over which inputs."""

from __future__ import annotations

from pipeline.plan import build
from pipeline.plan.model import Tree
from pipeline.toolchain import kube_versions
from tests.support.repo import CHART, REPO


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
