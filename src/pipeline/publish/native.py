"""`python -m pipeline publish`: the release sequence (`publish.core`) run natively.

helm and cosign run as subprocesses with the pinned tools; the registry config, the
signing key and the package live in a private temporary directory (files 0600) that is
removed afterwards. Secrets come from env:NAME or file:PATH, never from argv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import anyio

from pipeline import layout
from pipeline.executors.native import environment
from pipeline.publish import (BACKOFF_SECONDS, CHART_NAME, PublishError, package_argv,
                              package_failure, package_file, registry_config)
from pipeline.publish import provenance as stamping
from pipeline.publish import reproducible
from pipeline.publish import signing as cosign
from pipeline.publish.core import Lint, ToolRun, publish_release, release_target

STEP_TIMEOUT_SECONDS = 60


def take_secret(spec: str, flag: str = "--registry-password") -> str:
    """`env:NAME` or `file:PATH` (Dagger's secret forms); never the secret itself.

    An environment variable is taken out of this process's environment, so no child
    (lint's tools, helm) inherits the secret.
    """
    kind, _, where = spec.partition(":")
    where = where.removeprefix("//")
    if kind == "env" and where:
        value = os.environ.pop(where, None)
        if value is None:
            raise PublishError(f"{flag} env:{where}: the environment variable is not set")
        return value
    if kind == "file" and where:
        try:
            return Path(where).read_text().strip()
        except OSError as error:
            raise PublishError(f"{flag} file:{where}: {error.strerror}") from None
    raise PublishError(f"{flag}: expected env:NAME or file:PATH (the secret itself never goes "
                       f"on the command line)")


@dataclass(frozen=True)
class SigningInputs:
    """The signing flags: `key`/`password` are secret specs (env:NAME, file:PATH)."""

    key: str = ""
    password: str = ""
    public_key: str = ""
    identity: str = ""
    oidc_request_url: str = ""
    oidc_request_token: str = ""


def git(source: Path, *args: str) -> str | None:
    """git's answer, or None (no checkout, no such ref, or no git installed)."""
    try:
        done = subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True,
                              check=False)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def provenance_of(source: Path, origin: stamping.Origin) -> stamping.Provenance:
    """The flags, else the checkout's HEAD, its committer date and its `origin` remote."""
    remote = None if origin.source_url else git(source, "remote", "get-url", "origin")
    return stamping.from_origin(stamping.Origin(
        origin.source_url or (remote and stamping.github_url(remote)),
        origin.revision or git(source, "rev-parse", "HEAD"),
        origin.created or git(source, "log", "-1", "--format=%cI", "HEAD")),
        f"not readable from git in {source} either (no checkout, commit or `origin` remote)")


def checked_signing(inputs: SigningInputs) -> None:
    cosign.signing_mode(bool(inputs.key), bool(inputs.public_key), inputs.identity,
                        bool(inputs.oidc_request_url and inputs.oidc_request_token))
    if inputs.public_key and not Path(inputs.public_key).is_file():
        raise PublishError(f"--verify-key {inputs.public_key}: no such file")


def private_file(path: Path, text: str) -> str:
    path.touch(mode=0o600)
    path.write_text(text)
    return str(path)


async def run_tool(argv: list[str], cwd: Path, env: dict[str, str]) -> ToolRun:
    """One helm or cosign step; no answer within the step timeout reads as an i/o timeout
    (a transient registry failure, retried like one)."""
    try:
        with anyio.fail_after(STEP_TIMEOUT_SECONDS):
            done = await anyio.run_process(argv, cwd=cwd, env=env, check=False, input=b"",
                                           stderr=subprocess.STDOUT)
    except TimeoutError:
        return 1, f"Error: i/o timeout: no answer within {STEP_TIMEOUT_SECONDS}s"
    return done.returncode, done.stdout.decode(errors="replace")


@dataclass(frozen=True)
class NativeSteps:
    """`publish.core.Steps` on this machine: subprocesses, files in a private directory."""

    source: Path
    private: Path
    registry_config: str
    helm_env: dict[str, str]
    cosign_env: dict[str, str]

    async def read_chart_yaml(self) -> str:
        path = self.source / layout.CHART_YAML
        try:
            return path.read_text()
        except OSError as error:
            raise PublishError(f"{layout.CHART_YAML}: cannot read it in {self.source}: "
                               f"{error.strerror}") from None

    async def package(self, chart_yaml: str, version: str, epoch: int) -> str:
        """A private copy of the chart with the stamped Chart.yaml, packaged and repacked:
        the repository itself is never written."""
        chart = self.private / "chart" / CHART_NAME
        shutil.copytree(self.source / layout.CHART, chart, symlinks=True)
        (chart / "Chart.yaml").write_text(chart_yaml)
        out = str(self.private / "package")
        code, output = await run_tool(package_argv(version, out, str(chart)), self.source,
                                      self.helm_env)
        if code != 0:
            raise package_failure(version, output)
        package = Path(package_file(version, out))
        reproducible.repack(package, package, epoch)
        return str(package)

    async def ask_registry(self, argv: list[str]) -> ToolRun:
        return await run_tool(argv, self.source, self.helm_env)

    push = ask_registry  # the package is a file in `private`: helm reads it where it runs

    async def sign(self, argv: list[str]) -> ToolRun:
        return await run_tool(argv, self.source, self.cosign_env)


def publish_natively(source: Path, tag: str, registry: str, repository: str, username: str,
                     registry_password: str, plain_http: bool, lint: Lint,
                     signing: SigningInputs,
                     origin: stamping.Origin = stamping.Origin(),
                     backoff: tuple[float, ...] = BACKOFF_SECONDS) -> str:
    """Validate every input, take the secrets out of the environment, then run the release
    sequence; return the signed reference line. `lint()` returns None when every check
    passed, else what failed ("" when its report is printed already). `backoff`: the
    pauses before a transiently failing registry step is retried."""
    target = release_target(tag, registry, repository, plain_http)
    checked_signing(signing)
    stamp = provenance_of(source, origin)
    password = take_secret(registry_password)
    key = take_secret(signing.key, "--signing-key") + "\n" if signing.key else ""
    key_password = take_secret(signing.password, "--signing-password") if signing.password else ""
    oidc = {name: take_secret(spec, flag) for name, spec, flag in zip(
        cosign.GITHUB_OIDC_ENV, (signing.oidc_request_url, signing.oidc_request_token),
        ("--oidc-request-url", "--oidc-request-token")) if spec}

    with tempfile.TemporaryDirectory(prefix="dpp-publish-") as tmp:
        private = Path(tmp)
        signer = cosign.Signing(
            key=private_file(private / "cosign.key", key) if key else "",
            public_key=str(Path(signing.public_key).resolve()) if signing.public_key else "",
            identity=signing.identity)
        steps = NativeSteps(
            source, private,
            registry_config=private_file(private / cosign.DOCKER_CONFIG_FILE,
                                         registry_config(registry, username, password)),
            helm_env=environment(source),
            cosign_env={**environment(source), cosign.DOCKER_CONFIG_ENV: tmp,
                        cosign.PASSWORD_ENV: key_password, **oidc})
        return anyio.run(publish_release, steps, target, stamp, signer, lint, backoff)
