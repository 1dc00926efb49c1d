"""The Dagger path of publish, offline over the recording connection."""

from __future__ import annotations

import json

import anyio
import yaml
import dagger
import pytest

from pipeline import layout, toolchain
from pipeline.main import Pipeline
from pipeline.executors.dagger import WORKDIR
from pipeline.publish import REGISTRY_CONFIG, PublishError
from pipeline.publish.containers import (COSIGN_KEY, COSIGN_PUBLIC_KEY, COSIGN_USER, NONCE,
                                         REPACK_SCRIPT)
from tests.support.repo import REPO
from tests.dagger_recorder import Recorder, all_fields, chain_of

PASSWORD = "ghp_TopSecretToken123"
DIGEST = "sha256:" + "ab" * 32
REVISION = "0123456789abcdef0123456789abcdef01234567"
ORIGIN = {"source_url": "https://github.com/acme/dpp-platform", "revision": REVISION,
          "created": "2026-11-26T06:45:39+01:00"}
IDENTITY = ("https://github.com/acme/dpp-platform/.github/workflows/deploy.yml"
            "@refs/tags/v1.4.0")
CHART_YAML = (REPO / layout.CHART_YAML).read_text()
# The source the stand-in lists: publish runs the real Dagger lint first, here over a plan of
# two checks (workflows/actionlint, workflows/yamllint) instead of the whole repository's.
# What publish itself reads (Chart.yaml) the stand-in answers with this checkout's file.
LISTING = [".yamllint.yaml", ".github/workflows/deploy.yml"]
# What `cosign verify` prints on stdout for a verified signature (one JSON line).
VERIFIED = json.dumps([{"critical": {"identity": {"docker-reference": "ghcr.io/acme/charts/"
                                                  "dpp-platform"},
                                     "image": {"docker-manifest-digest": DIGEST},
                                     "type": "cosign container image signature"},
                        "optional": None}])


def helm_answers(call):
    argv = call.execs[-1] if call.execs else []
    if argv[:3] == ["helm", "show", "chart"]:
        return "Error: failed to perform FetchReference: dpp-platform:1.4.0: not found"
    if argv[:2] == ["helm", "push"]:
        return f"Pushed: ghcr.io/acme/charts/dpp-platform:1.4.0\nDigest: {DIGEST}\n"
    if argv[:2] == ["cosign", "verify"]:
        return "Verification for ghcr.io/acme/charts/dpp-platform@... --\n" + VERIFIED + "\n"
    return "ok"


def exit_codes(call):
    argv = call.execs[-1] if call.execs else []
    return 1 if argv[:3] == ["helm", "show", "chart"] else 0


@pytest.fixture
def recorder(monkeypatch) -> Recorder:
    return Recorder(answers={"glob": lambda c: list(LISTING), "exitCode": exit_codes,
                             "combinedOutput": helm_answers, "stdout": "rendered",
                             "contents": CHART_YAML, "plaintext": PASSWORD}).install(monkeypatch)


def key_pair() -> dict:
    return {"signing_key": dagger.dag.set_secret("cosign-key", "placeholder"),
            "signing_password": dagger.dag.set_secret("cosign-password", "placeholder"),
            "verify_key": dagger.dag.directory().file("cosign.pub")}


def keyless() -> dict:
    return {"certificate_identity": IDENTITY,
            "oidc_request_url": dagger.dag.set_secret("oidc-url", "placeholder"),
            "oidc_request_token": dagger.dag.set_secret("oidc-token", "placeholder")}


def call_publish(tag="v1.4.0", signing=None, origin=None):
    secret = dagger.dag.set_secret("token", "placeholder")
    return anyio.run(lambda: Pipeline().publish(
        tag=tag, registry_password=secret, source=dagger.dag.directory(),
        repository="acme/charts", **(ORIGIN if origin is None else origin),
        **(key_pair() if signing is None else signing)))


def registry_steps(recorder):
    return [c for c in recorder.leaves("exitCode")
            if c.execs and c.execs[-1][:2] in (["helm", "show"], ["helm", "push"])]


