"""The Dagger executor's services: containers from the pinned images, bound by hostname.

`running(services)` builds each service the selected checks need, starts it
explicitly (so one instance serves every check of the run rather than one per
check), yields how a check container is bound to it, and stops it afterwards, also
on failure or cancellation. The argv is pipeline/kubeapi/server.py's, as natively.

Credentials (serving cert and key, service-account key, static token, kubeconfig)
are made by the same `server.make_credentials` in this function's own process and
reach containers only as mounted Dagger secrets: never in a layer, an argv or a
cache key that outlives the session.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import dagger
from dagger import dag

from pipeline import toolchain
from pipeline.kubeapi import server
from pipeline.plan.model import Check, Service

CREDENTIALS = "/credentials"
ETCD_ALIAS, ETCD_PORT, ETCD_PEER_PORT = "etcd", 2379, 2380
APISERVER_ALIAS, APISERVER_PORT = "kube-apiserver", 6443


@dataclass(frozen=True)
class Bound:
    """A service as checks see it: its placeholder's value and how to attach a container."""

    placeholder: str
    value: str
    attach: Callable[[dagger.Container], dagger.Container]
    services: tuple[dagger.Service, ...]  # started in this order, stopped in reverse


@dataclass
class Started:
    """The services of this run: bound ones, and why the others did not start."""

    bound: dict[str, Bound] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def attach(self, check: Check, ctr: dagger.Container) -> dagger.Container:
        for name in check.services:
            ctr = self.bound[name].attach(ctr)
        return ctr

    def fill(self, arg: str) -> str:
        for bound in self.bound.values():
            arg = arg.replace(bound.placeholder, bound.value)
        return arg


@contextlib.asynccontextmanager
async def running(services: list[Service]) -> AsyncIterator[Started]:
    """Start each service once for the whole run; stop all of them at the end, whatever happens."""
    started = Started()
    running_now: list[dagger.Service] = []
    try:
        for service in services:
            try:
                bound = BUILDERS[service.name](service.placeholder)
                for instance in bound.services:
                    await instance.start()
                    running_now.append(instance)
            # e.g. an image that cannot be pulled, openssl missing for the credentials
            except (dagger.DaggerError, OSError, subprocess.CalledProcessError) as error:
                started.errors[service.name] = str(error)
            else:
                started.bound[service.name] = bound
        yield started
    finally:
        with anyio.CancelScope(shield=True):
            for instance in reversed(running_now):
                with contextlib.suppress(dagger.DaggerError):
                    await instance.stop()


def service_argv(tool: str, argv: list[str]) -> list[str]:
    """argv with its binary at the path the tool's image keeps it."""
    return [toolchain.tool(tool).image_binary or argv[0], *argv[1:]]


def credentials() -> dict[str, dagger.Secret]:
    """The server's credentials as Dagger secrets, one per file."""
    with tempfile.TemporaryDirectory(prefix="dpp-kube-apiserver-") as work:
        directory = Path(work)
        server.make_credentials(directory)
        server.write_kubeconfig(directory, f"https://{APISERVER_ALIAS}:{APISERVER_PORT}")
        return {name: dag.set_secret(f"kube-apiserver-{name}", (directory / name).read_text())
                for name in (server.CERT, server.KEY, server.SA_KEY, server.TOKENS, server.KUBECONFIG)}


def mount(ctr: dagger.Container, secrets: dict[str, dagger.Secret], *names: str) -> dagger.Container:
    for name in names:
        ctr = ctr.with_mounted_secret(f"{CREDENTIALS}/{name}", secrets[name])
    return ctr


def kube_apiserver(placeholder: str) -> Bound:
    """etcd and kube-apiserver from their official images; checks reach it as `kube-apiserver`."""
    secrets = credentials()
    etcd = (dag.container().from_(toolchain.tool("etcd").image_ref)
            .with_exposed_port(ETCD_PORT)
            .as_service(args=service_argv("etcd", server.etcd_argv(
                "/var/lib/etcd", "0.0.0.0", ETCD_PORT, ETCD_PEER_PORT))))
    apiserver = (mount(dag.container().from_(toolchain.tool("kube-apiserver").image_ref), secrets,
                       server.CERT, server.KEY, server.SA_KEY, server.TOKENS)
                 .with_service_binding(ETCD_ALIAS, etcd)
                 .with_exposed_port(APISERVER_PORT)
                 .as_service(args=service_argv("kube-apiserver", server.apiserver_argv(
                     CREDENTIALS, f"http://{ETCD_ALIAS}:{ETCD_PORT}", "0.0.0.0", APISERVER_PORT))))

    def attach(ctr: dagger.Container) -> dagger.Container:
        return mount(ctr.with_service_binding(APISERVER_ALIAS, apiserver), secrets,
                     server.CERT, server.KUBECONFIG)

    return Bound(placeholder=placeholder, value=f"{CREDENTIALS}/{server.KUBECONFIG}", attach=attach,
                 services=(etcd, apiserver))


BUILDERS = {"kube-apiserver": kube_apiserver}
