"""`dagger call publish`: the release sequence (`publish.core`) in Dagger's containers.

helm and cosign run in their pinned images. The credentials reach helm only as a
mounted secret file (a docker-style registry config), never as argv, plain env or a
layer; every registry step carries a nonce so Dagger never serves it from cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import dagger
from dagger import ReturnType, dag

from pipeline import layout
from pipeline.executors.dagger import WORKDIR, module_code, tool_container
from pipeline.publish import (REGISTRY_CONFIG, package_argv, package_failure, package_file,
                              registry_config, version_from_tag)
from pipeline.publish import provenance as stamping
from pipeline.publish import signing as cosign
from pipeline.publish.core import Lint, ToolRun, publish_release, release_target

PACKAGE_DIR = "/out"
NONCE = "DPP_PUBLISH_NONCE"
# cosign's image runs as distroless' nonroot user (.ko.yaml: static-debian12:nonroot); the
# mounted secrets must be readable by it.
COSIGN_USER = "65532"
COSIGN_DOCKER_CONFIG = "/run/secrets/docker"
COSIGN_KEY = "/run/secrets/cosign.key"
COSIGN_PUBLIC_KEY = "/run/secrets/cosign.pub"
# The module's own repack script (stdlib only), never a copy in the tree being published.
REPACK_SCRIPT = "/run/publish/reproducible.py"


async def packaged(chart: dagger.Directory, version: str) -> dagger.File:
    """`helm package` of the chart directory with `version`: the .tgz, kept in the engine."""
    done = (tool_container("helm").with_mounted_directory(f"{WORKDIR}/{layout.CHART}", chart)
            .with_exec(package_argv(version, PACKAGE_DIR), expect=ReturnType.ANY))
    if await done.exit_code() != 0:
        raise package_failure(version, await done.combined_output())
    return done.file(package_file(version, PACKAGE_DIR))


async def package_of_tag(source: dagger.Directory, tag: str) -> dagger.File:
    """`dagger call package`: the chart .tgz of a release tag, by the packaging step publish
    runs (publish packages its provenance-stamped Chart.yaml and fixes the timestamps)."""
    return await packaged(source.directory(layout.CHART), version_from_tag(tag))


def registry_helm(config: dagger.Secret, registry: str,
                  service: dagger.Service | None) -> dagger.Container:
    """helm with only the registry config (and the registry's service bound under its host
    name, if given): all a registry step needs besides the package."""
    ctr = tool_container("helm").with_mounted_secret(REGISTRY_CONFIG, config)
    if service is not None:
        ctr = ctr.with_service_binding(registry.rsplit(":", 1)[0], service)
    return ctr


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


async def uncached(ctr: dagger.Container, argv: list[str]) -> ToolRun:
    """Run an argv in `ctr`, never from Dagger's cache (each registry step carries a nonce)."""
    step = (ctr.with_env_variable(NONCE, str(time.time_ns()))
            .with_exec(argv, expect=ReturnType.ANY))
    return await step.exit_code(), await step.combined_output()


def reproducible(package: dagger.File, epoch: int) -> dagger.File:
    """The package with every entry stamped with the commit's time (same code as natively)."""
    return (tool_container("python")
            .with_mounted_file(REPACK_SCRIPT, module_code().file("publish/reproducible.py"))
            .with_mounted_file("/in/chart.tgz", package)
            .with_exec(["python", REPACK_SCRIPT, "/in/chart.tgz", "/tmp/chart.tgz", str(epoch)])
            .file("/tmp/chart.tgz"))


@dataclass
class DaggerSteps:
    """`publish.core.Steps` in containers: the registry steps in helm's image with only the
    registry config (and, once packaged, the package) mounted; signing in cosign's image."""

    source: dagger.Directory
    helm: dagger.Container
    cosign: dagger.Container
    registry_config: str = REGISTRY_CONFIG
    helm_with_package: dagger.Container | None = None

    async def read_chart_yaml(self) -> str:
        return await self.source.directory(layout.CHART).file("Chart.yaml").contents()

    async def package(self, chart_yaml: str, version: str, epoch: int) -> str:
        chart = self.source.directory(layout.CHART).with_new_file("Chart.yaml", chart_yaml)
        package = reproducible(await packaged(chart, version), epoch)
        path = package_file(version, PACKAGE_DIR)
        self.helm_with_package = self.helm.with_mounted_file(path, package)
        return path

    async def ask_registry(self, argv: list[str]) -> ToolRun:
        return await uncached(self.helm, argv)

    async def push(self, argv: list[str]) -> ToolRun:
        if self.helm_with_package is None:
            raise RuntimeError("publish.core pushed before packaging: nothing to push")
        return await uncached(self.helm_with_package, argv)

    async def sign(self, argv: list[str]) -> ToolRun:
        return await uncached(self.cosign, argv)


async def publish_in_containers(source: dagger.Directory, tag: str, registry: str,
                                repository: str, username: str, password: dagger.Secret,
                                lint: Lint, signing: SigningSecrets, origin: stamping.Origin,
                                plain_http: bool = False,
                                registry_service: dagger.Service | None = None) -> str:
    """Validate every input, make the registry config a secret, then run the release
    sequence; return the signed reference line. `lint()` returns None when every check
    passed, else the failed checks. `registry_service` is bound under the registry's host
    name (e.g. a registry on the host as tcp://localhost:5000, reached as registry:5000)."""
    target = release_target(tag, registry, repository, plain_http)
    signing.check()
    stamp = stamping.from_origin(origin, "the Dagger source carries no .git, so pass them "
                                         "(e.g. --revision $(git rev-parse HEAD))")
    config = dag.set_secret(f"helm-registry-config-{registry}",
                            registry_config(registry, username, await password.plaintext()))
    steps = DaggerSteps(source, registry_helm(config, registry, registry_service),
                        cosign_with_secrets(config, signing))
    return await publish_release(steps, target, stamp, signing.signing(), lint)
