"""argocd/kubeconform: the manifests against strict CRD schemas, generated from the CRDs."""

from __future__ import annotations

import json
import re
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


def test_repeated_subschemas_are_written_once_and_referred_to():
    repeated = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(30)}}
    schema = crdschemas.shared({"type": "object", "properties": {
        "a": repeated, "b": {"type": "array", "items": repeated}, "once": {"type": "integer"}}})
    (name,) = schema["$defs"]
    assert schema["$defs"][name] == repeated
    assert schema["properties"]["a"] == schema["properties"]["b"]["items"] == {"$ref": f"#/$defs/{name}"}
    assert schema["properties"]["once"] == {"type": "integer"}  # once, or tiny: left inline
    with pytest.raises(ValueError, match="own \\$defs"):
        crdschemas.shared({"$defs": {}, "properties": {}})


# Bad ArgoCD and prometheus-operator objects: fields deep in the repeated subschemas (an
# ApplicationSet's matrix generator nests generators and the Application template).
BAD_CRD_OBJECTS = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: nested-unknown-field}
spec:
  generators:
  - matrix:
      generators:
      - list: {elements: [], bogus: 1}
      - git: {repoURL: r, revision: main, directories: [{path: p, exclude: "yes"}]}
  template:
    metadata: {name: a}
    spec:
      project: p
      source: {repoURL: r, helm: {valueFiles: values.yaml}}
      destination: {server: s}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: wrong-types}
spec:
  project: p
  source: {repoURL: r, targetRevision: 3, helm: {parameters: [{name: a, forceString: "no"}]}}
  destination: {server: s}
  syncPolicy: {automated: {prunee: true}}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: bad-endpoint}
spec:
  selector: {}
  endpoints: [{port: http, scheme: gopher, relabelings: [{action: nope, bogus: 1}]}]
"""


@pytest.mark.tools
def test_shared_subschemas_give_kubeconform_the_same_verdicts(tmp_path):
    """The generated (shared) schemas and the plain strict conversion of the same CRDs:
    the same status and message for the repo's manifests and for bad objects."""
    verdicts = {}
    for share in (False, True):
        out = tmp_path / f"share-{share}"
        out.mkdir()
        for name, text in crdschemas.generate(CRDS, share=share).items():
            (out / name).write_text(text)
        (tmp_path / "bad.yaml").write_text(BAD_CRD_OBJECTS)
        argv = ["kubeconform", "-strict", "-n", "1", "-output", "json", "-verbose", "-kubernetes-version", "1.37.0",
                "-schema-location", "{schemas}",
                "-schema-location", f"{out}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
                str(tmp_path / "bad.yaml"), *map(str, sorted((REPO / "infra/argocd").glob("*.yaml")))]
        done = subprocess.run(native(tuple(argv), "kubeconform"), cwd=REPO, capture_output=True, text=True)
        # kubeconform lists the causes under a node in no fixed order: compared sorted
        verdicts[share] = sorted((r["name"], r["status"], " - at ".join(sorted(
            part.strip() for part in re.split(r"\s+- at ", r["msg"].replace(str(out), "OUT")))))
            for r in json.loads(done.stdout)["resources"])
    assert verdicts[True] == verdicts[False]
    status = {name: state for name, state, _ in verdicts[True]}
    assert [status[n] for n in ("nested-unknown-field", "wrong-types", "bad-endpoint")] == ["statusInvalid"] * 3
    assert sum(state == "statusValid" for state in status.values()) >= 3, verdicts[True]
    messages = " ".join(message for _, _, message in verdicts[True])
    for words in ("bogus", "exclude", "targetRevision", "forceString", "prunee", "endpoints/0/scheme", "relabelings/0/action"):
        assert words in messages, (words, verdicts[True])
