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
from pipeline.publish import (CHART_DIR, REGISTRY_CONFIG, PublishError, Target, check_plain_http,
                              check_repository, package_argv, package_file, preflight,
                              registry_config, release, version_from_tag)

PACKAGE_DIR = "/out"
NONCE = "DPP_PUBLISH_NONCE"


async def packaged(chart: dagger.Directory, version: str) -> dagger.File:
    """`helm package` of the chart directory with `version`: the .tgz, kept in the engine."""
    done = (tool_container("helm").with_mounted_directory(f"{WORKDIR}/{CHART_DIR}", chart)
            .with_exec(package_argv(version, PACKAGE_DIR), expect=ReturnType.ANY))
    if await done.exit_code() != 0:
        raise PublishError(f"helm package {CHART_DIR} {version}: "
                           f"{(await done.combined_output()).strip()}")
    return done.file(package_file(version, PACKAGE_DIR))


async def package(source: dagger.Directory, tag: str) -> dagger.File:
    """`dagger call package`: the chart .tgz of a release tag, the one publish pushes."""
    return await packaged(source.directory(CHART_DIR), version_from_tag(tag))


def registry_helm(config: dagger.Secret, registry: str,
                  service: dagger.Service | None) -> dagger.Container:
    """helm with only the registry config (and the registry's service bound under its host
    name, if given): all a registry step needs besides the package."""
    ctr = tool_container("helm").with_mounted_secret(REGISTRY_CONFIG, config)
    if service is not None:
        ctr = ctr.with_service_binding(registry.rsplit(":", 1)[0], service)
    return ctr


def runner(ctr: dagger.Container):
    """Run an argv in `ctr`, never from Dagger's cache (each registry step carries a nonce)."""
    async def run(argv: list[str]) -> tuple[int, str]:
        step = (ctr.with_env_variable(NONCE, str(time.time_ns()))
                .with_exec(argv, expect=ReturnType.ANY))
        return await step.exit_code(), await step.combined_output()
    return run


async def publish(source: dagger.Directory, tag: str, registry: str, repository: str,
                  username: str, password: dagger.Secret,
                  lint: Callable[[], Awaitable[str | None]], plain_http: bool = False,
                  registry_service: dagger.Service | None = None) -> str:
    """`lint()` returns None when every check passed, else the failed checks.
    `registry_service` is bound under the registry's host name (e.g. a registry on the
    host as tcp://localhost:5000, reached as registry:5000)."""
    version = version_from_tag(tag)
    repository = check_repository(repository)
    check_plain_http(registry, plain_http)
    target = Target(registry, repository, version, plain_http)
    config = dag.set_secret(f"helm-registry-config-{registry}",
                            registry_config(registry, username, await password.plaintext()))
    helm = registry_helm(config, registry, registry_service)
    await preflight(runner(helm), target, REGISTRY_CONFIG)  # before the lint: cheap facts first
    failed = await lint()
    if failed is not None:
        raise PublishError(f"lint failed: nothing was packaged or pushed\n{failed}")
    path = package_file(version, PACKAGE_DIR)
    pushed = helm.with_mounted_file(path, await packaged(source.directory(CHART_DIR), version))
    return await release(runner(pushed), target, path, REGISTRY_CONFIG)
