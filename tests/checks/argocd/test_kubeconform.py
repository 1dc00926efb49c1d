"""argocd/kubeconform: the manifests against strict CRD schemas, generated from the CRDs."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from pipeline import crdschemas
from tests.support.repo import REPO, native

DEV = REPO / "infra/argocd/application-dev.yaml"
CRDS = REPO / "infra" / "schemas" / "crd-sources"


@pytest.mark.tools
def test_crd_schema_is_strict(tmp_path):
    doc = yaml.safe_load(DEV.read_text())
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