def test_publish_returns_the_pushed_reference_and_says_it_is_signed(recorder):
    assert call_publish().strip() == (
        f"oci://ghcr.io/acme/charts/dpp-platform:1.4.0@{DIGEST} signed and verified "
        f"(cosign, key pair, no transparency log); "
        f"signature ghcr.io/acme/charts/dpp-platform:sha256-{'ab' * 32}.sig")


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
    assert recorder.calls
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

    recorder = Recorder(answers={"glob": lambda c: list(LISTING), "exitCode": exit_code,
                                 "combinedOutput": output, "contents": CHART_YAML,
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

    Recorder(answers={"glob": lambda c: list(LISTING), "exitCode": exit_code,
                      "combinedOutput": output,
                      "stdout": "", "contents": CHART_YAML, "plaintext": PASSWORD}).install(monkeypatch)
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
    recorder = Recorder(answers={"glob": lambda c: list(LISTING), "exitCode": 0,
                      "combinedOutput": "apiVersion: v2\nversion: 1.4.0", "stdout": "",
                      "contents": CHART_YAML, "plaintext": PASSWORD}).install(monkeypatch)
    with pytest.raises(PublishError, match="already exists"):
        call_publish()
    assert [s.execs[-1][1] for s in registry_steps(recorder)] == ["show"]


def cosign_steps(recorder):
    return [c for c in recorder.leaves("exitCode") if c.execs and c.execs[-1][0] == "cosign"]


def mount_owner(call, path):
    return next(f.args.get("owner") for f in call.chain
                if f.name in ("withMountedSecret", "withMountedFile") and f.args["path"] == path)


def test_the_pushed_digest_is_signed_then_verified_in_the_cosign_image(recorder):
    call_publish()
    steps = cosign_steps(recorder)
    assert [s.execs[-1][:2] for s in steps] == [["cosign", "sign"], ["cosign", "verify"]]
    signed = f"ghcr.io/acme/charts/dpp-platform@{DIGEST}"
    sign, verify = (s.execs[-1] for s in steps)
    assert sign == ["cosign", "sign", "--yes", "--key", COSIGN_KEY, "--tlog-upload=false", signed]
    assert verify == ["cosign", "verify", "--key", COSIGN_PUBLIC_KEY,
                      "--insecure-ignore-tlog=true", signed]
    for step in steps:
        assert step.image == toolchain.tool("cosign").image_ref
        assert chain_of(step.mounts[COSIGN_KEY])[-1].name == "setSecret"
        assert step.mounts["/run/secrets/docker/config.json"] is not None
        assert step.env()["DOCKER_CONFIG"] == "/run/secrets/docker"
        assert chain_of(step.env()["COSIGN_PASSWORD"])[-1].name == "setSecret"
        # cosign's image runs as 65532: the secrets must be readable by it.
        assert mount_owner(step, COSIGN_KEY) == COSIGN_USER
        assert mount_owner(step, "/run/secrets/docker/config.json") == COSIGN_USER
    order = [c.execs[-1][:2] for c in recorder.leaves("exitCode") if c.execs]
    assert order.index(["helm", "push"]) < order.index(["cosign", "sign"])


def test_keyless_signing_takes_the_oidc_request_as_secrets_and_verifies_the_identity(recorder):
    line = call_publish(signing=keyless())
    sign, verify = (s.execs[-1] for s in cosign_steps(recorder))
    assert "--key" not in sign and "--tlog-upload=false" not in sign
    assert verify[verify.index("--certificate-identity") + 1] == IDENTITY
    assert verify[verify.index("--certificate-oidc-issuer") + 1] == \
        "https://token.actions.githubusercontent.com"
    for step in cosign_steps(recorder):
        env = step.env()
        for name in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
            assert chain_of(env[name])[-1].name == "setSecret", name
        assert COSIGN_KEY not in step.mounts
    assert f"keyless, certificate identity {IDENTITY}" in line


@pytest.mark.parametrize("failing", ["sign", "verify"])
def test_a_signing_or_verification_failure_is_never_reported_as_published(monkeypatch, failing):
    def exit_code(call):
        argv = call.execs[-1] if call.execs else []
        return 1 if argv[:3] == ["helm", "show", "chart"] or argv[:2] == ["cosign", failing] \
            else 0

    def output(call):
        argv = call.execs[-1] if call.execs else []
        if argv[:2] == ["cosign", failing]:
            return "Error: no matching signatures: invalid signature when validating ASN.1"
        return helm_answers(call)

    Recorder(answers={"glob": lambda c: list(LISTING), "exitCode": exit_code,
                      "combinedOutput": output, "stdout": "", "contents": CHART_YAML,
                      "contents": CHART_YAML, "plaintext": PASSWORD}).install(monkeypatch)
    with pytest.raises(PublishError) as raised:
        call_publish()
    message = str(raised.value)
    assert f"cosign {failing} ghcr.io/acme/charts/dpp-platform@{DIGEST}" in message
    assert "no matching signatures" in message
    assert f"pushed oci://ghcr.io/acme/charts/dpp-platform:1.4.0@{DIGEST}, but it is NOT " \
           f"signed and verified" in message


def test_a_verification_that_names_another_digest_fails(monkeypatch):
    def output(call):
        argv = call.execs[-1] if call.execs else []
        if argv[:2] == ["cosign", "verify"]:
            return VERIFIED.replace(DIGEST, "sha256:" + "cd" * 32)
        return helm_answers(call)

    Recorder(answers={"glob": lambda c: list(LISTING), "exitCode": exit_codes,
                      "combinedOutput": output, "stdout": "", "contents": CHART_YAML,
                      "contents": CHART_YAML, "plaintext": PASSWORD}).install(monkeypatch)
    with pytest.raises(PublishError, match=f"no verified signature names {DIGEST}"):
        call_publish()


def test_the_packaged_chart_carries_the_provenance_annotations(recorder):
    call_publish()
    package = next(c for c in recorder.leaves("exitCode")
                   if c.execs and c.execs[-1][:2] == ["helm", "package"])
    chart = package.mounts[f"{WORKDIR}/{layout.CHART}"]
    written = next(f for f in chain_of(chart) if f.name == "withNewFile")
    assert written.args["path"] == "Chart.yaml"
    annotations = yaml.safe_load(written.args["contents"])["annotations"]
    assert annotations["org.opencontainers.image.source"] == ORIGIN["source_url"]
    assert annotations["org.opencontainers.image.revision"] == REVISION
    assert annotations["org.opencontainers.image.created"] == "2026-11-26T05:45:39Z"
    assert annotations["dpp-platform.io/rules-source"] == "infra/monitoring/alertmanager/rules"


@pytest.mark.parametrize("signing,message", [
    ({}, "publish signs every release"),
    ({"signing_key": "key"}, "--signing-key needs --verify-key"),
    ({"certificate_identity": IDENTITY}, "keyless signing needs --oidc-request-url"),
    ({"certificate_identity": "https://github.com/acme/x", "oidc_request_url": "u",
      "oidc_request_token": "t"}, "is not a workflow identity"),
])
def test_publish_refuses_to_run_without_a_complete_way_to_sign(recorder, signing, message):
    signing = {k: dagger.dag.set_secret(k, "x") if v in ("key", "u", "t") else v
               for k, v in signing.items()}
    with pytest.raises(PublishError, match=message):
        call_publish(signing=signing)
    assert recorder.leaves("exitCode") == []


@pytest.mark.parametrize("origin,message", [
    ({}, "--source-url, --revision, --created not given; the Dagger source carries no .git"),
    ({**ORIGIN, "revision": "abc123"}, "--revision 'abc123': expected a full commit id"),
    ({**ORIGIN, "created": "2026-11-26 06:45"}, "--created '2026-11-26 06:45': expected"),
    ({**ORIGIN, "source_url": "git@github.com:acme/x"}, "expected the repository's https URL"),
])
def test_missing_or_malformed_provenance_fails_before_any_container(recorder, origin, message):
    with pytest.raises(PublishError, match=message):
        call_publish(origin=origin)
    assert recorder.leaves("exitCode") == []


def test_the_pushed_package_is_the_reproducible_repack_stamped_with_the_commit_time(recorder):
    call_publish()
    push = next(c for c in recorder.leaves("exitCode")
                if c.execs and c.execs[-1][:2] == ["helm", "push"])
    package = push.execs[-1][2]
    replaced = [f for f in push.chain if f.name in ("withFile", "withMountedFile")
                and f.args["path"] == package]
    assert replaced, "push must use the repacked archive"
    repack = chain_of(replaced[-1].args["source"])
    assert next(f for f in repack if f.name == "from").args["address"] == \
        toolchain.tool("python").image_ref
    argv = [f.args["args"] for f in repack if f.name == "withExec"][-1]
    # 2026-11-26T05:45:39Z, the commit's time, as seconds since the epoch
    assert argv == ["python", REPACK_SCRIPT, "/in/chart.tgz", "/tmp/chart.tgz", "1795671939"]
    # The module's own script, never the published tree's copy (it may have none).
    script = next(f for f in repack if f.name == "withMountedFile"
                  and f.args["path"] == REPACK_SCRIPT).args["source"]
    assert [f.name for f in chain_of(script)][:2] == ["currentModule", "source"]
    assert chain_of(script)[-1].args == {"path": "publish/reproducible.py"}


def test_an_existing_version_is_refused_before_the_lint_starts(monkeypatch):
    recorder = Recorder(answers={"glob": lambda c: list(LISTING), "exitCode": 0,
                                 "combinedOutput": "apiVersion: v2\nname: dpp-platform",
                                 "stdout": "", "contents": CHART_YAML, "plaintext": PASSWORD}).install(monkeypatch)
    with pytest.raises(PublishError, match="already exists in ghcr.io"):
        call_publish()
    ran = [c.execs[-1][0] for c in recorder.leaves("exitCode") if c.execs]
    assert ran == ["helm"], ran  # the one `helm show chart`: no lint check, no package
    assert not recorder.leaves("glob"), "the lint read the source tree"


def test_the_registry_steps_push_the_package_step_of_dagger_call_package(recorder):
    """publish pushes the .tgz made by the packaging step `dagger call package` runs (of its
    provenance-stamped chart), mounted alone: no chart source in a registry step."""
    call_publish()
    package = chain_of(anyio.run(lambda: Pipeline().package(source=dagger.dag.directory(),
                                                             tag="v1.4.0")))
    packaging = [f.args["args"] for f in package if f.name == "withExec"][-1]
    assert packaging[:2] == ["helm", "package"]
    pushes = [s for s in registry_steps(recorder) if s.execs[-1][:2] == ["helm", "push"]]
    assert pushes
    for step in pushes:
        tgz = [path for path in step.mounts if path.endswith(".tgz")]
        assert len(tgz) == 1 and tgz[0] in step.execs[-1]
        made = [f.args["args"] for f in all_fields(chain_of(step.mounts[tgz[0]]))
                if f.name == "withExec"]
        assert packaging in made
        assert not [p for p in step.mounts if p.startswith(WORKDIR)], "chart source mounted"


def test_publish_returns_the_reference_once_and_prints_nothing(recorder, capsys):
    line = call_publish()
    assert line.startswith(f"oci://ghcr.io/acme/charts/dpp-platform:1.4.0@{DIGEST} signed")
    assert line.count("oci://") == 1 and not line.endswith("\n")
    assert capsys.readouterr().out == ""


def test_plain_http_reaches_every_registry_step_and_binds_the_registry_service(recorder):
    service = dagger.dag.host().service([dagger.PortForward(backend=5000, frontend=5000)])
    reference = anyio.run(lambda: Pipeline().publish(
        tag="v1.4.0", registry_password=dagger.dag.set_secret("token", "x"),
        source=dagger.dag.directory(), registry="registry:5000", repository="acme/charts",
        plain_http=True, registry_service=service, **ORIGIN, **key_pair()))
    assert reference.startswith("oci://registry:5000/acme/charts/dpp-platform:1.4.0@")
    steps = registry_steps(recorder)
    assert [s.execs[-1][1] for s in steps] == ["show", "show", "push"]  # preflight, check, push
    assert steps and all("--plain-http" in s.execs[-1] for s in steps)
    for step in steps:
        bound = {f.args["alias"]: chain_of(f.args["service"]) for f in step.fields(
            "withServiceBinding")}
        assert bound == {"registry": chain_of(service)}


@pytest.mark.parametrize("registry", ["ghcr.io", "registry.example.com:5000", "10.0.0.7:5000"])
def test_plain_http_to_a_public_registry_is_refused_before_anything_runs(recorder, registry):
    with pytest.raises(PublishError, match=f"--plain-http with --registry {registry}: refused"):
        anyio.run(lambda: Pipeline().publish(
            tag="v1.4.0", registry_password=dagger.dag.set_secret("token", "x"),
            source=dagger.dag.directory(), registry=registry, plain_http=True))
    assert recorder.leaves("exitCode") == [] and recorder.leaves("plaintext") == []
