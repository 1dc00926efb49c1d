"""`dagger call publish`: the same release steps, helm in its pinned image.

The credentials reach helm only as a mounted secret file (a docker-style
registry config), never as argv, plain env or a layer; every registry step
carries a nonce so Dagger never serves it from cache.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import dagger
from dagger import ReturnType, dag

from pipeline.executors.dagger import WORKDIR, tool_container
from pipeline.publish import (CHART_DIR, REGISTRY_CONFIG, PublishError, Target, check_repository,
                              package_argv, package_file, preflight, registry_config, release,
                              version_from_tag)
from pipeline.publish import provenance as stamping
from pipeline.publish import signing as cosign

PACKAGE_DIR = "/out"
NONCE = "DPP_PUBLISH_NONCE"
# cosign's image runs as distroless' nonroot user (.ko.yaml: static-debian12:nonroot); the
# mounted secrets must be readable by it.
COSIGN_USER = "65532"
COSIGN_DOCKER_CONFIG = "/run/secrets/docker"
COSIGN_KEY = "/run/secrets/cosign.key"
COSIGN_PUBLIC_KEY = "/run/secrets/cosign.pub"
REPRODUCIBLE = "src/pipeline/publish/reproducible.py"


@dataclass(frozen=True)
class SigningSecrets:
    """The signing inputs of `dagger call publish`: a key pair, or keyless (GitHub OIDC)."""

    key: dagger.Secret | None = None
    password: dagger.Secret | None = None
    public_key: dagger.File | None = None
    identity: str = ""
    oidc_request_url: dagger.Secret | None = None
    oidc_request_token: dagger.Secret | None = None

    def check(self) -> None:
        cosign.signing_mode(self.key is not None, self.public_key is not None, self.identity,
                            None not in (self.oidc_request_url, self.oidc_request_token))

    def signing(self) -> cosign.Signing:
        if self.key is None:
            return cosign.Signing(identity=self.identity)
        return cosign.Signing(key=COSIGN_KEY, public_key=COSIGN_PUBLIC_KEY)


def cosign_with_secrets(config: dagger.Secret, secrets: SigningSecrets) -> dagger.Container:
    """cosign's image with the registry config, and the key pair or the OIDC request secrets."""
    ctr = (tool_container("cosign")
           .with_mounted_secret(f"{COSIGN_DOCKER_CONFIG}/{cosign.DOCKER_CONFIG_FILE}", config,
                                owner=COSIGN_USER)
           .with_env_variable(cosign.DOCKER_CONFIG_ENV, COSIGN_DOCKER_CONFIG))
    if secrets.key is None:
        for name, secret in zip(cosign.GITHUB_OIDC_ENV,
                                (secrets.oidc_request_url, secrets.oidc_request_token)):
            ctr = ctr.with_secret_variable(name, secret)
        return ctr
    password = secrets.password or dag.set_secret("cosign-password-none", "")
    return (ctr.with_mounted_secret(COSIGN_KEY, secrets.key, owner=COSIGN_USER)
            .with_mounted_file(COSIGN_PUBLIC_KEY, secrets.public_key, owner=COSIGN_USER)
            .with_secret_variable(cosign.PASSWORD_ENV, password))


def runner(ctr: dagger.Container):
    """Run an argv in `ctr`, never from Dagger's cache (each registry step carries a nonce)."""
    async def run(argv: list[str]) -> tuple[int, str]:
        step = (ctr.with_env_variable(NONCE, str(time.time_ns()))
                .with_exec(argv, expect=ReturnType.ANY))
        return await step.exit_code(), await step.combined_output()

    return run


def reproducible(source: dagger.Directory, package: dagger.File, epoch: int) -> dagger.File:
    """The package with every entry stamped with the commit's time (same code as natively)."""
    return (tool_container("python")
            .with_mounted_file(f"{WORKDIR}/{REPRODUCIBLE}", source.file(REPRODUCIBLE))
            .with_mounted_file("/in/chart.tgz", package)
            .with_exec(["python", REPRODUCIBLE, "/in/chart.tgz", "/tmp/chart.tgz", str(epoch)])
            .file("/tmp/chart.tgz"))


async def stamped_chart(source: dagger.Directory, stamp: stamping.Provenance) -> dagger.Directory:
    """The chart directory whose Chart.yaml carries the provenance annotations."""
    chart = source.directory(CHART_DIR)
    text = await chart.file("Chart.yaml").contents()
    return chart.with_new_file("Chart.yaml", stamping.stamped_chart_yaml(text, stamp))


def helm_with_chart(chart: dagger.Directory, config: dagger.Secret) -> dagger.Container:
    return (tool_container("helm")
            .with_mounted_directory(f"{WORKDIR}/{CHART_DIR}", chart)
            .with_mounted_secret(REGISTRY_CONFIG, config))


async def publish(source: dagger.Directory, tag: str, registry: str, repository: str,
                  username: str, password: dagger.Secret,
                  lint: Callable[[], Awaitable[str | None]], signing: SigningSecrets,
                  origin: stamping.Origin) -> str:
    """`lint()` returns None when every check passed, else the failed checks."""
    version = version_from_tag(tag)
    repository = check_repository(repository)
    signing.check()
    stamp = stamping.from_origin(origin, "the Dagger source carries no .git, so pass them "
                                         "(e.g. --revision $(git rev-parse HEAD))")
    target = Target(registry, repository, version)
    config = dag.set_secret(f"helm-registry-config-{registry}",
                            registry_config(registry, username, await password.plaintext()))
    helm = helm_with_chart(await stamped_chart(source, stamp), config)
    await preflight(runner(helm), target, REGISTRY_CONFIG)  # before the lint: cheap facts first
    failed = await lint()
    if failed is not None:
        raise PublishError(f"lint failed: nothing was packaged or pushed\n{failed}")
    packaged = helm.with_exec(package_argv(version, PACKAGE_DIR), expect=ReturnType.ANY)
    if await packaged.exit_code() != 0:
        raise PublishError(f"helm package {CHART_DIR} {version}: "
                           f"{await packaged.combined_output()}")
    package = package_file(version, PACKAGE_DIR)
    pushable = packaged.with_file(package, reproducible(source, packaged.file(package),
                                                        stamp.epoch))
    return await release(runner(pushable), target, package, REGISTRY_CONFIG,
                         runner(cosign_with_secrets(config, signing)), signing.signing())
