"""Signed releases and provenance, for real: the pinned cosign against the test registry
(distribution v3 with basic auth on 127.0.0.1), key pairs made by cosign itself."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import anyio
import pytest

from pipeline import layout
from pipeline.executors.native import environment
from pipeline.publish import PublishError, Target, registry_config
from pipeline.publish import native as publish_native
from pipeline.publish import signing
from pipeline.publish.provenance import Origin
from tests.support.repo import REPO, copy_repo, run_pipeline
from tests.publish.faulty_proxy import failing_uploads, signature_manifests
from tests.publish.registry import Registry, running_registry
from tests.publish.signing_keys import PASSWORD, cosign, pairs, release_pair
from tests.support.publish import REPOSITORY, publish, published_once, signing_flags

pytestmark = pytest.mark.tools
COMMIT = "0123456789abcdef0123456789abcdef01234567"
FIXED = Origin("https://github.com/acme/dpp-platform", COMMIT, "2026-11-26T06:45:39+01:00")


def logged_in(tmp_path: Path, registry) -> Path:
    """What a consumer has after `docker login`: credentials for `registry`."""
    home = tmp_path / "docker"
    home.mkdir()
    (home / "config.json").write_text(
        registry_config(registry.host, registry.username, registry.password))
    return home


@pytest.fixture
def docker_config(tmp_path, registry) -> Path:
    """A consumer logged in to the test's own registry."""
    return logged_in(tmp_path, registry)


@pytest.fixture(scope="module")
def published_at_commit(tmp_path_factory):
    """v1.4.0 published once with the fixed provenance FIXED, for the tests that compare it
    with `republished_at_commit`."""
    yield from published_once(tmp_path_factory, origin=FIXED)


MIRROR = "acme/mirror/charts"


@pytest.fixture(scope="module")
def republished_at_commit(published_at_commit) -> str:
    """The same commit (FIXED) published again as v1.4.0, later, beside the first (in the
    repository MIRROR of the same registry): publish's line."""
    registry = published_at_commit.registry
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REGISTRY_PASSWORD", registry.password)
        return publish(registry, repository=MIRROR, origin=FIXED)


def consumer_verify(docker_config: Path, reference: str, public_key: Path):
    """The README's `cosign verify` for a key-pair release, as a consumer runs it."""
    return subprocess.run(
        [cosign(), "verify", "--key", str(public_key), "--insecure-ignore-tlog=true",
         "--allow-http-registry", reference], capture_output=True, text=True, timeout=60,
        env={**os.environ, "DOCKER_CONFIG": str(docker_config)})


def registry_get(registry, path: str, accept="application/vnd.oci.image.manifest.v1+json"):
    request = urllib.request.Request(f"http://{registry.host}{path}")
    token = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    request.add_header("Accept", accept)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def tags(registry) -> list[str]:
    return registry_get(registry, f"/v2/{REPOSITORY}/dpp-platform/tags/list")["tags"]


def image(registry, digest: str) -> str:
    return f"{registry.host}/{REPOSITORY}/dpp-platform@{digest}"


def digest_of(line: str) -> str:
    return line.split()[0].rsplit("@", 1)[1]


def helm_push_unsigned(registry, tmp_path, version: str, description: str) -> str:
    """A chart pushed by helm alone, as an attacker or a broken pipeline would: no signature."""
    chart = tmp_path / "other" / "dpp-platform"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        f"apiVersion: v2\nname: dpp-platform\nversion: {version}\ndescription: {description}\n")
    env = environment(REPO)
    config = tmp_path / "auth.json"
    config.write_text(registry_config(registry.host, registry.username, registry.password))
    subprocess.run(["helm", "package", str(chart), "--destination", str(tmp_path / "other")],
                   check=True, capture_output=True, env=env)
    pushed = subprocess.run(
        ["helm", "push", str(tmp_path / "other" / f"dpp-platform-{version}.tgz"),
         f"oci://{registry.host}/{REPOSITORY}", "--plain-http", "--registry-config", str(config)],
        check=True, capture_output=True, text=True, env=env)
    return next(line.split()[1] for line in (pushed.stdout + pushed.stderr).splitlines()
                if line.startswith("Digest:"))


def test_a_release_is_signed_verified_and_a_consumer_can_verify_it(published, tmp_path):
    release = release_pair()
    registry, line = published.registry, published.line
    docker_config = logged_in(tmp_path, registry)
    digest = digest_of(line)
    assert line.startswith(f"oci://{registry.host}/{REPOSITORY}/dpp-platform:1.4.0@{digest} "
                           f"signed and verified (cosign, key pair")
    signature = f"sha256-{digest.removeprefix('sha256:')}.sig"
    assert line.endswith(f"signature {registry.host}/{REPOSITORY}/dpp-platform:{signature}")
    assert sorted(tags(registry)) == ["1.4.0", signature]
    verified = consumer_verify(docker_config, image(registry, digest), release.public)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)[0]["critical"]["image"]["docker-manifest-digest"] == digest


