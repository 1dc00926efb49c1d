"""Running the plan's own checks natively as the executors do (with extra helm arguments for
the producer), rendering the chart, and finding the native tools: what many tests share."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import layout
from pipeline.plan import build
from pipeline.plan.chart import template
from pipeline.plan.model import SCHEMAS, Check, Tree
from pipeline.toolchain import native_bin, native_schemas, tool

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
    return [binary(tool_name), *(a.replace(SCHEMAS, str(native_schemas())) for a in argv[1:])]


def plan_check(check_id: str) -> Check:
    checks = {c.id: c for c in build(Tree.from_path(REPO))}
    return checks[check_id]


def run_check(check_id: str, *helm_args: str, check_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run a plan check as the executors do; helm_args are appended to its producer
    (`helm template ...`) or, for a helm check, to the check itself."""
    check = plan_check(check_id)
    argv = native(check.argv, check.tool)
    if check.tool == "helm":
        argv += list(helm_args)
    argv += list(check_args)
    stdin = None
    if check.stdin_from is not None:
        producer = native(check.stdin_from.argv, check.stdin_from.tool) + list(helm_args)
        made = subprocess.run(producer, cwd=REPO, capture_output=True, text=True, timeout=120)
        if made.returncode != 0:
            return made
        stdin = made.stdout
    return subprocess.run(argv, cwd=REPO, input=stdin, capture_output=True, text=True, timeout=300)


def render(env: str, *helm_args: str, kube: str = "1.37.0", monitoring: bool = True) -> subprocess.CompletedProcess:
    """`helm template` of `env` as the plan renders it, plus `helm_args` (a fresh process: use the
    session's `rendered` fixture for the unchanged render)."""
    argv = native(template(env, kube, monitoring).argv, "helm") + list(helm_args)
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr
