"""A real OCI registry (distribution v3, from scripts/bootstrap) on 127.0.0.1 with basic auth."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from pipeline import toolchain


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Registry:
    host: str
    username: str
    password: str
    storage: Path  # its filesystem storage: what `running_registry(seed=...)` starts from

    def status(self, path: str, auth: bool = True) -> int:
        request = urllib.request.Request(f"http://{self.host}{path}")
        if auth:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        request.add_header("Accept", "application/vnd.oci.image.manifest.v1+json")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except urllib.error.URLError:
            return 0


@contextmanager
def running_registry(workdir: Path, username: str = "ci", password: str = "s3cret-Pa55",
                     seed: Registry | None = None):
    """A registry of its own in `workdir`. With `seed`, it starts from a copy of that
    registry's storage (its repositories, tags and signatures) and its credentials: what a
    test changes there leaves the seed as it was. Seed only from a registry nothing pushes
    to meanwhile."""
    port = free_port()
    storage = workdir / "data"
    if seed is not None:
        shutil.copytree(seed.storage, storage)
        username, password = seed.username, seed.password
    htpasswd = workdir / "htpasswd"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"{username}:{hashed}\n")
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n")
    log = open(workdir / "registry.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [str(toolchain.native_bin() / "registry"), "serve", str(config)],
        stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "OTEL_TRACES_EXPORTER": "none"})
    registry = Registry(f"127.0.0.1:{port}", username, password, storage)
    try:
        deadline = time.monotonic() + 20
        while registry.status("/v2/", auth=False) not in (200, 401):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("registry did not start: "
                                   + (workdir / "registry.log").read_text())
            time.sleep(0.1)
        yield registry
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
