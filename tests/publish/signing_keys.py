"""cosign key pairs for the publish tests, made by the pinned cosign itself."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline import toolchain
from pipeline.publish.native import SigningInputs

PASSWORD = "Key-Pa55word-for-tests"


@dataclass(frozen=True)
class KeyPair:
    key: Path
    public: Path
    password_file: Path

    def inputs(self, verify_with: Path | None = None) -> SigningInputs:
        """Key and password as file: specs (never argv), verified against `verify_with`."""
        return SigningInputs(f"file:{self.key}", f"file:{self.password_file}",
                             str(verify_with or self.public))


def cosign() -> str:
    return str(toolchain.native_bin() / "cosign")


def generate(where: Path, password: str = PASSWORD) -> KeyPair:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run([cosign(), "generate-key-pair"], cwd=where, check=True, capture_output=True,
                   env={**os.environ, "COSIGN_PASSWORD": password}, timeout=60)
    secret = where / "password"
    secret.write_text(password)
    secret.chmod(0o600)
    return KeyPair(where / "cosign.key", where / "cosign.pub", secret)


@functools.cache
def _home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="dpp-cosign-keys-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return home


@functools.cache
def release_pair() -> KeyPair:
    """The release key pair, once per test process."""
    return generate(_home() / "release")


@functools.cache
def other_pair() -> KeyPair:
    """An unrelated key pair (the 'wrong key'), once per test process and only where a test
    asks for it: each generation costs cosign's scrypt (about 0.35 CPU-s)."""
    return generate(_home() / "other")


def pairs() -> tuple[KeyPair, KeyPair]:
    """The release key pair and an unrelated one (the 'wrong key')."""
    return release_pair(), other_pair()
