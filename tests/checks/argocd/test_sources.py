"""The argocd/sources check: what the Applications and ApplicationSets deploy, and how."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.checks.argocd import sources as argocd
from pipeline.checks.files import load_yaml
from tests.support.repo import REPO, output, run_check

APPSET = REPO / "infra/argocd/applicationset.yaml"
DEV = REPO / "infra/argocd/application-dev.yaml"
MANIFESTS = sorted((REPO / "infra/argocd").glob("*.yaml"))


def test_sources_pass():
    assert argocd.check_files(MANIFESTS, REPO) == []


def mutated(tmp_path: Path, change, source: Path = APPSET) -> list[str]:
    """The check over all manifests, with `source` changed."""
    doc = load_yaml(source)
    change(doc)
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(doc))
    return [str(p) for p in argocd.check_files([path if m == source else m for m in MANIFESTS], REPO)]


def elements(doc):
    return doc["spec"]["generators"][0]["list"]["elements"]


def test_unknown_env_has_no_values_file(tmp_path):
    problems = mutated(tmp_path, lambda d: elements(d).append({"env": "qa", "version": "1.0.0"}))
    assert any("(env qa): spec.source.helm.valueFiles: infra/helm/dpp-platform/values-qa.yaml does not exist" in p
               for p in problems), problems


def test_env_dropped_leaves_values_file_without_owner(tmp_path):
    problems = mutated(tmp_path, lambda d: elements(d).pop())
    assert any("values-prod.yaml: deployed by no Application" in p for p in problems), problems


def test_prod_defined_twice_is_refused(tmp_path):
    """The defect of issue 9: an Application and the ApplicationSet both deploying prod."""
    def change(doc):
        doc["spec"]["source"]["helm"]["valueFiles"] = ["values-prod.yaml"]
        doc["spec"]["destination"]["namespace"] = "dpp-platform"
    problems = mutated(tmp_path, change, source=DEV)
    text = "\n".join(problems)
    assert "values-prod.yaml: deployed by 2 apps" in text, text
    assert "values-dev.yaml: deployed by no Application" in text, text


def test_two_apps_deploying_one_host_fail(tmp_path):
    """Two apps, different values files, one host: the ingress admission rejects the second."""
    def change(doc):
        doc["spec"]["source"]["helm"]["valuesObject"] = {"global": {"domain": "dpp-platform.dev"}}
    problems = mutated(tmp_path, change, source=DEV)
    assert any("host 'dpp-platform.dev' is deployed by" in p and "application-dev.yaml" in p
               and "(env prod)" in p for p in problems), problems


def test_released_chart_comes_from_the_publish_repository(tmp_path):
    def change(doc):
        source = doc["spec"]["template"]["spec"]["source"]
        source["repoURL"] = "ghcr.io/someone/else"
        source["chart"] = "other"
    text = "\n".join(mutated(tmp_path, change))
    assert "spec.source.repoURL: 'ghcr.io/someone/else' is not where `publish` pushes the chart " \
           "(ghcr.io/repo/dpp-platform/charts)" in text, text
    assert "spec.source.chart: 'other'" in text, text


def test_version_must_be_semver(tmp_path):
    problems = mutated(tmp_path, lambda d: elements(d)[1].update(version="latest"))
    assert any("(env prod): spec.source.targetRevision: 'latest' is no SemVer" in p for p in problems), problems
    for good in ("1.4.0", "v2.0.0-rc.1", ">=0.1.0-0", "~1.4", "^1.2.3", "1.4.*", ">=1.0.0 <2.0.0", "1.x || 2.x"):
        assert argocd.is_version_or_constraint(good), good
    for bad in ("latest", "main", "", "1.4.0.1"):
        assert not argocd.is_version_or_constraint(bad), bad


def test_released_chart_runs_its_app_version_images(tmp_path):
    def change(doc):
        doc["spec"]["template"]["spec"]["source"]["helm"]["valuesObject"] = {"backend": {"image": {"tag": "main"}}}
    assert any("backend.image.tag: 'main'" in p for p in mutated(tmp_path, change))


def test_missing_options(tmp_path):
    def change(doc):
        doc["spec"]["goTemplateOptions"] = []
        del doc["spec"]["syncPolicy"]
        doc["spec"]["template"]["spec"]["syncPolicy"]["automated"]["prune"] = False
    text = "\n".join(mutated(tmp_path, change))
    assert "spec.goTemplateOptions: missingkey=error missing" in text
    assert "spec.syncPolicy.preserveResourcesOnDeletion: must be true" in text
    assert "spec.syncPolicy.automated.prune: must be true" in text


def test_missing_template_key_is_an_error(tmp_path):
    def change(doc):
        doc["spec"]["template"]["spec"]["destination"]["namespace"] = "dpp-{{.stage}}"
    assert any("{{.stage}} has no value" in p for p in mutated(tmp_path, change))


@pytest.mark.tools
def test_plan_checks_pass():
    for check_id in ("argocd/kubeconform", "argocd/sources"):
        result = run_check(check_id)
        assert result.returncode == 0, output(result)
