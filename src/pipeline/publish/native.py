"""`python -m pipeline publish`: the native twin of `dagger call publish`."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import anyio

from pipeline.executors.native import environment
from pipeline.publish import (check_repository, CHART_NAME, PublishError, Target, package_argv, package_file,
                              preflight, registry_config, release, version_from_tag)

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


def helm_runner(cwd: Path):
    env = environment(cwd)

    async def run(argv: list[str]) -> tuple[int, str]:
        try:
            with anyio.fail_after(STEP_TIMEOUT_SECONDS):
                done = await anyio.run_process(argv, cwd=cwd, env=env, check=False,
                                               stderr=subprocess.STDOUT)
        except TimeoutError:
            return 1, f"Error: i/o timeout: no answer within {STEP_TIMEOUT_SECONDS}s"
        return done.returncode, done.stdout.decode(errors="replace")

    return run


def publish(source: Path, tag: str, registry: str, repository: str, username: str,
            registry_password: str, plain_http: bool, lint: Callable[[], bool]) -> str:
    """Validate the tag, ask the registry the cheap facts (reachable, credentials, version
    new), lint, package with the tag's version, push once; return the reference."""
    version = version_from_tag(tag)
    repository = check_repository(repository)
    password = take_secret(registry_password)
    target = Target(registry, repository, version, plain_http)
    run = helm_runner(source)
    with tempfile.TemporaryDirectory(prefix="dpp-publish-") as private:
        config = Path(private) / "registry.json"
        config.touch(mode=0o600)
        config.write_text(registry_config(registry, username, password))
        out = str(Path(private) / "package")
        anyio.run(preflight, run, target, str(config))
        if not lint():
            raise PublishError("lint failed: nothing was packaged or pushed")

        async def steps() -> str:
            code, output = await run(package_argv(version, out))
            if code != 0:
                raise PublishError(f"helm package {CHART_NAME} {version}: {output.strip()}")
            return await release(run, target, package_file(version, out), str(config))

        return anyio.run(steps)
