"""Running the plan's own checks natively as the executors do (with extra helm arguments for
the producer), rendering the chart, and finding the native tools: what many tests share."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import layout
from pipeline.plan import build
from pipeline.plan.chart import template
from pipeline.plan.model import SCHEMAS, Check, Tree
from pipeline.toolchain import native_bin, native_schemas, tool
from tests.support import warmchecks

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / layout.CHART


def binary(name: str) -> str:
    """The native binary of a toolchain tool (python: this interpreter)."""
    if name == "python":
        return sys.executable
    path = native_bin() / tool(name).binary
    if path.exists():
        return str(path)
    found = shutil.which(tool(name).binary)
    if not found:
        pytest.skip(f"{name} is not installed (scripts/bootstrap {name})")
    return found


def native(argv: tuple[str, ...], tool_name: str) -> list[str]:
    schemas = str(native_schemas())
    return [binary(tool_name), *(a.replace(SCHEMAS, schemas) for a in argv[1:])]


@functools.lru_cache(maxsize=16)
def plan_of(tree: Tree) -> dict[str, Check]:
    """The plan of a file list by check id, built once a test process for each list: the plan
    is a function of the list (and the tool pins), and a Check is frozen."""
    return {c.id: c for c in build(tree)}


@functools.cache
def repo_tree() -> Tree:
    """The repo's file list, walked once a test process: no test edits REPO (they edit copies)."""
    return Tree.from_path(REPO)


def plan_check(check_id: str) -> Check:
    return plan_of(repo_tree())[check_id]


_PRODUCED: dict[tuple[str, ...], subprocess.CompletedProcess] = {}


def produced(argv: list[str]) -> subprocess.CompletedProcess:
    """A producer (`helm template`) of the repo's own files, run once per test process, as one
    `lint` run renders once: no test edits REPO (they edit copies), and a render is
    deterministic (tests/checks/chart/test_render.py proves it)."""
    key = tuple(argv)
    if key not in _PRODUCED:
        _PRODUCED[key] = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)
    return _PRODUCED[key]


def run_check(check_id: str, *helm_args: str, check_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run a plan check as the executors do; helm_args are appended to its producer
    (`helm template ...`) or, for a helm check, to the check itself. The check always runs
    afresh (a Python check forked from the warm server, as the native executor runs it:
    tests.support.warmchecks); its producer's output is shared when nothing is appended to
    it (`produced`)."""
    check = plan_check(check_id)
    argv = native(check.argv, check.tool)
    if check.tool == "helm":
        argv += list(helm_args)
    argv += list(check_args)
    stdin = None
    if check.stdin_from is not None:
        producer = native(check.stdin_from.argv, check.stdin_from.tool) + list(helm_args)
        made = produced(producer) if not helm_args else subprocess.run(
            producer, cwd=REPO, capture_output=True, text=True, timeout=120)
        if made.returncode != 0:
            return made
        stdin = made.stdout
    return warmchecks.run(argv, REPO, input=stdin, timeout=300)


def render_argv(env: str, *helm_args: str, kube: str = "1.37.0", monitoring: bool = True) -> list[str]:
    """`helm template` of `env` as the plan renders it, plus `helm_args`."""
    return native(template(env, kube, monitoring).argv, "helm") + list(helm_args)


def render(env: str, *helm_args: str, kube: str = "1.37.0", monitoring: bool = True) -> subprocess.CompletedProcess:
    """`helm template` of `env` as the plan renders it, plus `helm_args` (a fresh process: use the
    session's `rendered` fixture for the unchanged render)."""
    argv = render_argv(env, *helm_args, kube=kube, monitoring=monitoring)
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def take_ctrl_c() -> None:
    """Popen's preexec_fn for a child a test interrupts: SIGINT acts as a terminal's Ctrl-C
    even when this test run ignores it (a background job of a non-interactive shell inherits
    SIG_IGN, and Python and Go programs then keep ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_pipeline(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None,
                 timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`python -m pipeline ARGS` in a subprocess, non-TTY (plain output, as in CI)."""
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)


def copy_repo(dest: Path, *paths: str) -> Path:
    """Copy the named repo paths (files or directories) into `dest`, keeping their layout."""
    for path in paths:
        source = REPO / path
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return dest


def copy_whole_repo(dest: Path) -> Path:
    """Every file the plan could read (the same walk the native executor uses)."""
    return copy_repo(dest, *repo_listing())


def repo_listing() -> list[str]:
    return sorted(repo_tree().files)


# A workflow step that breaks workflows/pins (an action by tag, not by commit).
UNPINNED = "      - uses: actions/checkout@v4\n"


def workflows_repo(dest: Path, pinned: bool = True) -> Path:
    """A tree holding only what the workflows checks read; `pinned=False` breaks one pin."""
    root = copy_repo(dest, ".github", "dagger.json", ".yamllint.yaml")
    if not pinned:
        ci = root / ".github" / "workflows" / "ci.yml"
        text = ci.read_text()
        ci.write_text(text.replace("    steps:\n", "    steps:\n" + UNPINNED, 1))
    return root