@pytest.fixture
def published_copy(published, tmp_path) -> Iterator[Registry]:
    """A registry of the test's own holding what `published` holds (its signed v1.4.0), for a
    test that changes it: the session's release is published and signed once, not again."""
    with running_registry(tmp_path / "copy", seed=published.registry) as running:
        yield running


def test_a_tag_moved_to_other_content_fails_verification(published, published_copy, tmp_path):
    release, registry = release_pair(), published_copy
    docker_config = logged_in(tmp_path, registry)
    signed = digest_of(published.line)  # our publish's, signed with the release key
    tampered = helm_push_unsigned(registry, tmp_path, "1.4.0", "tampered")
    assert tampered != signed
    by_tag = consumer_verify(docker_config, f"{registry.host}/{REPOSITORY}/dpp-platform:1.4.0",
                             release.public)
    assert by_tag.returncode != 0
    assert "no signatures found" in by_tag.stderr, by_tag.stderr
    # The signed digest itself still verifies: consumers should pin the digest.
    assert consumer_verify(docker_config, image(registry, signed), release.public).returncode == 0


def test_an_unsigned_chart_fails_the_pipelines_verification(registry, tmp_path, docker_config):
    release = release_pair()
    digest = helm_push_unsigned(registry, tmp_path, "9.9.9", "never signed")
    target = Target(registry.host, REPOSITORY, "9.9.9", plain_http=True)
    argv = signing.verify_argv(
        target, digest, signing.Signing(key="unused", public_key=str(release.public)))
    code, output = anyio.run(publish_native.run_tool, argv, REPO,
                             {**environment(REPO), "DOCKER_CONFIG": str(docker_config)})
    assert code != 0 and "no signatures found" in output, output


def test_a_signature_from_another_key_fails_the_publish(registry, password, docker_config):
    release, other = pairs()
    with pytest.raises(PublishError) as raised:
        publish(registry, signing=release.inputs(verify_with=other.public))
    message = str(raised.value)
    assert f"cosign verify {registry.host}/{REPOSITORY}/dpp-platform@sha256:" in message
    assert "invalid signature" in message or "no matching signatures" in message, message
    assert f"pushed oci://{registry.host}/{REPOSITORY}/dpp-platform:1.4.0@sha256:" in message
    assert "NOT signed and verified: do not deploy it" in message
    digest = message.split("pushed ", 1)[1].split("@", 1)[1].split(",")[0]
    # A consumer holding the wrong key is refused too; the right key verifies.
    assert consumer_verify(docker_config, image(registry, digest), other.public).returncode != 0
    assert consumer_verify(docker_config, image(registry, digest), release.public).returncode == 0


def test_a_registry_refusing_the_signature_fails_the_publish_and_says_what_was_pushed(
        registry, password):
    with failing_uploads(registry.host, signature_manifests) as proxy, \
            pytest.raises(PublishError) as raised:
        publish(registry, host=proxy)
    message = str(raised.value)
    assert f"cosign sign {proxy}/{REPOSITORY}/dpp-platform@sha256:" in message
    assert f"pushed oci://{proxy}/{REPOSITORY}/dpp-platform:1.4.0@sha256:" in message
    assert "NOT signed and verified" in message
    assert tags(registry) == ["1.4.0"], "the chart is there, no signature"


def cli_provenance(tree) -> list[str]:
    """A tree without .git: the commit and its date as flags."""
    return ["--source", str(tree), "--revision", COMMIT, "--created", FIXED.created]


def test_the_cli_never_prints_published_for_an_unsigned_release(registry, release_tree):
    with failing_uploads(registry.host, signature_manifests) as proxy:
        done = run_pipeline("publish", "--tag", "v1.4.0", "--registry", proxy, "--repository",
                            REPOSITORY, "--username", registry.username, "--registry-password",
                            "env:REGISTRY_PASSWORD", "--plain-http", *signing_flags(),
                            *cli_provenance(release_tree),
                            env={"REGISTRY_PASSWORD": registry.password})
    assert done.returncode == 1
    assert "published" not in done.stdout.replace("cosign sign", "")
    assert "NOT signed and verified" in done.stdout
    output = done.stdout + done.stderr
    assert registry.password not in output and PASSWORD not in output
    assert release_pair().key.read_text().splitlines()[1] not in output


def test_the_cli_publishes_signed_and_keeps_key_and_passwords_out_of_output(registry,
                                                                          release_tree):
    done = run_pipeline("publish", "--tag", "v1.4.0", "--registry", registry.host,
                        "--repository", REPOSITORY, "--username", registry.username,
                        "--registry-password", "env:REGISTRY_PASSWORD", "--plain-http",
                        *signing_flags(), *cli_provenance(release_tree),
                        env={"REGISTRY_PASSWORD": registry.password})
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(f"published oci://{registry.host}/{REPOSITORY}/dpp-platform:1.4.0@")
    assert " signed and verified (cosign, key pair" in last
    output = done.stdout + done.stderr
    assert registry.password not in output and PASSWORD not in output


