"""`dagger call publish`: the same release steps, helm in its pinned image.

The credentials reach helm only as a mounted secret file (a docker-style
registry config), never as argv, plain env or a layer; every registry step
carries a nonce so Dagger never serves it from cache.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import dagger
from dagger import ReturnType, dag

from pipeline.executors.dagger import WORKDIR, tool_container
from pipeline.publish import (CHART_DIR, REGISTRY_CONFIG, PublishError, Target, check_repository,
                              package_argv, package_file, preflight, registry_config, release,
                              version_from_tag)

PACKAGE_DIR = "/out"
NONCE = "DPP_PUBLISH_NONCE"


def helm_with_chart(source: dagger.Directory, config: dagger.Secret) -> dagger.Container:
    return (tool_container("helm")
            .with_mounted_directory(f"{WORKDIR}/{CHART_DIR}", source.directory(CHART_DIR))
            .with_mounted_secret(REGISTRY_CONFIG, config))


async def publish(source: dagger.Directory, tag: str, registry: str, repository: str,
                  username: str, password: dagger.Secret,
                  lint: Callable[[], Awaitable[str | None]]) -> str:
    """`lint()` returns None when every check passed, else the failed checks."""
    version = version_from_tag(tag)
    repository = check_repository(repository)
    target = Target(registry, repository, version)
    config = dag.set_secret(f"helm-registry-config-{registry}",
                            registry_config(registry, username, await password.plaintext()))
    helm = helm_with_chart(source, config)

    def runner(ctr: dagger.Container):
        async def run(argv: list[str]) -> tuple[int, str]:
            step = (ctr.with_env_variable(NONCE, str(time.time_ns()))
                    .with_exec(argv, expect=ReturnType.ANY))
            return await step.exit_code(), await step.combined_output()
        return run

    await preflight(runner(helm), target, REGISTRY_CONFIG)  # before the lint: cheap facts first
    failed = await lint()
    if failed is not None:
        raise PublishError(f"lint failed: nothing was packaged or pushed\n{failed}")
    packaged = helm.with_exec(package_argv(version, PACKAGE_DIR), expect=ReturnType.ANY)
    if await packaged.exit_code() != 0:
        raise PublishError(f"helm package {CHART_DIR} {version}: "
                           f"{await packaged.combined_output()}")
    return await release(runner(packaged), target, package_file(version, PACKAGE_DIR),
                         REGISTRY_CONFIG)
