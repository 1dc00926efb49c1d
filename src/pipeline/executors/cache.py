"""The native result cache, with Dagger's semantics: a check's result is reused when
nothing it depends on changed.

A check's key is the hash of its tool pins, its argv (and its producer's), the content
of every path it declares in `reads` (proven sufficient by tests/pipeline/test_reads.py),
the Kubernetes schemas pin when it validates against them, and, when Python runs in it,
the pipeline code that runs it and the interpreter's version. Only passes are stored: a
failure, an error or a timeout always runs again. Entries are written atomically (a
temp file in the same directory, then os.replace) so concurrent `lint` runs share the
cache safely; an entry that cannot be read, is truncated, or whose checksum does not
match is ignored (the run then rewrites it), never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from functools import cache
from pathlib import Path

from pipeline import kubeschemas, toolchain, workspace
from pipeline.executors import PASSED, Result
from pipeline.plan.model import IGNORED_DIRS, SCHEMAS, Check

FORMAT = 1  # bump when the key or the entry layout changes
ENV_DIR = "DPP_RESULT_CACHE"  # where entries live (default: the tools home's cache/results)


def cache_dir() -> Path:
    """Under the tools home, like the tools whose pins the keys name."""
    override = os.environ.get(ENV_DIR)
    return Path(override) if override else toolchain.tools_home() / "cache" / "results"


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digest(path: Path) -> str:
    """A file's content, or every file below a directory with its relative path, in order
    (the same walk as the plan's Tree: ignored directories left out); absent is a value."""
    if path.is_file():
        return "file:" + _file_digest(path)
    if not path.is_dir():
        return "absent"
    digest = hashlib.sha256()
    for folder, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
        for name in sorted(names):
            full = Path(folder) / name
            if full.is_file():
                digest.update(f"{full.relative_to(path).as_posix()}\0{_file_digest(full)}\n".encode())
    return "dir:" + digest.hexdigest()


@cache
def code_digest() -> str:
    """The pipeline package that runs a Python check (its .py files and the tool pins)."""
    root = workspace.module_code()
    files = sorted(p for p in root.rglob("*") if p.suffix in (".py", ".toml") and p.is_file()
                   and "__pycache__" not in p.parts)
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(root).as_posix()}\0{_file_digest(path)}\n".encode())
    return digest.hexdigest()


def cacheable(check: Check) -> bool:
    """A check that talks to a running service (a kube-apiserver) depends on more than its
    inputs: it always runs."""
    return not getattr(check, "services", ())


class ResultCache:
    """Check results by key, for one run over one tree (path digests memoised per run)."""

    def __init__(self, root: Path, directory: Path | None = None):
        self.root = root
        self.directory = directory or cache_dir()
        self._digests: dict[str, str] = {}
        self.reused = 0

    def _read_digest(self, path: str) -> str:
        if path not in self._digests:
            self._digests[path] = tree_digest(self.root / path)
        return self._digests[path]

    def key(self, check: Check) -> str:
        steps = [s for s in (check.stdin_from, check) if s is not None]
        tools = toolchain.pins()["tools"]
        material = {
            "format": FORMAT,
            "steps": [{"tool": s.tool, "argv": list(s.argv)} for s in steps],
            "pins": {tool: tools.get(tool) for tool in check.tools},
            "reads": {path: self._read_digest(path) for path in check.reads},
        }
        if any(SCHEMAS in a for s in steps for a in s.argv):
            # The pin and the generator's layout (kubeschemas.FORMAT) make the schemas read.
            material["schemas"] = {**tools.get("kubernetes-schemas", {}), "format": kubeschemas.FORMAT}
        if "python" in check.tools:
            material["code"] = code_digest()
            material["python"] = platform.python_version()
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()

    def _entry(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, check: Check, key: str) -> Result | None:
        """The stored pass of this key, or None (absent, unreadable, corrupt, not a pass)."""
        try:
            entry = json.loads(self._entry(key).read_text(encoding="utf-8"))
            body = entry["body"]
            if (entry["sha256"] != _checksum(body) or body["key"] != key
                    or body["status"] != PASSED or body["format"] != FORMAT):
                return None
            self.reused += 1
            return Result(check, PASSED, 0.0, str(body["output"]), cached=True)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, result: Result, key: str) -> None:
        """Store a pass atomically; anything else is never stored. A cache that cannot be
        written (a read-only home) only costs the next run its reuse."""
        if result.status != PASSED or result.cached:
            return
        body = {"format": FORMAT, "key": key, "check": result.check.id, "status": PASSED,
                "output": result.output, "seconds": round(result.seconds, 3)}
        entry = self._entry(key)
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=entry.parent, prefix=f".{key[:8]}-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump({"sha256": _checksum(body), "body": body}, out)
                os.replace(temp, entry)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError:
            return


def _checksum(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
