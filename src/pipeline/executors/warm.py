"""Python checks in one warm interpreter: a fork server that imported the checks' modules.

About half of the plan's checks are `python -m <module> ARGS`, and each paid the
interpreter's start and its imports (yaml, the pipeline's models) before doing its work.
The native executor starts this server once per run, overlapped with the first renders:
it imports every module the run's Python checks name, then forks one child per check.
The child is the check's own process, as `python -m` would have made it:

- its stdin, stdout and stderr are files (stdout and stderr one file, in order, as the
  executor's merged pipe was), its cwd the checked tree, `sys.argv` the module's path and
  ARGS, and the module runs as `__main__` (runpy, as `python -m` does);
- its exit code is the module's (SystemExit, 1 and a traceback for an exception, killed by
  SIGINT for an uncaught KeyboardInterrupt), reported like a subprocess's returncode;
- its stdin is parsed once in the server before the fork, per distinct content: 27 checks
  read the same 3 renders, and each child takes the documents it inherits instead of
  parsing them again (parse_ahead, model.kube.parse_ahead); what it would have parsed, the
  same documents or the same error, only faster;
- a crash, a hang or a Ctrl-C stays in that child: the server ignores SIGINT and outlives
  it, a timeout or a cancelled run closes the request's connection and the server kills
  the child; when the executor goes away (its pipe to our stdin closes), the server kills
  what still runs and exits.

Single-threaded (selectors over the listener, the connections, one pidfd per child and
stdin), so a fork never copies a lock another thread held. The executor keys on the
plan's argv (`python -m <module> ...`, plan.model.python_check), not on module names, and
falls back to a subprocess when the server is not there.

Protocol, one JSON object per line on a Unix socket: the client sends
{"argv": [...], "cwd": ..., "stdin": path|null, "output": path}; the server answers
{"pid": N} once forked and {"status": RETURNCODE} when the child has ended. An optional
"errors": path takes stderr apart from stdout (the tests' client, tests/support/warmchecks.py,
keeps the streams apart as a subprocess's pipes do).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import importlib.util
import itertools
import json
import os
import re
import runpy
import selectors
import signal
import socket
import subprocess
import sys
import traceback
import types
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import anyio.abc

# anyio is the client's (the executor's, which has it imported): the server, a
# `python -m` of its own at every run, never loads it.

MODULE = "pipeline.executors.warm"  # the server's own `python -m` name
READY = b"ready\n"
START_SECONDS = 120  # to import the checks' modules; a server slower than that is not used
MAIN_GUARD = re.compile(r"""^if __name__ == ["']__main__["']:""", re.MULTILINE)


def served(argv: Iterable[str]) -> str | None:
    """The module a `python -m <module> ...` argv runs, or None (e.g. `python -c`)."""
    argv = tuple(argv)
    if len(argv) >= 3 and argv[1] == "-m" and not argv[2].startswith("-"):
        return argv[2]
    return None


# --- the server ------------------------------------------------------------------------------

def exit_code(stop: SystemExit) -> int:
    """What the interpreter makes of a SystemExit (Python's handle_system_exit)."""
    code = stop.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def run_module(module: str, args: list[str]) -> int:
    """`python -m module ARGS` in this (forked) process: the module's exit code.

    runpy._run_module_as_main is what the interpreter's `-m` calls: the module runs in a
    fresh `__main__` with its file as argv[0], and a traceback shows the same frames."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.argv = ["-m", *args]
    sys.modules["__main__"] = types.ModuleType("__main__")
    # `-m` runs the module afresh: preloaded (or imported by another check's module), only
    # its imports stay (runpy warns when the module is in sys.modules already).
    sys.modules.pop(module, None)
    try:
        runpy._run_module_as_main(module, alter_argv=True)
        code = 0
    except SystemExit as stop:
        code = exit_code(stop)
    except KeyboardInterrupt as stop:
        print_from_module(stop)
        finish()
        # As the interpreter does: die by SIGINT, so the parent sees the signal.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        code = 130
    except BaseException as crash:  # noqa: BLE001 - the module's own crash: its traceback, exit 1
        print_from_module(crash)
        code = 1
    finish()
    return code


def print_from_module(error: BaseException) -> None:
    """The traceback `python -m` prints: from runpy's frames on, without this module's."""
    traceback.print_exception(type(error), error, error.__traceback__.tb_next)


def finish() -> None:
    """What interpreter shutdown does that os._exit skips: atexit handlers, flushed stdio."""
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()


def child(request: dict) -> int:
    """In the forked child: its own process group (a kill takes what it started too), the
    request's files as stdio (output first, so a failure below is reported there), its cwd,
    then the module."""
    os.setpgid(0, 0)
    output = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(output, 2)
    os.chdir(request["cwd"])
    sys.path[0] = os.getcwd()  # `python -m` puts the cwd first
    stdin = os.open(request["stdin"] or os.devnull, os.O_RDONLY)
    errors = output  # one file, in order; a client that keeps the streams apart names another
    if request.get("errors"):
        errors = os.open(request["errors"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for fd, target in ((stdin, 0), (output, 1), (errors, 2)):
        os.dup2(fd, target)
    for fd in {stdin, output, errors}:
        os.close(fd)
    argv = request["argv"]
    return run_module(served(argv) or "", list(argv[3:]))


def fork(request: dict, close: list) -> int:
    """The child's pid; the child itself never returns from here."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        for thing in close:
            thing.close()
        code = child(request)
    except BaseException:  # the child's setup failed (a cwd or stdin that is not there)
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(code & 0xFF)


def parse_ahead(request: dict) -> None:
    """Parse the request's stdin before the fork, once per distinct content, so the check's
    child inherits the documents instead of parsing them (model.kube.parse_ahead: keyed by
    the SHA-256 of the exact text, taken once). Decoded as the child's sys.stdin decodes it
    (its encoding and errors, no newline translation on POSIX); only when a served module
    imported the parser, else no check of the run reads with it."""
    kube = sys.modules.get("pipeline.model.kube")
    if kube is None or not request.get("stdin"):
        return
    with contextlib.suppress(Exception):  # unreadable: the child reports it, as it would have
        data = Path(request["stdin"]).read_bytes()
        kube.parse_ahead(data.decode(sys.stdin.encoding, sys.stdin.errors))


class Fd(int):
    def close(self) -> None:
        os.close(self)


def preload(modules: list[str]) -> None:
    """Import the modules whose work is under a `__main__` guard (in their source), and so
    what they import; one that works when imported is never imported here (it must not
    run in the server). An import that fails is left to the check's own run to report;
    what an import prints goes to our stderr, never onto the protocol's stdout."""
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        for name in modules:
            with contextlib.suppress(BaseException):
                spec = importlib.util.find_spec(name)
                origin = Path(spec.origin) if spec and spec.origin else None
                if origin and origin.suffix == ".py" and MAIN_GUARD.search(origin.read_text()):
                    importlib.import_module(name)
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def send(conn: socket.socket, message: dict) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(message).encode() + b"\n")


