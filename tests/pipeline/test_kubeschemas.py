"""kubeschemas: self-contained kind files from the kubernetes-validate wheel, giving
kubeconform the same verdicts as the wheel's shared `_definitions.json` layout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pipeline import kubeschemas, toolchain
from pipeline.executors import batch
from pipeline.plan.chart import kubeconform_argv
from pipeline.plan.model import SCHEMAS, Check
from tests.support.repo import REPO, binary

VERSION = toolchain.kube_versions()[-1]
SHARED_FOLDER = f"v{VERSION}-local-strict"  # what the plan's kubeconform -strict reads

# Bad input, one resource a defect kind: an unknown field (invalid under -strict), a
# wrong type, a missing required field, and bad fields nested in a Deployment's PodSpec
# (definitions reached through several refs: PodTemplateSpec -> PodSpec -> Container -> ...).
BAD = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: unknown-field}
spec:
  selector: {matchLabels: {app: a}}
  bogusField: 1
  template:
    metadata: {labels: {app: a}}
    spec: {containers: [{name: a, image: a}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: wrong-type}
spec:
  replicas: three
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec: {containers: [{name: a, image: a}]}
---
apiVersion: v1
kind: Service
metadata: {name: missing-required}
spec:
  ports: [{name: http}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: nested-podspec}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers:
      - name: a
        image: a
        ports: [{containerPort: http}]
        securityContext: {runAsNonRoot: "yes", bogusField: true}
"""
# What kubeconform says of each (the same words in both layouts, checked below).
BAD_VERDICTS = {
    "unknown-field": "at '/spec': additional properties 'bogusField' not allowed",
    "wrong-type": "at '/spec/replicas': got string, want null or integer",
    "missing-required": "at '/spec/ports/0': missing property 'port'",
    "nested-podspec": "at '/spec/template/spec/containers/0/ports/0/containerPort': "
                      "got string, want integer",
}


def keyword(node: object, name: str) -> list[str]:
    """Every string value of the schema keyword `name` (`$ref`, `$id`) in `node` (a property
    named so has a schema, not a string, as its value)."""
    found: list[str] = []
    todo = [node]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == name and isinstance(value, str):
                    found.append(value)
                elif isinstance(value, (dict, list)):
                    todo.append(value)
        elif isinstance(node, list):
            todo.extend(node)
    return found


def resolves(document: dict, ref: str) -> bool:
    """`ref` is a JSON pointer into `document` itself that names a node of it."""
    if not ref.startswith("#/"):
        return False
    node: object = document
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or token not in node:
            return False
        node = node[token]
    return True


def unresolved(document: dict) -> list[str]:
    """The `$ref`s of `document` that do not resolve inside it."""
    return [ref for ref in keyword(document, "$ref") if not resolves(document, ref)]


def referenced(node: object) -> set[str]:
    """The definition names `node` refers to (`#/$defs/<name>`)."""
    return {ref.removeprefix("#/$defs/") for ref in keyword(node, "$ref")}


def fake_wheel(path: Path, folders: dict[str, dict[str, object]]) -> Path:
    """A wheel shaped like kubernetes-validate's: folder -> file name -> JSON."""
    with zipfile.ZipFile(path, "w") as archive:
        for folder, files in folders.items():
            for name, content in files.items():
                archive.writestr(f"{kubeschemas.WHEEL_ROOT}{folder}/{name}", json.dumps(content))
    return path


def ref(name: str) -> dict:
    return {"$ref": f"/api/_definitions.json#/$defs/{name}"}


DEFINITIONS = {"$schema": "https://json-schema.org/draft/2020-12/schema",
               "$id": "https://kubernetes.io/api/_definitions.json",
               "$defs": {"x": {"properties": {"y": {"$ref": "#/$defs/y"}}},
                         "y": {"type": "string"},
                         "unused": {"type": "integer"}}}


def test_a_kind_file_carries_the_closure_of_its_definitions_and_nothing_else(tmp_path):
    wheel = fake_wheel(tmp_path / "kubernetes_validate-0-py3-none-any.whl", {
        "v1.30.0-local": {"_definitions.json": DEFINITIONS,
                          "service-v1.json": {"$id": "https://kubernetes.io/x", **ref("x")},
                          "plain-v1.json": {"type": "object"}},
        "v1.30.0-local-strict": {"_definitions.json": DEFINITIONS,
                                 "service-v1.json": {"properties": {"a": ref("y")}}}})
    assert kubeschemas.extract(wheel, ["1.30.0"], tmp_path / "out") == 5
    out = tmp_path / "out/v1.30.0-standalone"
    assert json.loads((out / "service-v1.json").read_text()) == {
        "$ref": "#/$defs/x",
        "$defs": {"x": {"properties": {"y": {"$ref": "#/$defs/y"}}}, "y": {"type": "string"}}}
    assert json.loads((out / "plain-v1.json").read_text()) == {"type": "object"}
    assert json.loads((tmp_path / "out/v1.30.0-standalone-strict/service-v1.json").read_text()) == {
        "properties": {"a": {"$ref": "#/$defs/y"}}, "$defs": {"y": {"type": "string"}}}
    shared = json.loads((out / "_definitions.json").read_text())  # kept, for other tools
    assert "$id" not in shared and shared["$defs"] == DEFINITIONS["$defs"]


