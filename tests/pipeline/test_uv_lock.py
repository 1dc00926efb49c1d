"""uv.lock: committed, in sync with pyproject.toml, and resolved against the engine's SDK."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata

from tests.support.repo import REPO

LOCK = REPO / "uv.lock"


def lock_check(root) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "scripts/lock"), "--check", "--root",
                           str(root)], capture_output=True, text=True, timeout=120)


def test_the_lock_is_in_sync_with_pyproject():
    done = lock_check(REPO)
    assert done.returncode == 0, done.stderr


def test_a_changed_dependency_makes_the_lock_stale(tmp_path):
    shutil.copy(LOCK, tmp_path)
    text = (REPO / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(text.replace('"pyyaml==6.0.4"', '"pyyaml==6.0.3"'))
    done = lock_check(tmp_path)
    assert done.returncode == 1
    assert "run scripts/lock" in done.stderr


def normalized(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", requirement.replace(" ", "").lower())


def test_dagger_io_is_the_engines_sdk_with_the_releases_dependencies():
    """The runtime installs dagger-io from ./sdk (the SDK of engineVersion); its locked
    dependencies are those of the PyPI release of that version, which tests import."""
    lock = tomllib.loads(LOCK.read_text())
    dagger_io = next(p for p in lock["package"] if p["name"] == "dagger-io")
    assert dagger_io["source"] == {"editable": "sdk"}
    locked = {normalized(r["name"] + "".join(f"[{e}]" for e in r.get("extras", []))
                         + r.get("specifier", "")) for r in dagger_io["metadata"]["requires-dist"]}
    released = {normalized(r) for r in metadata.requires("dagger-io")}
    assert locked == released
    engine = json.loads((REPO / "dagger.json").read_text())["engineVersion"]
    assert engine == f"v{metadata.version('dagger-io')}"


def test_the_uv_pin_is_the_one_that_wrote_the_lock():
    pins = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    uv_pin = [r for r in pins["optional-dependencies"]["test"] if r.startswith("uv==")]
    assert uv_pin and metadata.version("uv") == uv_pin[0].removeprefix("uv==")