def serve(path: str, modules: list[str]) -> None:
    """Import `modules`, listen on `path`, fork a child per request until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the checks', not ours
    preload(modules)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, ("accept",))
    with contextlib.suppress(PermissionError):  # a pipe from the executor; not a file or tty
        selector.register(0, selectors.EVENT_READ, ("parent",))
    buffers: dict[socket.socket, bytes] = {}
    running: dict[socket.socket, int] = {}  # connection -> its child's pid
    pidfds: dict[int, int] = {}  # pid -> pidfd
    os.write(1, READY)

    def drop(conn: socket.socket) -> None:
        selector.unregister(conn)
        buffers.pop(conn, None)
        conn.close()

    def kill(pid: int) -> None:
        """The child and what it started (its process group)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    forked: set[int] = set()  # every child not yet reaped
    try:
        answer(selector, listener, buffers, running, pidfds, forked, drop, kill)
    finally:  # done, or the server itself failed: no child outlives it
        for pid in forked:
            kill(pid)
        for pid in forked:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def answer(selector, listener, buffers, running, pidfds, forked, drop, kill) -> None:
    """The server's loop: a child per request, its status back, until stdin closes."""
    while True:
        for key, _ in selector.select():
            kind = key.data[0]
            if kind == "parent":
                if not os.read(0, 4096):  # the executor is gone or done: serve() kills the rest
                    return
            elif kind == "accept":
                conn, _ = listener.accept()
                buffers[conn] = b""
                selector.register(conn, selectors.EVENT_READ, ("conn", conn))
            elif kind == "conn":
                conn = key.data[1]
                try:
                    data = conn.recv(65536)
                except OSError:  # reset by a client that went away: the same as closed
                    data = b""
                if not data:  # a timeout or a cancelled run: the check's child goes too
                    if conn in running:
                        kill(running.pop(conn))
                    drop(conn)
                    continue
                buffers[conn] += data
                if conn in running or b"\n" not in buffers[conn]:
                    continue
                line, buffers[conn] = buffers[conn].split(b"\n", 1)  # one request, once
                request = json.loads(line)
                parse_ahead(request)
                pid = fork(request, [selector, listener, *buffers, *map(Fd, pidfds.values())])
                forked.add(pid)
                pidfd = os.pidfd_open(pid)
                pidfds[pid] = pidfd
                running[conn] = pid
                selector.register(pidfd, selectors.EVENT_READ, ("child", pid, conn))
                send(conn, {"pid": pid})
            elif kind == "child":
                _, pid, conn = key.data
                selector.unregister(pidfds[pid])
                os.close(pidfds.pop(pid))
                _, status = os.waitpid(pid, 0)
                forked.discard(pid)
                if running.get(conn) == pid:
                    del running[conn]
                    send(conn, {"status": os.waitstatus_to_exitcode(status)})


