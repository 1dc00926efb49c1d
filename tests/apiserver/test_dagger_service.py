"""The Dagger path of the apiserver checks, offline over the recording stand-in: etcd and
kube-apiserver run once per lint as services from their pinned images, with the argv of
the native executor, and every check that needs them is bound to them."""

from __future__ import annotations

import re

import anyio
import dagger
import pytest

from pipeline import plan, toolchain
from pipeline.executors import dagger_services
from pipeline.kubeapi import server
from pipeline.main import Pipeline
from tests.support.repo import REPO
from tests.dagger_recorder import Call, Recorder, chain_of

APISERVER_CHECKS = [c for c in plan.build(plan.Tree.from_path(REPO)) if c.group == "apiserver"]


def repo_listing() -> list[str]:
    return sorted(plan.Tree.from_path(REPO).files)


def recorder_with(monkeypatch, start=None) -> Recorder:
    return Recorder(answers={"glob": lambda call: repo_listing(), "exitCode": 0,
                             "combinedOutput": "ok", "stdout": "", "start": start}
                    ).install(monkeypatch)


def lint(*only: str) -> str:
    return anyio.run(lambda: Pipeline().lint(source=dagger.dag.directory(), only=list(only)))


def service_args(call: Call) -> list[str]:
    return call.arg("asService", "args")


def secret_mounts(call: Call) -> set[str]:
    """Mount paths whose source is a Dagger secret made by set_secret."""
    return {path for path, source in call.mounts.items()
            if chain_of(source)[-1].name == "setSecret"}


def test_etcd_and_kube_apiserver_start_once_from_pinned_images_with_the_native_argv(monkeypatch):
    recorder = recorder_with(monkeypatch)
    lint("apiserver")
    started, stopped = recorder.leaves("start"), recorder.leaves("stop")
    assert [c.image for c in started] == [toolchain.tool("etcd").image_ref,
                                          toolchain.tool("kube-apiserver").image_ref]
    assert [c.image for c in stopped] == [toolchain.tool("kube-apiserver").image_ref,
                                          toolchain.tool("etcd").image_ref]
    etcd, apiserver = started
    assert service_args(etcd) == [toolchain.tool("etcd").image_binary, *server.etcd_argv(
        "/var/lib/etcd", "0.0.0.0", dagger_services.ETCD_PORT, dagger_services.ETCD_PEER_PORT)[1:]]
    assert service_args(apiserver) == [toolchain.tool("kube-apiserver").image_binary,
                                       *server.apiserver_argv(
                                           dagger_services.CREDENTIALS, "http://etcd:2379",
                                           "0.0.0.0", dagger_services.APISERVER_PORT)[1:]]
    assert apiserver.arg("withServiceBinding", "alias") == "etcd"
    credentials = {f"{dagger_services.CREDENTIALS}/{name}"
                   for name in (server.CERT, server.KEY, server.SA_KEY, server.TOKENS)}
    assert secret_mounts(apiserver) == credentials  # never a directory or a layer


def test_every_apiserver_check_is_bound_to_the_service_with_helm_and_no_kubectl(monkeypatch):
    recorder = recorder_with(monkeypatch)
    lint("apiserver")
    started_apiserver = service_args(recorder.leaves("start")[1])
    runs = [c for c in recorder.leaves("exitCode") if c.execs and c.execs[-1][:3] ==
            ["python", "-m", "pipeline.checks.apiserver.dryrun"]]
    assert len(runs) == len(APISERVER_CHECKS)
    for call in runs:
        binding = [f for f in call.chain if f.name == "withServiceBinding"][-1]
        assert binding.args["alias"] == dagger_services.APISERVER_ALIAS
        assert chain_of(binding.args["service"])[-1].args["args"] == started_apiserver
        assert secret_mounts(call) == {f"{dagger_services.CREDENTIALS}/{server.CERT}",
                                       f"{dagger_services.CREDENTIALS}/{server.KUBECONFIG}"}
        assert f"{dagger_services.CREDENTIALS}/{server.KUBECONFIG}" in call.execs[-1]
        copied = {f.args["path"]: chain_of(f.args["source"]) for f in call.fields("withFile")}
        pin = toolchain.tool("helm")
        source = copied[f"/usr/local/bin/{pin.binary}"]
        assert source[-2].args["address"] == pin.image_ref
        assert source[-1].args["path"] == pin.image_binary
        # The check speaks HTTPS itself (pipeline.kubeapi.client): no kubectl image pulled.
        assert f"/usr/local/bin/{toolchain.tool('kubectl').binary}" not in copied


def test_no_service_when_no_selected_check_needs_it(monkeypatch):
    recorder = recorder_with(monkeypatch)
    lint("workflows")
    assert recorder.leaves("start") == [] and recorder.leaves("stop") == []
    assert not any(f.name == "asService" for c in recorder.calls for f in c.chain)


def test_a_service_that_cannot_start_fails_only_its_checks_and_is_still_stopped(monkeypatch):
    def start(call: Call):
        if call.image == toolchain.tool("kube-apiserver").image_ref:
            raise dagger.TransportError("pull access denied for registry.k8s.io/kube-apiserver")

    recorder = recorder_with(monkeypatch, start=start)
    with pytest.raises(Exception) as raised:
        lint("apiserver", "workflows/yamllint")
    report = str(raised.value)
    assert "service kube-apiserver did not start: pull access denied" in report
    assert re.search(rf"lint: {len(APISERVER_CHECKS)} of {len(APISERVER_CHECKS) + 1} checks failed "
                     r"\(1 distinct error\), 1 passed", report), report
    assert [c.image for c in recorder.leaves("stop")] == [toolchain.tool("etcd").image_ref]