def test_schema_extraction_names_the_wheel_and_the_missing_version(tmp_path):
    wheel = fake_wheel(tmp_path / "kubernetes_validate-0-py3-none-any.whl", {
        "v1.30.0-local": {"_definitions.json": DEFINITIONS, "service-v1.json": ref("x")},
        "v1.30.0-local-strict": {"_definitions.json": DEFINITIONS, "service-v1.json": {}}})
    with pytest.raises(SystemExit, match=r"kubernetes_validate-0-py3-none-any.whl: no schemas "
                                         r"for v1.99.0-local"):
        kubeschemas.extract(wheel, ["1.99.0"], tmp_path / "out2")


@pytest.mark.parametrize("files, error", [
    ({"_definitions.json": DEFINITIONS, "service-v1.json": ref("nosuch")},
     r"v1.30.0-local/service-v1.json: \$ref to nosuch: not defined in _definitions.json"),
    ({"_definitions.json": DEFINITIONS, "service-v1.json": {"$ref": "https://example.org/s.json"}},
     r"v1.30.0-local/service-v1.json: \$ref 'https://example.org/s.json' is not a definition"),
    ({"_definitions.json": DEFINITIONS, "service-v1.json": {**ref("x"), "$defs": {}}},
     r"v1.30.0-local/service-v1.json: cannot add \$defs"),
    ({"service-v1.json": ref("x")}, r"v1.30.0-local: no _definitions.json"),
])
def test_a_schema_it_cannot_make_self_contained_is_named(tmp_path, files, error):
    wheel = fake_wheel(tmp_path / "kubernetes_validate-0-py3-none-any.whl",
                       {"v1.30.0-local": files, "v1.30.0-local-strict": {
                           "_definitions.json": DEFINITIONS}})
    with pytest.raises(SystemExit, match=r"kubernetes_validate-0-py3-none-any.whl: "
                                         r"kubernetes_validate/kubernetes-json-schema/" + error):
        kubeschemas.extract(wheel, ["1.30.0"], tmp_path / "out")


def test_the_output_is_the_same_bytes_whatever_the_hash_seed(tmp_path):
    """Sets iterate in a per-process order: two processes with different seeds write the
    same bytes (many definitions, so an unsorted closure would differ)."""
    many = {f"d{i}": {"type": "string"} for i in range(60)}
    definitions = {"$defs": {"root": {"anyOf": [{"$ref": f"#/$defs/{n}"} for n in many]}, **many}}
    wheel = fake_wheel(tmp_path / "kubernetes_validate-0-py3-none-any.whl", {
        "v1.30.0-local": {"_definitions.json": definitions, "pod-v1.json": ref("root")},
        "v1.30.0-local-strict": {"_definitions.json": definitions, "pod-v1.json": ref("root")}})
    written = []
    for seed in ("1", "2"):
        out = tmp_path / f"out{seed}"
        subprocess.run([sys.executable, "-m", "pipeline.kubeschemas", str(wheel), str(out), "1.30.0"],
                       check=True, capture_output=True, timeout=60,
                       env={**os.environ, "PYTHONHASHSEED": seed})
        written.append((out / "v1.30.0-standalone/pod-v1.json").read_bytes())
    assert written[0] == written[1]
    assert list(json.loads(written[0])["$defs"]) == sorted(["root", *many])


@pytest.mark.tools
def test_the_installed_schemas_are_self_contained_for_every_pinned_kubernetes_version():
    """What scripts/bootstrap installed is this generator's layout (else: rerun it)."""
    for version in toolchain.kube_versions():
        for suffix in ("", "-strict"):
            path = toolchain.native_schemas() / f"v{version}-standalone{suffix}/deployment-apps-v1.json"
            deployment = json.loads(path.read_text())
            assert keyword(deployment, "$id") == [], path
            assert "io.k8s.api.core.v1.PodSpec" in deployment.get("$defs", {}), path
            assert unresolved(deployment) == [], path


# --- the real wheel and the real kubeconform -------------------------------------------


def shared_layout(wheel: Path, out: Path) -> None:
    """The layout of before (the reference): kind files referring to the shared
    `_definitions.json`, `$id` dropped and refs file-local, as kubeschemas wrote it
    before its FORMAT 2."""
    def localise(node: object) -> object:
        if isinstance(node, dict):
            return {k: (v.replace("/api/_definitions.json#", "_definitions.json#")
                        if k == "$ref" and isinstance(v, str) else localise(v))
                    for k, v in node.items() if k != "$id"}
        if isinstance(node, list):
            return [localise(item) for item in node]
        return node

    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            folder, _, filename = name.removeprefix(kubeschemas.WHEEL_ROOT).partition("/")
            if name.startswith(kubeschemas.WHEEL_ROOT) and folder == SHARED_FOLDER and filename:
                dest = out / folder.replace("-local", "-standalone") / filename
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(json.dumps(localise(json.loads(archive.read(name)))))


