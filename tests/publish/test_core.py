"""The release sequence itself (publish.core), over a Steps that records what ran.

Both executors run this one sequence; their real steps are tested natively against a
real registry and cosign (test_publish_native.py, test_publish_signing.py) and in Dagger
over the recording stand-in (test_publish_dagger.py). Here: the order, and that a failing
step stops everything after it.
"""

from __future__ import annotations

import functools
import json

import anyio
import pytest

from pipeline.publish import PublishError
from pipeline.publish import core
from pipeline.publish.core import publish_release, release_target
from pipeline.publish.provenance import provenance
from pipeline.publish.signing import Signing

DIGEST = "sha256:" + "ab" * 32
ABSENT = (1, "Error: failed to perform FetchReference: dpp-platform:1.4.0: not found")
UNREACHABLE = (1, "Error: Get \"https://127.0.0.1:5000/v2/\": dial tcp 127.0.0.1:5000: "
                  "connect: connection refused")
VERIFIED = (0, json.dumps([{"critical": {"image": {"docker-manifest-digest": DIGEST}}}]))
STAMP = provenance("https://github.com/acme/dpp-platform", "0" * 40, "2026-11-26T05:45:39Z")
SIGNING = Signing(key="/keys/cosign.key", public_key="/keys/cosign.pub")


class RecordedSteps:
    """Answers like a healthy registry and cosign; `fail` makes one step fail."""

    registry_config = "/private/config.json"

    def __init__(self, fail: str = ""):
        self.fail, self.ran = fail, []

    async def read_chart_yaml(self) -> str:
        self.ran.append("read")
        return "apiVersion: v2\nname: dpp-platform\nversion: 0.1.0\n"

    async def package(self, chart_yaml: str, version: str, epoch: int) -> str:
        self.ran.append("package")
        assert "org.opencontainers.image.revision" in chart_yaml and epoch == STAMP.epoch
        if self.fail == "package":
            raise PublishError("helm package infra/helm/dpp-platform 1.4.0: Error: broken")
        return f"/private/package/dpp-platform-{version}.tgz"

    async def ask_registry(self, argv: list[str]) -> tuple[int, str]:
        self.ran.append("show")
        if self.fail == "show-transient":
            return UNREACHABLE
        if self.fail == "show":
            return 1, "Error: response status code 401: unauthorized"
        return ABSENT

    async def push(self, argv: list[str]) -> tuple[int, str]:
        self.ran.append("push")
        if self.fail == "push-transient":
            return 1, "Error: unexpected status from PUT request: 503 Service Unavailable: EOF"
        if self.fail == "push":
            return 1, "Error: response status code 400: invalid manifest"
        if self.fail == "push-no-digest":
            return 0, "Pushed: x\n"
        return 0, f"Pushed: x\nDigest: {DIGEST}\n"

    async def sign(self, argv: list[str]) -> tuple[int, str]:
        self.ran.append(argv[1])
        if self.fail == argv[1]:
            return 1, "Error: signing failed"
        return VERIFIED if argv[1] == "verify" else (0, "")


def release(steps: RecordedSteps, lint_failures: str | None = None, **options) -> str:
    """The sequence to 127.0.0.1:5000; `options`: publish_release's keywords (backoff)."""
    target = release_target("v1.4.0", "127.0.0.1:5000", "acme/charts", plain_http=True)

    async def lint() -> str | None:
        steps.ran.append("lint")
        return lint_failures

    return anyio.run(functools.partial(publish_release, steps, target, STAMP, SIGNING, lint,
                                       **options))


def test_the_sequence_asks_lints_packages_asks_again_pushes_signs_and_verifies():
    steps = RecordedSteps()
    line = release(steps)
    assert steps.ran == ["show", "lint", "read", "package", "show", "push", "sign", "verify"]
    assert line.startswith(f"oci://127.0.0.1:5000/acme/charts/dpp-platform:1.4.0@{DIGEST} "
                           f"signed and verified")


@pytest.mark.parametrize("fail,ran,message", [
    ("show", ["show"], "check oci://127.0.0.1:5000/acme/charts/dpp-platform:1.4.0 on "
                       "127.0.0.1:5000: credentials rejected"),
    ("package", ["show", "lint", "read", "package"], "helm package infra/helm/dpp-platform"),
    ("push", ["show", "lint", "read", "package", "show", "push"], "push .*: registry error"),
    ("push-no-digest", ["show", "lint", "read", "package", "show", "push"],
     "reported no digest(.|\n)*NOT signed: do not deploy it"),
    ("sign", ["show", "lint", "read", "package", "show", "push", "sign"],
     "NOT signed and verified"),
    ("verify", ["show", "lint", "read", "package", "show", "push", "sign", "verify"],
     "NOT signed and verified"),
])
def test_a_failing_step_stops_the_sequence_there(fail, ran, message):
    steps = RecordedSteps(fail)
    with pytest.raises(PublishError, match=message):
        release(steps)
    assert steps.ran == ran


@pytest.mark.parametrize("options", [{}, {"backoff": (0.25, 0.5)}],
                         ids=["the release backoff", "a shorter backoff"])
@pytest.mark.parametrize("fail,ran,step", [
    ("show-transient", ["show"] * 3, "check"),
    ("push-transient", ["show", "lint", "read", "package", "show", "push", "push", "push"],
     "push"),
])
def test_a_transient_registry_failure_is_retried_after_each_pause_then_reported(
        monkeypatch, options, fail, ran, step):
    """The native tests shorten the pauses (`backoff`); the release's own are these, and
    their sum plus three attempts bounds how long a down registry holds a release."""
    pauses = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(core.anyio, "sleep", sleep)
    steps = RecordedSteps(fail)
    with pytest.raises(PublishError, match=rf"^{step} .*: registry unreachable or failing after "
                                           rf"3 attempt\(s\)"):
        release(steps, **options)
    assert steps.ran == ran
    assert pauses == list(options.get("backoff", (1.0, 2.0)))


def test_a_lint_failure_stops_before_the_chart_is_read_and_says_what_failed():
    steps = RecordedSteps()
    with pytest.raises(PublishError) as raised:
        release(steps, lint_failures="FAILED workflows/yamllint")
    assert str(raised.value) == ("lint failed: nothing was packaged or pushed\n"
                                 "FAILED workflows/yamllint")
    assert steps.ran == ["show", "lint"]


def test_a_lint_that_printed_its_report_itself_adds_nothing_to_the_message():
    with pytest.raises(PublishError) as raised:
        release(RecordedSteps(), lint_failures="")
    assert str(raised.value) == "lint failed: nothing was packaged or pushed"


def test_a_remotes_credentials_never_reach_the_source_url():
    """A CI checkout's origin carries a token; the annotation (and any error) must not."""
    from pipeline.publish.provenance import github_url

    assert github_url("https://x-access-token:ghp_SECRET123@github.com/acme/dpp.git") == \
        "https://github.com/acme/dpp"
    assert github_url("git@github.com:acme/dpp.git") == "https://github.com/acme/dpp"
    assert github_url("ssh://git@github.com/acme/dpp.git") == "https://github.com/acme/dpp"
