"""The plan's Python checks run in the tests as the native executor runs them: forked from one
warm interpreter (pipeline.executors.warm) that imported the checks' modules, instead of a
fresh `python -m` (an interpreter's start and the imports, ~0.12 CPU-s) per run.

A test process has at most two servers, each started by the first check that needs it and
stopped at the session's end (tests/conftest.py): one with the tests' environment (`run`,
for what a test ran as `subprocess.run`) and one with the native executor's
(`native.environment()`: `for_executor`, for what a test runs through `native.run_check`).
The child is the check's own process: its argv, cwd and stdin are the test's, its module
runs as `__main__`; `run` keeps its stdout and stderr apart as a subprocess's pipes are (the
server's optional "errors" file), the executor gets them as one file, as from its own
server. A check runs as a subprocess instead when the server cannot start or went away,
when the environment is neither of those two (a test that set a variable), or when the
argv is not `python -m MODULE ...` of this interpreter.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import locale
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.executors.warm import MODULE, READY, served

START_SECONDS = 60  # a server not ready by then is not used (the tests run subprocesses)


class Server:
    """A warm server with one environment: started once, on first use; `stop` ends it."""

    def __init__(self, environ: dict[str, str]) -> None:
        self.process: subprocess.Popen | None = None
        self.directory: Path | None = None
        self.environ = environ
        self.failed = False
        self.numbers = 0  # the requests made so far (their files' names)
        self.served = 0  # the checks that ran forked and gave a status

    def modules(self) -> list[str]:
        """Every module a `python -m` check of the plan runs (what the executor preloads)."""
        from pipeline.plan import Tree, build

        from tests.support.repo import REPO

        return sorted({m for m in (served(c.argv) for c in build(Tree.from_path(REPO))) if m})

    def start(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        if self.failed:
            return False
        from tests.support.repo import REPO

        self.directory = Path(tempfile.mkdtemp(prefix="dpp-test-warm-"))
        errors = (self.directory / "warm.stderr").open("wb")
        with errors:
            self.process = subprocess.Popen(
                [sys.executable, "-m", MODULE, str(self.directory / "warm.sock"), *self.modules()],
                cwd=REPO, env=self.environ, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=errors)
        said = b""
        deadline = time.monotonic() + START_SECONDS
        while READY not in said and time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [],
                                        max(0.0, deadline - time.monotonic()))
            chunk = os.read(self.process.stdout.fileno(), 4096) if ready else b""
            if not chunk:
                break
            said += chunk
        if READY not in said:
            self.stop()
            self.failed = True
            return False
        return True

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()  # the server kills what still runs, and exits
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def execute(self, argv: list[str], cwd: Path, stdin: bytes | None, timeout: float | None,
                apart: bool = True) -> tuple[int, bytes, bytes] | None:
        """(returncode, stdout, stderr) of `argv` as a forked child, or None (not served);
        not `apart`: stdout and stderr in order in the first, as the executor's server gives."""
        if not self.start():
            return None
        self.numbers += 1
        files = {name: self.directory / f"{self.numbers}.{name}" for name in ("in", "out", "err")}
        if stdin is not None:
            files["in"].write_bytes(stdin)
        request = {"argv": list(argv), "cwd": str(cwd), "output": str(files["out"]),
                   "stdin": str(files["in"]) if stdin is not None else None}
        if apart:
            request["errors"] = str(files["err"])
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                try:
                    conn.connect(str(self.directory / "warm.sock"))
                except OSError:
                    return None
                conn.settimeout(timeout)
                conn.sendall(json.dumps(request).encode() + b"\n")
                try:
                    status = _status(conn)
                except TimeoutError:  # closing the connection makes the server kill the child
                    raise subprocess.TimeoutExpired(argv, timeout) from None
            if status is None:  # the server went away mid-check
                return None
            self.served += 1
            return status, _read(files["out"]), _read(files["err"])
        finally:
            for path in files.values():
                path.unlink(missing_ok=True)


def _environment(environ: dict[str, str] | os._Environ) -> dict[str, str]:
    """The environment a check would get, but for pytest's own per-test marker (which no
    check reads, and which changes at every test's every phase)."""
    return {k: v for k, v in environ.items() if k != "PYTEST_CURRENT_TEST"}


def _status(conn: socket.socket) -> int | None:
    """The child's returncode, or None when the server closed the connection first."""
    with conn.makefile("rb") as lines:
        for line in lines:
            message = json.loads(line)
            if "status" in message:
                return int(message["status"])
    return None


def _read(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


def _text(data: bytes) -> str:
    """As subprocess's text mode decodes a pipe: the locale's encoding, universal newlines."""
    text = data.decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


SERVERS: list[Server] = []  # the tests' environment's, the executor's (made on first use)


def begin() -> None:
    """The session's two environments, as they are when it starts (tests/conftest.py), before
    any test sets a variable (its checks then run as subprocesses)."""
    from pipeline.executors import native

    stop()
    SERVERS[:] = [Server(_environment(env)) for env in (os.environ, native.environment())]


def server(environ: dict[str, str] | os._Environ) -> Server | None:
    """The server for `environ`, if it is the session's or the executor's, else None."""
    if not SERVERS:
        begin()
    wanted = _environment(environ)
    return next((s for s in SERVERS if s.environ == wanted), None)


def forked() -> int:
    """How many checks the servers ran (the tests of this module count with it)."""
    return sum(s.served for s in SERVERS)


def run(argv: list[str], cwd: Path | None = None, input: str | None = None,
        timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(argv, cwd=cwd, input=input, capture_output=True, text=True,
    timeout=timeout)` for a `python -m` check, forked from the warm server when it can be."""
    argv = [str(a) for a in argv]
    cwd = Path.cwd() if cwd is None else Path(cwd)
    done = None
    warm = server(os.environ)
    if argv[0] == sys.executable and served(argv) and warm is not None:
        stdin = input.encode(locale.getpreferredencoding(False)) if input is not None else None
        done = warm.execute(argv, cwd.resolve(), stdin, timeout)
    if done is None:
        return subprocess.run(argv, cwd=cwd, input=input, capture_output=True, text=True,
                              timeout=timeout)
    status, out, err = done
    return subprocess.CompletedProcess(argv, status, _text(out), _text(err))


class ForExecutor:
    """What the native executor's `run_check(..., python=)` takes (warm.WarmPython's two
    calls), over this process's server of the executor's environment: a check's child, its
    output as one file, or None (the executor runs a subprocess)."""

    def __init__(self, warm: Server) -> None:
        self.warm = warm

    async def ready(self, within: float = START_SECONDS) -> bool:
        return self.warm.start()

    async def execute(self, argv: list[str], cwd: Path,
                      stdin: bytes | None = None) -> tuple[int, bytes] | None:
        from pipeline.executors.native import CHECK_TIMEOUT_SECONDS

        try:
            done = self.warm.execute(argv, cwd, stdin, CHECK_TIMEOUT_SECONDS, apart=False)
        except subprocess.TimeoutExpired:  # the executor's own timeout says the same
            raise TimeoutError from None
        return None if done is None else done[:2]


def for_executor(environ: dict[str, str]) -> ForExecutor | None:
    """The `python` handle for `native.run_check` with `environ` (None: it runs subprocesses)."""
    warm = server(environ)
    return None if warm is None else ForExecutor(warm)


def stop() -> None:
    for warm in SERVERS:
        warm.stop()


atexit.register(stop)  # tests/conftest.py stops them at the session's end; this, if not
