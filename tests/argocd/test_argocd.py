"""ArgoCD manifests: strict CRD validation, and the sources check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline import crdschemas
from pipeline.policies import argocd
from tests.chart.helpers import REPO, native, output, run_check

APPSET = REPO / "infra/argocd/applicationset.yaml"
CRDS = REPO / "infra" / "schemas" / "crd-sources"


def test_sources_pass():
    assert argocd.check_file(APPSET, REPO) == []
    assert argocd.check_file(REPO / "infra/argocd/application.yaml", REPO) == []


def mutated(tmp_path: Path, change) -> list[str]:
    doc = yaml.safe_load(APPSET.read_text())
    change(doc)
    path = tmp_path / "appset.yaml"
    path.write_text(yaml.safe_dump(doc))
    return argocd.check_file(path, REPO)


def elements(doc):
    return doc["spec"]["generators"][0]["matrix"]["generators"][0]["list"]["elements"]


def test_unknown_env_has_no_values_file(tmp_path):
    problems = mutated(tmp_path, lambda d: elements(d).append({"env": "qa", "branch": "qa"}))
    assert any("(env qa): spec.source.helm.valueFiles: infra/helm/dpp-platform/values-qa.yaml does not exist" in p
               for p in problems), problems


def test_env_dropped_leaves_values_file_undeployed(tmp_path):
    problems = mutated(tmp_path, lambda d: elements(d).pop())
    assert any("values-prod.yaml is deployed by no element" in p for p in problems), problems


def test_fixed_revision_and_missing_options(tmp_path):
    def change(doc):
        doc["spec"]["generators"][0]["matrix"]["generators"][1]["git"]["revision"] = "main"
        doc["spec"]["goTemplateOptions"] = []
        del doc["spec"]["syncPolicy"]
        doc["spec"]["template"]["spec"]["syncPolicy"]["automated"]["prune"] = False
    problems = mutated(tmp_path, change)
    text = "\n".join(problems)
    assert "git generator revision 'main'" in text
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


@pytest.mark.tools
def test_crd_schema_is_strict(tmp_path):
    doc = yaml.safe_load((REPO / "infra/argocd/application.yaml").read_text())
    doc["spec"]["syncPolicy"]["automated"]["prunee"] = True
    doc["spec"]["source"]["helm"]["valueFiles"] = "values.yaml"
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump(doc))
    argv = ["kubeconform", "-strict", "-summary", "-kubernetes-version", "1.37.0",
            "-schema-location", "{schemas}",
            "-schema-location", "infra/schemas/crds/{{ .ResourceKind }}{{ .KindSuffix }}.json", str(path)]
    result = subprocess.run(native(tuple(argv), "kubeconform"), cwd=REPO, capture_output=True, text=True)
    assert result.returncode != 0
    assert "prunee" in result.stdout + result.stderr
    assert "valueFiles" in result.stdout + result.stderr


def test_generated_schemas_are_up_to_date():
    assert crdschemas.stale(CRDS, REPO / "infra/schemas/crds") == []


def test_strict_conversion():
    schema = crdschemas.strict({"type": "object", "properties": {
        "a": {"type": "string", "nullable": True},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"x": {}}}}})
    assert schema["additionalProperties"] is False
    assert schema["properties"]["a"]["type"] == ["string", "null"]
    assert "additionalProperties" not in schema["properties"]["free"]
    assert crdschemas.file_name("ServiceMonitor", "monitoring.coreos.com", "v1") == "servicemonitor-monitoring-v1.json"
