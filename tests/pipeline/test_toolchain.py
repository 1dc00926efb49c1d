"""The native toolchain is exactly what toolchain.toml pins, and bootstrap is idempotent."""

from __future__ import annotations

import json
import subprocess
import zipfile

import pytest

from pipeline import kubeschemas, toolchain
from tests.support.repo import REPO

pytestmark = pytest.mark.tools

# How each binary reports its version, and how that report shows the pin.
VERSION_COMMANDS = {
    "helm": (["version", "--short"], "v{v}"),
    "kubeconform": (["-v"], "v{v}"),
    "promtool": (["--version"], "version {v} "),
    "prometheus": (["--version"], "version {v} "),
    "amtool": (["--version"], "version {v} "),
    "alertmanager": (["--version"], "version {v} "),
    "pint": (["version"], "{v}"),
    "actionlint": (["-version"], "v{v}"),
    "yamllint": (["--version"], "yamllint {v}"),
    "registry": (["--version"], "v{v}"),
    "cosign": (["version"], "v{v}"),
    "shellcheck": (["--version"], "version: {upstream}"),
    "kube-apiserver": (["--version"], "Kubernetes v{v}"),
    "kubectl": (["version", "--client"], "Client Version: v{v}"),
    "etcd": (["--version"], "etcd Version: {v}\n"),
    "query-exporter": (["--version"], "query-exporter, version {v}"),
    "compose": (["version"], "Docker Compose version v{v}"),
}


@pytest.mark.parametrize("name", sorted(VERSION_COMMANDS))
def test_native_binary_reports_the_pinned_version(name):
    pin = toolchain.tool(name)
    args, expected = VERSION_COMMANDS[name]
    done = subprocess.run([str(toolchain.native_bin() / pin.binary), *args],
                          capture_output=True, text=True, timeout=30)
    report = done.stdout + done.stderr
    assert expected.format(v=pin.version, upstream=pin.version.split("-")[0]) in report, report


def test_bootstrap_skips_what_is_installed():
    done = subprocess.run([str(REPO / "scripts" / "bootstrap"), "yamllint", "kubeconform"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "yamllint 1.38.0: present" in done.stdout
    assert "kubeconform 0.7.0: present" in done.stdout
    assert "installing" not in done.stdout


def test_bootstrap_rejects_an_unknown_tool():
    done = subprocess.run([str(REPO / "scripts" / "bootstrap"), "kubectll"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "unknown tool(s) kubectll" in done.stderr


def test_schemas_exist_for_every_pinned_kubernetes_version():
    for version in toolchain.kube_versions():
        strict = toolchain.native_schemas() / f"v{version}-standalone-strict"
        deployment = json.loads((strict / "deployment-apps-v1.json").read_text())
        assert "$id" not in deployment
        refs = json.dumps(deployment)
        assert "/api/_definitions.json" not in refs and "_definitions.json#" in refs


def test_schema_extraction_names_the_wheel_and_the_missing_version(tmp_path):
    wheel = tmp_path / "kubernetes_validate-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(kubeschemas.WHEEL_ROOT + "v1.30.0-local/service-v1.json",
                         json.dumps({"$id": "https://kubernetes.io/x",
                                     "$ref": "/api/_definitions.json#/$defs/x"}))
        archive.writestr(kubeschemas.WHEEL_ROOT + "v1.30.0-local-strict/service-v1.json", "{}")
    assert kubeschemas.extract(wheel, ["1.30.0"], tmp_path / "out") == 2
    written = json.loads((tmp_path / "out/v1.30.0-standalone/service-v1.json").read_text())
    assert written == {"$ref": "_definitions.json#/$defs/x"}
    with pytest.raises(SystemExit, match=r"kubernetes_validate-0-py3-none-any.whl: no schemas "
                                         r"for v1.99.0-local"):
        kubeschemas.extract(wheel, ["1.99.0"], tmp_path / "out2")


def test_bootstrap_names_a_missing_prerequisite_in_one_line(tmp_path):
    import shutil
    import sys

    if shutil.which("go", path="/usr/bin:/bin"):
        pytest.skip("go is installed in /usr/bin: cannot hide it")
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "bootstrap"), "kubeconform"],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                               "DPP_TOOLS_HOME": str(tmp_path / "tools")})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "kubeconform 0.7.0: needs `go` on PATH" in done.stderr


