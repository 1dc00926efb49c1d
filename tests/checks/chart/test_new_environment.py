"""A new environment is a values-<env>.yaml plus the two data entries README names."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import copy_whole_repo, run_pipeline

pytestmark = pytest.mark.tools

CHART = "infra/helm/dpp-platform"
QA_CHECKS = ("--only", "chart/*-qa-1.37.0*", "--only", "policies-qa", "--only", "netpol-qa",
             "--only", "resources-qa", "--only", "argocd/sources")


def add_values_qa(root):
    staging = (root / CHART / "values-staging.yaml").read_text()
    (root / CHART / "values-qa.yaml").write_text(
        staging.replace("staging.dpp-platform.dev", "qa.dpp-platform.dev"))


def test_a_new_values_file_is_checked_and_its_missing_entries_are_named(tmp_path):
    root = copy_whole_repo(tmp_path / "repo")
    add_values_qa(root)
    done = run_pipeline("lint", "--source", str(root), *QA_CHECKS, "--verbose")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out and "ExceptionGroup" not in out
    statuses = {check: status for status, check in
                re.findall(r"^(PASSED|FAILED|ERROR)\s+(\S+) \(", done.stdout, re.M)}
    # the tier comes from values-qa.yaml (global.environment: staging), not from a list of names
    assert statuses["chart/policies-qa"] == "PASSED", out
    assert statuses["chart/helm-lint-qa-1.37.0"] == "PASSED", out
    assert statuses["chart/netpol-qa"] == "FAILED"
    assert ("infra/helm/network-edges.yaml: qa: environment 'qa' is not in the edges file"
            in out)
    assert statuses["argocd/sources"] == "FAILED"
    assert "values-qa.yaml" in out
    assert done.stdout.splitlines()[-1].startswith("lint: 2 of ")


def test_following_readme_adding_an_environment_makes_lint_green(tmp_path):
    root = copy_whole_repo(tmp_path / "repo")
    add_values_qa(root)
    edges = root / "infra/helm/network-edges.yaml"
    text = edges.read_text()
    staging = re.search(r"^  staging:\n(?:    .*\n|\s{17}.*\n)+", text, re.M)[0]
    edges.write_text(text + staging.replace("  staging:", "  qa:", 1))
    appset = root / "infra/argocd/applicationset.yaml"
    text = appset.read_text()
    assert "          - env: prod\n" in text
    appset.write_text(text.replace(
        "          - env: prod\n",
        '          - env: qa\n            version: ">=0.1.0-0"\n          - env: prod\n'))
    assert "qa" in yaml.safe_load(edges.read_text())["environments"]
    done = run_pipeline("lint", "--source", str(root), *QA_CHECKS)
    assert done.returncode == 0, done.stdout + done.stderr
