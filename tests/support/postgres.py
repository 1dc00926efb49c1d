"""A real PostgreSQL server for tests: initdb into a temp dir, served on a free loopback port.

PostgreSQL refuses to run as root, so as root the data directory belongs to the `postgres`
user (Debian's package creates it) and every server command runs through `su postgres`.
The binaries come from PATH or Debian's /usr/lib/postgresql/<major>/bin (scripts/test
installs Debian's `postgresql` package where neither has them). Local socket connections
are trusted (setup only); TCP connections need a password (scram-sha-256), as in a cluster.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.smoke.native import free_port


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def bindir() -> Path:
    found = shutil.which("initdb")
    if found:  # the real directory: a symlinked initdb (the machine image) has psql beside it there
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    raise PostgresUnavailable("no initdb on PATH or in /usr/lib/postgresql/*/bin "
                              "(scripts/test installs Debian's postgresql package)")


@dataclass
class Postgres:
    """A running server: its port, socket directory and the command prefix to run as its owner."""

    root: Path
    port: int
    bin: Path
    as_owner: list[str]

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    def _run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        command = " ".join(shlex.quote(a) for a in argv)
        full = [*self.as_owner, command] if self.as_owner else ["/bin/sh", "-c", command]
        return subprocess.run(full, capture_output=True, text=True, timeout=120, **kwargs)

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = self._run([str(self.bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
                          str(self.socket_dir), "-p", str(self.port), "-U", "postgres", "-d", database,
                          "-c", sql])
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr}")
        return done.stdout

    def stop(self) -> None:
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)


def start() -> Postgres:
    binaries = bindir()
    root = Path(tempfile.mkdtemp(prefix="dpp-pg-"))
    (root / "socket").mkdir()
    as_owner: list[str] = []
    if os.geteuid() == 0:
        for path in (root, root / "socket"):
            shutil.chown(path, "postgres", "postgres")
        as_owner = ["su", "postgres", "-s", "/bin/sh", "-c"]
    server = Postgres(root=root, port=free_port(), bin=binaries, as_owner=as_owner)
    done = server._run([str(binaries / "initdb"), "-D", str(root / "data"), "-U", "postgres",
                        "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"])
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {done.stderr}")
    options = (f"-c listen_addresses=127.0.0.1 -p {server.port} -k {root / 'socket'} "
               "-c fsync=off -c shared_buffers=16MB -c max_connections=20")
    done = server._run([str(binaries / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"),
                        "-o", options, "-w", "-t", "60", "start"])
    if done.returncode != 0:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {done.stderr}{log}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            server.psql("SELECT 1")
            return server
        except RuntimeError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError("PostgreSQL did not accept connections within 30 s")