def test_the_kube_wrapper_module_builds_what_toolchain_pins():
    """tools/go/kube/go.mod: k8s.io/kubernetes at the pinned version, each of its staging
    modules replaced by the published one of the same release, etcd at its pin; the server's
    minor is the newest Kubernetes version every render is validated against."""
    import re

    go_mod = (REPO / "tools/go/kube/go.mod").read_text()
    apiserver, kubectl, etcd = (toolchain.pins()["tools"][n] for n in ("kube-apiserver", "kubectl", "etcd"))
    assert apiserver["version"] == kubectl["version"]
    assert {apiserver["wrapper"], kubectl["wrapper"], etcd["wrapper"]} == {"tools/go/kube"}
    assert re.search(rf"^\s*k8s.io/kubernetes v{re.escape(apiserver['version'])}$", go_mod, re.M)
    assert re.search(rf"^\s*go.etcd.io/etcd/server/v3 v{re.escape(etcd['version'])}$", go_mod, re.M)
    staging = "v0." + apiserver["version"].split(".", 1)[1]
    replaces = re.findall(r"^\s*(k8s.io/\S+) => (k8s.io/\S+) (\S+)$", go_mod, re.M)
    assert len(replaces) >= 30 and all(a == b and v == staging for a, b, v in replaces), replaces
    for pin in (apiserver, kubectl):
        assert f"-X k8s.io/component-base/version.gitVersion=v{pin['version']}" in pin["ldflags"]
    newest = toolchain.kube_versions()[-1]
    assert apiserver["version"].split(".")[:2] == newest.split(".")[:2]


def load_bootstrap():
    """scripts/bootstrap as a module (it has no .py suffix)."""
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("bootstrap", str(REPO / "scripts" / "bootstrap"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("bootstrap", loader))
    loader.exec_module(module)
    return module


def test_compose_wrapper_module_pins_the_release():
    """tools/go/compose: the wrapper `go install` cannot replace (compose's go.mod excludes)."""
    pin = toolchain.pins()["tools"]["compose"]
    module = REPO / pin["wrapper"]
    go_mod = (module / "go.mod").read_text()
    assert f"require github.com/docker/compose/v2 v{pin['version']}\n" in go_mod
    for excluded in ("github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc",
                     "github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2"):
        assert excluded in go_mod.split("exclude (", 1)[1]
    assert f"github.com/docker/compose/v2 v{pin['version']} h1:" in (module / "go.sum").read_text()
    tools_go = (module / "tools.go").read_text()
    assert tools_go.startswith("//go:build tools\n") and f'import _ "{pin["package"]}"' in tools_go
    assert pin["ldflags"] == [f"-X github.com/docker/compose/v2/internal.Version=v{pin['version']}"]


def test_go_wrapper_builds_in_the_wrapper_module_and_restamps_on_change(monkeypatch, tmp_path):
    bootstrap = load_bootstrap()
    ran = []
    monkeypatch.setattr(bootstrap, "run", lambda argv, **kw: ran.append(argv))
    pin = {"wrapper": "tools/go/compose", "package": "example.org/x/cmd", "binary": "x",
           "ldflags": ["-X main.version=v1"]}
    bootstrap.go_wrapper("x", pin)
    assert ran == [["go", "build", "-C", str(REPO / "tools/go/compose"), "-trimpath",
                    "-ldflags=-X main.version=v1", "-o", str(bootstrap.BIN / "x"), "example.org/x/cmd"]]
    monkeypatch.setattr(bootstrap, "REPO", tmp_path)
    (tmp_path / "w").mkdir()
    (tmp_path / "w/go.mod").write_text("module w\n")
    (tmp_path / "w/go.sum").write_text("")
    before = bootstrap.wrapper_digest({"wrapper": "w"})
    (tmp_path / "w/go.sum").write_text("example.org/x v1.0.0 h1:abc=\n")
    assert bootstrap.wrapper_digest({"wrapper": "w"}) != before
