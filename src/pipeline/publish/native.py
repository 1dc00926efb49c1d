"""`python -m pipeline publish`: the native twin of `dagger call publish`."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

from pipeline.executors.native import environment
from pipeline.publish import (check_repository, CHART_DIR, CHART_NAME, PublishError, Target,
                              package_argv, package_file, preflight, registry_config, release,
                              version_from_tag)
from pipeline.publish import provenance as stamping
from pipeline.publish import reproducible
from pipeline.publish import signing as cosign

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
    done = subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True,
                          check=False)
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def provenance_of(source: Path, origin: stamping.Origin) -> stamping.Provenance:
    """The flags, else the checkout's HEAD, its committer date and its `origin` remote."""
    remote = git(source, "remote", "get-url", "origin")
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


def stamped_chart(source: Path, private: Path, stamp: stamping.Provenance) -> Path:
    """A private copy of the chart whose Chart.yaml carries the provenance annotations."""
    chart = private / "chart" / CHART_NAME
    shutil.copytree(source / CHART_DIR, chart, symlinks=True)
    manifest = chart / "Chart.yaml"
    manifest.write_text(stamping.stamped_chart_yaml(manifest.read_text(), stamp))
    return chart


def private_file(path: Path, text: str) -> str:
    path.touch(mode=0o600)
    path.write_text(text)
    return str(path)


def runner(cwd: Path, env: dict[str, str]):
    async def run(argv: list[str]) -> tuple[int, str]:
        try:
            with anyio.fail_after(STEP_TIMEOUT_SECONDS):
                done = await anyio.run_process(argv, cwd=cwd, env=env, check=False, input=b"",
                                               stderr=subprocess.STDOUT)
        except TimeoutError:
            return 1, f"Error: i/o timeout: no answer within {STEP_TIMEOUT_SECONDS}s"
        return done.returncode, done.stdout.decode(errors="replace")

    return run


def publish(source: Path, tag: str, registry: str, repository: str, username: str,
            registry_password: str, plain_http: bool, lint: Callable[[], bool],
            signing: SigningInputs, origin: stamping.Origin = stamping.Origin()) -> str:
    """Validate, ask the registry the cheap facts (reachable, credentials, version new), lint,
    package with the tag's version and provenance, push once, sign and verify; return the
    signed reference line."""
    version = version_from_tag(tag)
    repository = check_repository(repository)
    checked_signing(signing)
    stamp = provenance_of(source, origin)
    password = take_secret(registry_password)
    key = take_secret(signing.key, "--signing-key") + "\n" if signing.key else ""
    key_password = take_secret(signing.password, "--signing-password") if signing.password else ""
    oidc = {name: take_secret(spec, flag) for name, spec, flag in zip(
        cosign.GITHUB_OIDC_ENV, (signing.oidc_request_url, signing.oidc_request_token),
        ("--oidc-request-url", "--oidc-request-token")) if spec}
    target = Target(registry, repository, version, plain_http)
    with tempfile.TemporaryDirectory(prefix="dpp-publish-") as tmp:
        private = Path(tmp)
        config = private_file(private / cosign.DOCKER_CONFIG_FILE,
                              registry_config(registry, username, password))
        helm = runner(source, environment(source))
        anyio.run(preflight, helm, target, config)
        if not lint():
            raise PublishError("lint failed: nothing was packaged or pushed")
        signer = cosign.Signing(
            key=private_file(private / "cosign.key", key) if key else "",
            public_key=str(Path(signing.public_key).resolve()) if signing.public_key else "",
            identity=signing.identity)
        sign = runner(source, {**environment(source), cosign.DOCKER_CONFIG_ENV: tmp,
                               cosign.PASSWORD_ENV: key_password, **oidc})
        chart = stamped_chart(source, private, stamp)
        out = str(private / "package")

        async def steps() -> str:
            code, output = await helm(package_argv(version, out, str(chart)))
            if code != 0:
                raise PublishError(f"helm package {CHART_NAME} {version}: {output.strip()}")
            package = Path(package_file(version, out))
            reproducible.repack(package, package, stamp.epoch)
            return await release(helm, target, str(package), config, sign, signer)

        return anyio.run(steps)
