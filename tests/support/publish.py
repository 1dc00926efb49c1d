"""What the publish tests share: one way to publish natively to the test registry, the CLI's
signing flags, the digest the registry serves, and a release published once for the tests
that read it."""

from __future__ import annotations

import base64
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pipeline import layout
from pipeline.publish import BACKOFF_SECONDS
from pipeline.publish import native as publish_native
from pipeline.publish.provenance import Origin
from tests.support.repo import REPO
from tests.publish import signing_keys
from tests.publish.registry import Registry, running_registry

REPOSITORY = "acme/dpp/charts"
# The worktree may have no `origin` remote; revision and date come from its git HEAD.
ORIGIN = Origin(source_url="https://github.com/acme/dpp-platform")
# Pauses before the retries of a failing registry step, as many as the release's own
# (publish.BACKOFF_SECONDS, tests/publish/test_core.py) but short: the retries still happen.
SHORT_BACKOFF = (0.05, 0.1)


def publish(registry, tag="v1.4.0", password_env="REGISTRY_PASSWORD", lint=lambda: True,
            host=None, signing=None, origin=ORIGIN, repository=REPOSITORY, source=REPO,
            backoff=BACKOFF_SECONDS):
    """`publish_natively` of `source` (this checkout) to the test registry, plain HTTP,
    signed with the release key pair; the password from the environment variable.
    `lint()` says whether lint passed (or raises: a lint that must not start); `backoff`:
    the pauses before a failing registry step is retried (SHORT_BACKOFF where a test
    waits on them)."""
    async def lint_failures() -> str | None:
        return None if lint() else "FAILED (the test's lint)"

    return publish_native.publish_natively(
        source, tag, host or registry.host, repository, registry.username,
        f"env:{password_env}", True, lint_failures, signing or signing_keys.release_pair().inputs(),
        origin, backoff)


def signing_flags() -> list[str]:
    """The CLI flags of a key-pair release (files, never the secrets themselves)."""
    keys = signing_keys.release_pair()
    return ["--signing-key", f"file:{keys.key}", "--signing-password",
            f"file:{keys.password_file}", "--verify-key", str(keys.public),
            "--source-url", ORIGIN.source_url]


def manifest_digest(registry, version: str) -> str:
    """The digest the registry serves for the chart's `version` tag."""
    request = urllib.request.Request(
        f"http://{registry.host}/v2/{REPOSITORY}/dpp-platform/manifests/{version}", method="HEAD")
    token = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    request.add_header("Accept", "application/vnd.oci.image.manifest.v1+json")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.headers["Docker-Content-Digest"]


@dataclass(frozen=True)
class Published:
    registry: Registry
    line: str  # what publish returned: "oci://...:1.4.0@sha256:... signed and verified ..."
    chart_yaml: str  # this checkout's Chart.yaml before the publish


def published_once(tmp_path_factory, **options) -> Iterator[Published]:
    """A registry of its own holding this checkout's release v1.4.0, published once, for
    the tests that only read the release or publish the same version again (which must be
    refused before anything is pushed: such a test asserts that nothing changed)."""
    chart_yaml = (REPO / layout.CHART_YAML).read_text()
    with running_registry(tmp_path_factory.mktemp("published")) as running:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("REGISTRY_PASSWORD", running.password)
            line = publish(running, **options)
        yield Published(running, line, chart_yaml)
