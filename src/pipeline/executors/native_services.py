"""The native executor's services: local processes on free loopback ports, for one run.

`running(services, locate)` starts each service the selected checks need, yields
what their argv placeholders become, and stops everything when the run ends, also
on a failing check, an exception or Ctrl-C (cancellation unwinds through it).
Each process also gets PR_SET_PDEATHSIG (SIGKILL): if the lint process itself is
killed, the kernel ends the servers too. A service that cannot start turns the
checks that need it into errors; the other checks still run.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from pipeline.plan.model import Check, Service
from pipeline.plan.services import unavailable

# (argv, tool) -> the argv with its binary located; raises when the tool is not installed.
Locate = Callable[[tuple[str, ...], str], list[str]]
START_ATTEMPTS = 3  # a free port taken by someone else between probe and bind: new ports
PR_SET_PDEATHSIG = 1


class ServiceError(Exception):
    """A service did not start; the message says why (the tool missing, its log tail)."""


@dataclass
class Started:
    """What the checks see: placeholder values of the running services, errors of the others."""

    fills: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    settled: dict[str, anyio.Event] = field(default_factory=dict)  # started or failed

    async def wait(self, names: tuple[str, ...]) -> None:
        """Until each named service is up or has failed to start."""
        for name in names:
            if name in self.settled:
                await self.settled[name].wait()

    def unavailable(self, check: Check) -> str | None:
        return unavailable(check, self.errors)


@contextlib.asynccontextmanager
async def running(services: list[Service], locate: Locate) -> AsyncIterator[Started]:
    """Start the services in the background (checks that need none run meanwhile); stop
    them when the block ends."""
    started = Started(settled={service.name: anyio.Event() for service in services})
    done = anyio.Event()
    async with anyio.create_task_group() as group:
        for service in services:
            group.start_soon(_serve, service, locate, started, done)
        try:
            yield started
        finally:
            done.set()


async def _serve(service: Service, locate: Locate, started: Started, done: anyio.Event) -> None:
    try:
        async with STARTERS[service.name](locate) as value:
            started.fills[service.placeholder] = value
            started.settled[service.name].set()
            await done.wait()
    except (ServiceError, OSError, subprocess.CalledProcessError) as error:
        started.errors[service.name] = str(error)
    finally:
        started.settled[service.name].set()


_PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # looked up before any fork


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(argv: list[str], log: Path) -> subprocess.Popen:
    """A server process in its own session (Ctrl-C reaches lint, which stops it in order)."""
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_die_with_parent)


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGKILL, newest first, and reap. The servers hold nothing worth a graceful shutdown
    (a throwaway store, no client left); kube-apiserver's own drain takes about 2 s."""
    for process in reversed(processes):
        if process.poll() is None:
            process.kill()
        process.wait()


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return "\n".join(text[-lines:]) or "(empty log)"


@contextlib.asynccontextmanager
async def kube_apiserver(locate: Locate) -> AsyncIterator[str]:
    """etcd + kube-apiserver on loopback; yields the kubeconfig's path."""
    from pipeline.kubeapi import server  # urllib, ssl, http: only a run that needs the server
    work = Path(tempfile.mkdtemp(prefix="dpp-kube-apiserver-"))
    processes: list[subprocess.Popen] = []
    try:
        credentials = work / "credentials"
        server.make_credentials(credentials)
        url = await _start_kube_apiserver(locate, work, credentials, processes)
        yield str(server.write_kubeconfig(credentials, url))
    finally:
        stop(processes)
        shutil.rmtree(work, ignore_errors=True)


async def _start_kube_apiserver(locate: Locate, work: Path, credentials: Path,
                                processes: list[subprocess.Popen]) -> str:
    from pipeline.kubeapi import server

    for attempt in range(1, START_ATTEMPTS + 1):
        etcd_port, peer_port, api_port = free_ports(3)
        etcd_log, api_log = work / f"etcd-{attempt}.log", work / f"kube-apiserver-{attempt}.log"
        etcd = spawn(locate(tuple(server.etcd_argv(str(work / f"etcd-{attempt}"), "127.0.0.1",
                                                   etcd_port, peer_port)), "etcd"), etcd_log)
        processes.append(etcd)
        api = spawn(locate(tuple(server.apiserver_argv(
            str(credentials), f"http://127.0.0.1:{etcd_port}", "127.0.0.1", api_port)),
            "kube-apiserver"), api_log)
        processes.append(api)
        url = f"https://127.0.0.1:{api_port}"

        def ended() -> str | None:
            for name, process, log in (("etcd", etcd, etcd_log), ("kube-apiserver", api, api_log)):
                if process.poll() is not None:
                    return f"{name} exited with {process.returncode}:\n{tail(log)}"
            return None

        try:
            await anyio.to_thread.run_sync(server.wait_ready, url, credentials / server.CERT,
                                           server.token(credentials),
                                           server.READY_TIMEOUT_SECONDS, ended,
                                           abandon_on_cancel=True)
            return url
        except server.NotReady as error:
            stop([etcd, api])
            if "address already in use" not in str(error) or attempt == START_ATTEMPTS:
                raise ServiceError(f"{error}\nkube-apiserver log:\n{tail(api_log)}") from None
    raise AssertionError("unreachable")


STARTERS = {"kube-apiserver": kube_apiserver}