@pytest.fixture(scope="module")
def layouts(tmp_path_factory) -> dict[str, Path]:
    """The newest pinned Kubernetes version: {"shared": root of its strict folder in the
    layout of before, made from the pinned wheel scripts/bootstrap keeps beside the
    schemas, "self-contained": the schemas it installed from that wheel (kubeschemas')}."""
    installed = toolchain.native_schemas()
    wheels = sorted((installed / kubeschemas.SOURCE).glob("*.whl"))
    assert len(wheels) == 1, f"{installed}: no kept wheel; rerun {toolchain.BOOTSTRAP}"
    pin = toolchain.pins()["tools"]["kubernetes-schemas"]
    assert wheels[0].name.startswith(f"{pin['pypi'].replace('-', '_')}-{pin['version']}-"), wheels
    where = tmp_path_factory.mktemp("kubeschemas")
    shared_layout(wheels[0], where / "shared")
    return {"shared": where / "shared", "self-contained": installed}


@pytest.mark.tools
def test_every_kind_file_resolves_its_refs_inside_itself_and_carries_only_what_it_needs(layouts):
    for folder in (layouts["self-contained"] / f"v{VERSION}-standalone{s}" for s in ("", "-strict")):
        files = sorted(folder.glob("*.json"))
        assert len(files) > 800
        for path in files:
            if path.name == kubeschemas.DEFINITIONS:
                continue
            schema = json.loads(path.read_text())
            assert unresolved(schema) == [] and keyword(schema, "$id") == [], path
            defs = schema.pop("$defs", {})
            needed, todo = set(), referenced(schema)
            while todo:
                name = todo.pop()
                if name not in needed:
                    needed.add(name)
                    todo |= referenced(defs.get(name))
            assert set(defs) == needed, path


def verdicts(root: Path, inputs: list[Path]) -> list[tuple[str, str, str, str]]:
    """(file, resource, status, message) of every resource, the schema root in messages
    replaced: kubeconform as the batch executor runs the plan's argv, over `root`."""
    check = Check(name="kubeconform", group="chart", tool="kubeconform",
                  argv=kubeconform_argv(VERSION), reads=(), batch="kubeconform")
    argv = [binary("kubeconform"), *(a.replace(SCHEMAS, str(root)) for a in check.argv[1:])]
    done = subprocess.run(batch.batch_argv(check, argv, inputs), cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GOGC": "400"})
    assert done.returncode in (0, 1), done.stderr
    return sorted((Path(r["filename"]).name, f"{r['kind']}/{r['name']}", r["status"],
                   causes(r["msg"].replace(str(root), "SCHEMAS")))
                  for r in json.loads(done.stdout)["resources"])


def causes(message: str) -> str:
    """kubeconform's message with its ` - at '<path>': <cause>` parts sorted: it lists the
    causes under one node in no fixed order (the same layout differs from run to run)."""
    head, *parts = re.split(r"\s+- at ", message)
    return " - at ".join([head, *sorted(part.strip() for part in parts)])


@pytest.mark.tools
def test_kubeconform_gives_the_same_verdicts_as_with_the_shared_definitions(layouts, rendered, tmp_path):
    """The plan's kubeconform (-strict; the non-strict folders are proven self-contained
    above) over a valid render and bad input: the same statuses and messages."""
    (tmp_path / "render.yaml").write_text(rendered("prod"))
    (tmp_path / "bad.yaml").write_text(BAD)
    inputs = [tmp_path / "render.yaml", tmp_path / "bad.yaml"]
    before = verdicts(layouts["shared"], inputs)
    after = verdicts(layouts["self-contained"], inputs)
    assert after == before
    render = [v for v in after if v[0] == "render.yaml"]
    assert len(render) > 50 and {v[2] for v in render} == {"statusValid"}, render
    bad = {v[1].split("/")[1]: v for v in after if v[0] == "bad.yaml"}
    assert set(bad) == set(BAD_VERDICTS)
    for name, message in BAD_VERDICTS.items():
        assert bad[name][2] == "statusInvalid" and message in bad[name][3], bad[name]


def test_a_new_schemas_layout_invalidates_the_cached_kubeconform_results(tmp_path, monkeypatch):
    """A result is reused only for the schemas it was proven with: the layout counts."""
    from pipeline.executors import cache

    kubeconform = Check(name="k", group="g", tool="kubeconform",
                        argv=kubeconform_argv(VERSION), reads=())
    other = Check(name="y", group="g", tool="yamllint", argv=("yamllint", "."), reads=())
    key = cache.ResultCache(tmp_path, tmp_path / "store").key
    before = key(kubeconform), key(other)
    monkeypatch.setattr(kubeschemas, "FORMAT", kubeschemas.FORMAT + 1)
    assert key(kubeconform) != before[0]
    assert key(other) == before[1]