@pytest.mark.parametrize("signing_inputs,message", [
    (publish_native.SigningInputs(), "publish signs every release: give --signing-key"),
    (publish_native.SigningInputs(key="file:/nonexistent"), "--signing-key needs --verify-key"),
    (publish_native.SigningInputs(key="file:/x", public_key="/nonexistent.pub"),
     "--verify-key /nonexistent.pub: no such file"),
    (publish_native.SigningInputs(identity="https://github.com/acme/x"),
     "is not a workflow identity"),
    (publish_native.SigningInputs(identity="https://github.com/acme/dpp/.github/workflows/"
                                           "deploy.yml@refs/tags/v1.4.0"),
     "keyless signing needs --oidc-request-url and --oidc-request-token"),
    (publish_native.SigningInputs(key="file:/x", public_key="/x.pub",
                                  identity="https://github.com/acme/dpp/.github/workflows/"
                                           "deploy.yml@refs/tags/v1.4.0"),
     "--signing-key and --certificate-identity both given"),
])
def test_publish_without_a_complete_way_to_sign_fails_before_any_work(
        shared_registry, shared_password, signing_inputs, message):
    def lint():
        raise AssertionError("lint ran without a way to sign")

    with pytest.raises(PublishError, match=message):
        publish(shared_registry, signing=signing_inputs, lint=lint)


def test_the_artifact_carries_provenance_from_the_commit_not_the_clock(published_at_commit,
                                                                       republished_at_commit):
    registry = published_at_commit.registry
    first, later = digest_of(published_at_commit.line), digest_of(republished_at_commit)
    annotations = [registry_get(registry, f"/v2/{repository}/dpp-platform/manifests/{d}")
                   ["annotations"] for repository, d in ((REPOSITORY, first), (MIRROR, later))]
    expected = {"org.opencontainers.image.source": "https://github.com/acme/dpp-platform",
                "org.opencontainers.image.revision": COMMIT,
                "org.opencontainers.image.created": "2026-11-26T05:45:39Z"}
    for found in annotations:
        assert {k: found[k] for k in expected} == expected, found
        assert found["org.opencontainers.image.title"] == "dpp-platform"
    assert {k: v for k, v in annotations[0].items() if "version" not in k} == \
        {k: v for k, v in annotations[1].items() if "version" not in k}, "a rebuild differs"


def test_provenance_defaults_to_the_checkouts_head_and_commit_date(published):
    registry = published.registry
    digest = digest_of(published.line)
    found = registry_get(registry, f"/v2/{REPOSITORY}/dpp-platform/manifests/{digest}")
    head = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%H %cI"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert found["annotations"]["org.opencontainers.image.revision"] == head[0]
    created = datetime.fromisoformat(head[1]).astimezone(timezone.utc)
    assert found["annotations"]["org.opencontainers.image.created"] == \
        created.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_tree_without_git_and_without_provenance_flags_fails_before_lint(
        shared_registry, shared_password, tmp_path):
    root = copy_repo(tmp_path / "repo", layout.CHART)  # what publish reads, and no .git

    def lint():
        raise AssertionError("lint ran without provenance")

    with pytest.raises(PublishError, match=r"--revision, --created not given; not readable "
                                           r"from git in .*repo either"):
        publish(shared_registry, lint=lint, source=root,
                origin=Origin(source_url="https://github.com/acme/dpp-platform"))


def test_the_same_commit_publishes_the_same_manifest_digest(published_at_commit,
                                                            republished_at_commit):
    """helm stamps archive entries with the clock; publish restamps them with the commit's."""
    first = digest_of(published_at_commit.line)
    again = digest_of(republished_at_commit)
    assert f"/{MIRROR}/dpp-platform:1.4.0@" in republished_at_commit
    assert again == first


def test_repack_keeps_every_entry_and_stamps_the_commit_time(tmp_path):
    import io
    import tarfile
    import time

    from pipeline.publish.reproducible import repack

    def package(name: str, mtime: float) -> Path:
        path = tmp_path / name
        with tarfile.open(path, "w:gz") as archive:
            for entry, body in (("dpp-platform/Chart.yaml", b"name: dpp-platform\n"),
                                ("dpp-platform/templates/a.yaml", b"kind: ConfigMap\n")):
                info = tarfile.TarInfo(entry)
                info.size, info.mtime = len(body), mtime
                archive.addfile(info, io.BytesIO(body))
        return path

    early, late = package("early.tgz", time.time() - 3600), package("late.tgz", time.time())
    assert early.read_bytes() != late.read_bytes()
    repack(early, tmp_path / "early-out.tgz", 1795671939)
    repack(late, tmp_path / "late-out.tgz", 1795671939)
    assert (tmp_path / "early-out.tgz").read_bytes() == (tmp_path / "late-out.tgz").read_bytes()
    with tarfile.open(tmp_path / "late-out.tgz") as archive:
        assert [(m.name, m.mtime, m.uid) for m in archive.getmembers()] == [
            ("dpp-platform/Chart.yaml", 1795671939, 0),
            ("dpp-platform/templates/a.yaml", 1795671939, 0)]
        assert archive.extractfile("dpp-platform/templates/a.yaml").read() == b"kind: ConfigMap\n"
