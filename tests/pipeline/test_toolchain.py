"""The native toolchain is exactly what toolchain.toml pins, and bootstrap is idempotent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pipeline import kubeschemas, toolchain
from tests.pipeline.test_kubeschemas import fake_wheel
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


def schemas_bootstrap(monkeypatch, home):
    """scripts/bootstrap as a module over the tools home `home`, its venv not made."""
    monkeypatch.setenv("DPP_TOOLS_HOME", str(home))
    bootstrap = load_bootstrap()
    monkeypatch.setattr(bootstrap, "ensure_venv", lambda: None)
    return bootstrap


def test_a_new_schemas_format_regenerates_the_installed_schemas(monkeypatch, tmp_path):
    """The kubernetes-schemas stamp holds kubeschemas.FORMAT: schemas written by the
    generator before it (the stamp of then) or in another format are regenerated."""
    bootstrap = schemas_bootstrap(monkeypatch, tmp_path)
    made = []
    monkeypatch.setattr(bootstrap, "kube_schemas", lambda name, pin, versions: made.append(name))
    pins = toolchain.pins()
    pin = pins["tools"]["kubernetes-schemas"]
    (tmp_path / "schemas").mkdir()
    (tmp_path / "stamps").mkdir()
    before = json.dumps([{k: v for k, v in pin.items() if k not in bootstrap.CONTAINER_ONLY},
                         pins["kubernetes"]["versions"]], sort_keys=True)
    (tmp_path / "stamps/kubernetes-schemas").write_text(before + "\n")
    bootstrap.install("kubernetes-schemas", pin, pins)
    assert made == ["kubernetes-schemas"]
    bootstrap.install("kubernetes-schemas", pin, pins)
    assert made == ["kubernetes-schemas"]  # present at this format
    monkeypatch.setattr(kubeschemas, "FORMAT", kubeschemas.FORMAT + 1)
    bootstrap.install("kubernetes-schemas", pin, pins)
    assert made == ["kubernetes-schemas"] * 2


@pytest.mark.parametrize("good", [True, False], ids=["written", "failed"])
def test_schemas_are_swapped_in_whole_or_left_as_they_were(monkeypatch, tmp_path, good):
    """The new schemas replace the old ones only once all are written; a failure leaves the
    old ones and their stamp (so the next run tries again), and no temporary directory."""
    home = tmp_path / "home"
    bootstrap = schemas_bootstrap(monkeypatch, home)
    version = "1.30.0" if good else "1.99.0"
    definitions = {"$defs": {"x": {"type": "string"}}}

    def pip_download(argv, **kwargs):
        fake_wheel(Path(argv[argv.index("-d") + 1]) / "kubernetes_validate-0-py3-none-any.whl",
                   {f"v1.30.0-local{s}": {"_definitions.json": definitions,
                                           "service-v1.json": {"$ref": "/api/_definitions.json#/$defs/x"}}
                    for s in ("", "-strict")})
    monkeypatch.setattr(bootstrap, "run", pip_download)
    (home / "schemas/v1.29.0-standalone").mkdir(parents=True)
    (home / "stamps").mkdir()
    (home / "stamps/kubernetes-schemas").write_text("old\n")
    pins = {"kubernetes": {"versions": [version]}}
    pin = {"native": "kube-schemas", "pypi": "kubernetes-validate", "version": "0"}
    if good:
        bootstrap.install("kubernetes-schemas", pin, pins)
        assert sorted(p.name for p in (home / "schemas").iterdir()) == [
            "v1.30.0-standalone", "v1.30.0-standalone-strict", kubeschemas.SOURCE]
        assert [p.name for p in (home / "schemas" / kubeschemas.SOURCE).iterdir()] == [
            "kubernetes_validate-0-py3-none-any.whl"]
        assert json.loads((home / "schemas/v1.30.0-standalone/service-v1.json").read_text())[
            "$defs"] == definitions["$defs"]
        assert f'"format": {kubeschemas.FORMAT}' in (home / "stamps/kubernetes-schemas").read_text()
    else:
        with pytest.raises(SystemExit, match="no schemas for v1.99.0-local"):
            bootstrap.install("kubernetes-schemas", pin, pins)
        assert [p.name for p in (home / "schemas").iterdir()] == ["v1.29.0-standalone"]
        assert (home / "stamps/kubernetes-schemas").read_text() == "old\n"
    assert sorted(p.name for p in home.iterdir()) == ["schemas", "stamps"]