# --- the client (the native executor's side) --------------------------------------------------

class WarmPython:
    """The executor's handle on the server: `execute` runs one `python -m` check in it."""

    def __init__(self, directory: Path, process: anyio.abc.Process):
        import anyio

        self.directory = directory  # private to the run (mode 0700)
        self.socket = directory / "warm.sock"
        self.process = process
        self.up: bool | None = None  # not known until the server says it is ready
        self._lock = anyio.Lock()
        self._numbers = itertools.count(1)

    async def ready(self, within: float = START_SECONDS) -> bool:
        """Whether the server imported its modules and listens (waited for once, at most
        `within` seconds: a server that does not come up is not used)."""
        import anyio

        async with self._lock:
            if self.up is None:
                said = b""
                with anyio.move_on_after(within), contextlib.suppress(
                        anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    while READY not in said:
                        said += await self.process.stdout.receive()
                self.up = READY in said
        return self.up

    async def execute(self, argv: list[str], cwd: Path,
                      stdin: bytes | None = None) -> tuple[int, bytes] | None:
        """(returncode, stdout and stderr in order) of `argv` as a forked child, or None
        when the server is not up (the caller runs a subprocess instead)."""
        import anyio

        if not await self.ready():
            return None
        number = next(self._numbers)
        output = self.directory / f"warm-{number}.out"
        given = None
        if stdin is not None:
            given = self.directory / f"warm-{number}.in"
            given.write_bytes(stdin)
        try:
            try:
                stream = await anyio.connect_unix(self.socket)
            except OSError:
                return None
            async with stream:
                await stream.send(json.dumps({"argv": list(argv), "cwd": str(cwd),
                                              "stdin": str(given) if given else None,
                                              "output": str(output)}).encode() + b"\n")
                status = await _status(stream)
            if status is None:  # the server went away mid-check: run it as a subprocess
                return None
            return status, output.read_bytes() if output.exists() else b""
        finally:
            output.unlink(missing_ok=True)
            if given is not None:
                given.unlink(missing_ok=True)


async def _status(stream) -> int | None:
    import anyio

    buffer = b""
    while True:
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            message = json.loads(line)
            if "status" in message:
                return int(message["status"])
        try:
            buffer += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return None


@contextlib.asynccontextmanager
async def started(modules: Iterable[str], root: Path, env: dict[str, str],
                  directory: Path) -> AsyncIterator[WarmPython | None]:
    """The server for a run's `modules` (one per `python -m` check), importing them while
    the run starts; stopped (its children killed) when the run ends. None for fewer than
    two checks: one check gains nothing from a warm start it pays for itself."""
    import anyio

    modules = list(modules)
    if len(modules) < 2:
        yield None
        return
    modules = sorted(set(modules))
    errors = (directory / "warm.stderr").open("wb")  # an import's warnings, never a pipe's limit
    try:
        process = await anyio.open_process(
            [sys.executable, "-m", MODULE, str(directory / "warm.sock"), *modules], cwd=root,
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors)
    except BaseException:
        errors.close()
        raise
    try:
        yield WarmPython(directory, process)
    finally:
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await process.stdin.aclose()  # the server kills what still runs, and exits
            with anyio.move_on_after(5) as scope:
                await process.wait()
            if scope.cancelled_caught:
                process.kill()
                await process.wait()
            await process.aclose()
            errors.close()


def main() -> None:
    serve(sys.argv[1], sys.argv[2:])


if __name__ == "__main__":
    main()
