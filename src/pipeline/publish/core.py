"""The release sequence, written once for both executors.

    validate -> ask the registry (reachable, credentials, version new) -> lint
    -> package the provenance-stamped chart, reproducibly -> ask again -> push once
    -> sign -> verify -> the signed reference

Each step raises PublishError and stops the sequence: nothing is packaged before the
lint passed, nothing is pushed before the package exists, and nothing is reported as
published before its signature was verified. Where a step runs (subprocesses and a
private temporary directory, or Dagger containers with mounted secrets) is the one
thing the executors differ in: the `Steps` protocol below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio

from pipeline.publish import (BACKOFF_SECONDS, PublishError, Target, check_plain_http,
                              check_repository, classify, exists_argv, last_error_line,
                              push_argv, pushed_digest, refuse_existing, registry_failure,
                              version_from_tag)
from pipeline.publish import provenance as stamping
from pipeline.publish.signing import Signing, sign_and_verify, signed_line

ToolRun = tuple[int, str]  # a tool's exit code and its combined output
Run = Callable[[list[str]], Awaitable[ToolRun]]
# None when every check passed, else what failed (may be "" when lint printed it already).
Lint = Callable[[], Awaitable[str | None]]


class Steps(Protocol):
    """Where the release steps run: the native executor or Dagger's containers."""

    registry_config: str
    """The path helm reads the registry credentials from, where `ask_registry` and `push` run."""

    async def read_chart_yaml(self) -> str:
        """The chart's Chart.yaml as the source holds it."""

    async def package(self, chart_yaml: str, version: str, epoch: int) -> str:
        """`helm package` of the chart with this Chart.yaml, every archive entry stamped with
        `epoch`; the package's path where `push` runs. Raises PublishError if helm fails."""

    async def ask_registry(self, argv: list[str]) -> ToolRun:
        """Run a helm step that reads the registry (`helm show chart`)."""

    async def push(self, argv: list[str]) -> ToolRun:
        """Run `helm push` where the package made by `package` is."""

    async def sign(self, argv: list[str]) -> ToolRun:
        """Run a cosign step where the signing key (or OIDC request) and credentials are."""


def release_target(tag: str, registry: str, repository: str, plain_http: bool) -> Target:
    """The inputs that fail before any work: the tag, the repository path, plain HTTP."""
    version = version_from_tag(tag)
    repository = check_repository(repository)
    check_plain_http(registry, plain_http)
    return Target(registry, repository, version, plain_http)


async def attempt(run: Run, argv: list[str], target: Target, step: str,
                  backoff: tuple[float, ...] = BACKOFF_SECONDS) -> ToolRun:
    """Run one registry step, retrying only transient failures: one attempt more than
    `backoff` has pauses, each retry after the next pause."""
    code, output = await run(argv)
    tries = 1
    for pause in backoff:
        if code == 0 or classify(output, target) != "transient":
            break
        await anyio.sleep(pause)
        code, output = await run(argv)
        tries += 1
    if code != 0 and classify(output, target) == "transient":
        raise registry_failure(target, step, output, tries)
    return code, output


async def preflight(run: Run, target: Target, config: str,
                    backoff: tuple[float, ...] = BACKOFF_SECONDS) -> None:
    """The cheap facts: the registry answers, accepts the credentials, and does not hold
    this version yet (one `helm show chart`)."""
    code, output = await attempt(run, exists_argv(target, config), target, "check", backoff)
    if code == 0:
        raise refuse_existing(target)
    if classify(output, target) != "absent":
        raise registry_failure(target, "check", output, 1)


async def push_once(steps: Steps, target: Target, package: str,
                    backoff: tuple[float, ...] = BACKOFF_SECONDS) -> str:
    """Refuse an existing version (asked again: lint took time), push; the pushed digest."""
    await preflight(steps.ask_registry, target, steps.registry_config, backoff)
    code, output = await attempt(steps.push, push_argv(target, package, steps.registry_config),
                                 target, "push", backoff)
    if code != 0:
        raise registry_failure(target, "push", output, 1)
    digest = pushed_digest(output)
    if digest is None:
        raise PublishError(f"push {target.chart}:{target.version} on {target.registry}: "
                           f"helm exited 0 but reported no digest: {last_error_line(output)}\n"
                           f"the version may be in the registry, NOT signed: do not deploy it; "
                           f"check {target.registry}, delete that version if it is there, then "
                           f"publish again")
    return digest


async def publish_release(steps: Steps, target: Target, stamp: stamping.Provenance,
                          signing: Signing, lint: Lint,
                          backoff: tuple[float, ...] = BACKOFF_SECONDS) -> str:
    """The cheap registry facts, lint, package, push once, sign and verify; the line publish
    prints (the signed reference). `backoff`: the pauses before the retries of a registry
    step that failed transiently (tests shorten them; their number is the retries)."""
    await preflight(steps.ask_registry, target, steps.registry_config, backoff)
    failed = await lint()
    if failed is not None:
        raise PublishError("lint failed: nothing was packaged or pushed"
                           + (f"\n{failed}" if failed else ""))
    chart_yaml = stamping.stamped_chart_yaml(await steps.read_chart_yaml(), stamp)
    package = await steps.package(chart_yaml, target.version, stamp.epoch)
    digest = await push_once(steps, target, package, backoff)
    signature = await sign_and_verify(steps.sign, target, digest, signing)
    return signed_line(target.reference(digest), signature, signing)
