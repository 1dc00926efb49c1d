"""The plan's Python checks run in the tests as the native executor runs them: forked from one
warm interpreter (pipeline.executors.warm) that imported the checks' modules, instead of a
fresh `python -m` (an interpreter's start and the imports, ~0.12 CPU-s) per run.

One server per test process, started by the first check a test runs and stopped at the
session's end (tests/conftest.py). The child is the check's own process: its argv, cwd and
stdin are the test's, its module runs as `__main__`, and its stdout and stderr are kept
apart as a subprocess's pipes are (the server's optional "errors" file). A check runs as a
subprocess instead when the server cannot start or went away, when the test's environment
is not the one the server started with (a test that set a variable), or when the argv is
not `python -m MODULE ...` of this interpreter.
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
    """This process's warm server: started once, on first use; `stop` ends it."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.directory: Path | None = None
        self.environ: dict[str, str] = {}
        self.failed = False
        self.numbers = 0

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
        self.environ = dict(os.environ)
        errors = (self.directory / "warm.stderr").open("wb")
        with errors:
            self.process = subprocess.Popen(
                [sys.executable, "-m", MODULE, str(self.directory / "warm.sock"), *self.modules()],
                cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors)
        said = b""
        deadline = time.monotonic() + START_SECONDS
        while READY not in said and time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], deadline - time.monotonic())
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

    def execute(self, argv: list[str], cwd: Path, stdin: bytes | None,
                timeout: float | None) -> tuple[int, bytes, bytes] | None:
        """(returncode, stdout, stderr) of `argv` as a forked child, or None (not served)."""
        if not self.start():
            return None
        self.numbers += 1
        files = {name: self.directory / f"{self.numbers}.{name}" for name in ("in", "out", "err")}
        if stdin is not None:
            files["in"].write_bytes(stdin)
        request = {"argv": list(argv), "cwd": str(cwd), "output": str(files["out"]),
                   "errors": str(files["err"]), "stdin": str(files["in"]) if stdin is not None else None}
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
            return status, _read(files["out"]), _read(files["err"])
        finally:
            for path in files.values():
                path.unlink(missing_ok=True)


def _status(conn: socket.socket) -> int | None:
    buffer = b""
    while True:
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            message = json.loads(line)
            if "status" in message:
                return int(message["status"])
        data = conn.recv(65536)
        if not data:
            return None
        buffer += data


def _read(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


def _text(data: bytes) -> str:
    """As subprocess's text mode decodes a pipe: the locale's encoding, universal newlines."""
    text = data.decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


SERVER = Server()
atexit.register(SERVER.stop)  # tests/conftest.py stops it at the session's end; this, if not


def run(argv: list[str], cwd: Path | None = None, input: str | None = None,
        timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(argv, cwd=cwd, input=input, capture_output=True, text=True,
    timeout=timeout)` for a `python -m` check, forked from the warm server when it can be."""
    argv = [str(a) for a in argv]
    cwd = Path.cwd() if cwd is None else Path(cwd)
    done = None
    same_environment = SERVER.process is None or os.environ == SERVER.environ
    if argv[0] == sys.executable and served(argv) and same_environment:
        stdin = input.encode(locale.getpreferredencoding(False)) if input is not None else None
        done = SERVER.execute(argv, cwd.resolve(), stdin, timeout)
    if done is None:
        return subprocess.run(argv, cwd=cwd, input=input, capture_output=True, text=True,
                              timeout=timeout)
    status, out, err = done
    return subprocess.CompletedProcess(argv, status, _text(out), _text(err))


def stop() -> None:
    SERVER.stop()
