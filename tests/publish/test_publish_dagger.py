"""The Dagger path of publish, offline over the recording connection."""

from __future__ import annotations

import anyio
import dagger
import pytest

from pipeline import toolchain
from pipeline.main import Pipeline
from pipeline.publish import REGISTRY_CONFIG, PublishError
from pipeline.publish.containers import NONCE
from tests.dagger_recorder import Recorder, all_fields, chain_of
from tests.pipeline.test_dagger_lint import repo_listing

PASSWORD = "ghp_TopSecretToken123"
DIGEST = "sha256:" + "ab" * 32


def helm_answers(call):
    argv = call.execs[-1] if call.execs else []
    if argv[:3] == ["helm", "show", "chart"]:
        return "Error: failed to perform FetchReference: dpp-platform:1.4.0: not found"
    if argv[:2] == ["helm", "push"]:
        return f"Pushed: ghcr.io/acme/charts/dpp-platform:1.4.0\nDigest: {DIGEST}\n"
    return "ok"


def exit_codes(call):
    argv = call.execs[-1] if call.execs else []
    return 1 if argv[:3] == ["helm", "show", "chart"] else 0


@pytest.fixture
def recorder(monkeypatch) -> Recorder:
    return Recorder(answers={"glob": lambda c: repo_listing(), "exitCode": exit_codes,
                             "combinedOutput": helm_answers, "stdout": "rendered",
                             "plaintext": PASSWORD}).install(monkeypatch)


def call_publish(tag="v1.4.0"):
    secret = dagger.dag.set_secret("token", "placeholder")
    return anyio.run(lambda: Pipeline().publish(
        tag=tag, registry_password=secret, source=dagger.dag.directory(),
        repository="acme/charts"))


def registry_steps(recorder):
    return [c for c in recorder.leaves("exitCode")
            if c.execs and c.execs[-1][:2] in (["helm", "show"], ["helm", "push"])]


def test_publish_returns_the_pushed_reference(recorder):
    assert call_publish().strip() == f"oci://ghcr.io/acme/charts/dpp-platform:1.4.0@{DIGEST}"


def test_credentials_are_a_mounted_secret_never_argv_or_env(recorder):
    call_publish()
    steps = registry_steps(recorder)
    assert [s.execs[-1][1] for s in steps] == ["show", "show", "push"]  # before lint, at push
    for step in steps:
        assert step.image == toolchain.tool("helm").image_ref
        secret = step.mounts[REGISTRY_CONFIG]
        assert chain_of(secret)[-1].name == "setSecret"
        for field in step.chain:
            assert PASSWORD not in repr(field.args), field.name
        assert all(isinstance(v, str) and PASSWORD not in v
                   for k, v in step.env().items() if k != NONCE)
        assert "--registry-config" in step.execs[-1]


def test_the_credentials_appear_in_no_chain_but_the_secret_itself(recorder):
    import base64

    call_publish()
    auth = base64.b64encode(f"dpp-release:{PASSWORD}".encode()).decode()
    for call in recorder.calls:
        for field in all_fields(call.chain):
            if field.name == "setSecret":
                continue
            text = repr(field.args)
            assert PASSWORD not in text and auth not in text, (call.leaf, field.name)


def test_a_lint_failure_stops_before_any_helm_step(monkeypatch):
    def exit_code(call):
        return 1 if call.execs and call.execs[-1][0] in ("yamllint", "helm") else 0

    def output(call):
        return helm_answers(call) if call.execs and call.execs[-1][0] == "helm" \
            else "broken.yaml:1:1 [error] syntax error"

    recorder = Recorder(answers={"glob": lambda c: repo_listing(), "exitCode": exit_code,
                                 "combinedOutput": output, "contents": "",
                                 "stdout": "", "plaintext": PASSWORD}).install(monkeypatch)
    with pytest.raises(PublishError) as raised:
        call_publish()
    assert "lint failed: nothing was packaged or pushed" in str(raised.value)
    assert "workflows/yamllint" in str(raised.value)
    assert not [c for c in recorder.calls if any(e[:2] in (["helm", "package"], ["helm", "push"])
                                                 for e in c.execs)]


def test_a_packaging_failure_is_a_clear_error(monkeypatch):
    def exit_code(call):
        return 1 if call.execs and call.execs[-1][:2] in (["helm", "package"], ["helm", "show"]) \
            else 0

    def output(call):
        if call.execs and call.execs[-1][:2] == ["helm", "show"]:
            return helm_answers(call)
        return "Error: validation: chart.metadata.name is required"

    Recorder(answers={"glob": lambda c: repo_listing(), "exitCode": exit_code,
                      "combinedOutput": output,
                      "stdout": "", "plaintext": PASSWORD}).install(monkeypatch)
    with pytest.raises(PublishError, match="helm package .*chart.metadata.name is required"):
        call_publish()


def test_the_registry_config_secret_holds_the_credentials(recorder):
    call_publish()
    secret = registry_steps(recorder)[0].mounts[REGISTRY_CONFIG]
    plaintext = chain_of(secret)[-1].args["plaintext"]
    import base64
    import json
    auth = json.loads(plaintext)["auths"]["ghcr.io"]["auth"]
    assert base64.b64decode(auth).decode() == f"dpp-release:{PASSWORD}"


def test_every_registry_step_busts_the_cache(recorder):
    call_publish()
    nonces = [s.env()[NONCE] for s in registry_steps(recorder)]
    assert len(nonces) == len(set(nonces)) == 3  # show before lint, show and push after


def test_the_function_is_never_cached():
    assert Pipeline.__dagger_object_type__.functions["publish"].cache_policy == "never"


def test_an_invalid_tag_fails_before_any_container(recorder):
    with pytest.raises(PublishError, match="not a SemVer 2 version"):
        call_publish(tag="v1.4")
    assert recorder.leaves("exitCode") == []


def test_an_existing_version_is_refused_without_pushing(monkeypatch):
    recorder = Recorder(answers={"glob": lambda c: repo_listing(), "exitCode": 0,
                      "combinedOutput": "apiVersion: v2\nversion: 1.4.0", "stdout": "",
                      "plaintext": PASSWORD}).install(monkeypatch)
    with pytest.raises(PublishError, match="already exists"):
        call_publish()
    assert [s.execs[-1][1] for s in registry_steps(recorder)] == ["show"]


def test_an_existing_version_is_refused_before_the_lint_starts(monkeypatch):
    recorder = Recorder(answers={"glob": lambda c: repo_listing(), "exitCode": 0,
                                 "combinedOutput": "apiVersion: v2\nname: dpp-platform",
                                 "stdout": "", "plaintext": PASSWORD}).install(monkeypatch)
    with pytest.raises(PublishError, match="already exists in ghcr.io"):
        call_publish()
    ran = [c.execs[-1][0] for c in recorder.leaves("exitCode") if c.execs]
    assert ran == ["helm"], ran  # the one `helm show chart`: no lint check, no package
    assert not recorder.leaves("glob"), "the lint read the source tree"
