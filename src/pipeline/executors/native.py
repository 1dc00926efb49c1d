"""Run the plan as local subprocesses, concurrently, with the bootstrap's tools."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio

from pipeline import toolchain
from pipeline.executors import ERROR, FAILED, PASSED, Result, native_services
from pipeline.plan.model import SCHEMAS, Check
from pipeline.plan.services import needed

CHECK_TIMEOUT_SECONDS = 600


class MissingTool(Exception):
    """A tool the plan needs is not installed; the message names the fix."""


def environment(root: Path) -> dict[str, str]:
    """PATH with the bootstrap's bin first; PYTHONPATH so checks use the linted tree's code."""
    env = dict(os.environ)
    env["PATH"] = f"{toolchain.native_bin()}{os.pathsep}{env.get('PATH', '')}"
    src = root / "src"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH", "")) if p)
    return env


def resolve(argv: tuple[str, ...], tool: str, env: dict[str, str],
            fills: dict[str, str] | None = None) -> list[str]:
    """The plan's argv with the binary located and placeholders filled for this machine."""
    if tool == "python":
        binary = sys.executable
    else:
        binary = shutil.which(argv[0], path=env["PATH"])
        if binary is None:
            pin = toolchain.tool(tool)
            raise MissingTool(
                f"{argv[0]} not found: run `{toolchain.BOOTSTRAP}` to install {pin.name} "
                f"{pin.version} into {toolchain.native_bin()}")
    schemas = str(toolchain.native_schemas())
    if any(SCHEMAS in a for a in argv) and not toolchain.native_schemas().is_dir():
        raise MissingTool(f"Kubernetes schemas not found in {schemas}: "
                          f"run `{toolchain.BOOTSTRAP}`")
    return [binary, *(_fill(a.replace(SCHEMAS, schemas), fills or {}) for a in argv[1:])]


def _fill(arg: str, fills: dict[str, str]) -> str:
    """Service placeholders (e.g. {kubeconfig}) become what the running service gave."""
    for placeholder, value in fills.items():
        arg = arg.replace(placeholder, value)
    return arg


def service_locator(env: dict[str, str]) -> native_services.Locate:
    """How a service finds its binaries: like a check's, a missing one named with the fix."""
    def locate(argv: tuple[str, ...], tool: str) -> list[str]:
        try:
            return resolve(argv, tool, env)
        except MissingTool as missing:
            raise native_services.ServiceError(str(missing)) from None
    return locate


async def run_check(check: Check, root: Path, env: dict[str, str],
                    services: native_services.Started | None = None) -> Result:
    started = time.monotonic()
    services = services or native_services.Started()

    def result(status: str, output: str) -> Result:
        return Result(check, status, time.monotonic() - started, output)

    await services.wait(check.services)
    unavailable = services.unavailable(check)
    if unavailable:
        return result(ERROR, unavailable)
    try:
        argv = resolve(check.argv, check.tool, env, services.fills)
        producer = resolve(check.stdin_from.argv, check.stdin_from.tool, env) \
            if check.stdin_from else None
    except MissingTool as missing:
        return result(ERROR, str(missing))
    stdin = None
    with anyio.move_on_after(CHECK_TIMEOUT_SECONDS) as scope:
        if producer:
            made = await anyio.run_process(producer, cwd=root, env=env, check=False)
            if made.returncode != 0:
                return result(FAILED, _text(made.stderr) + _text(made.stdout))
            stdin = made.stdout
        done = await anyio.run_process(argv, input=stdin, cwd=root, env=env, check=False,
                                       stderr=subprocess.STDOUT)
        return result(PASSED if done.returncode == 0 else FAILED, _text(done.stdout))
    assert scope.cancelled_caught
    return result(ERROR, f"timed out after {CHECK_TIMEOUT_SECONDS}s")


def _text(data: bytes | None) -> str:
    return (data or b"").decode(errors="replace")


async def run(checks: list[Check], root: Path, jobs: int,
              on_start: Callable[[Check], None] = lambda c: None,
              on_done: Callable[[Result], None] = lambda r: None) -> list[Result]:
    """Run every check, at most `jobs` at once; a failure never stops the others."""
    env = environment(root)
    limiter = anyio.CapacityLimiter(max(1, jobs))
    results: list[Result] = []

    async def one(check: Check) -> None:
        async with limiter:
            on_start(check)
            outcome = await run_check(check, root, env, services)
            results.append(outcome)
            on_done(outcome)

    # The services the selected checks need run around all of them, and stop afterwards.
    async with native_services.running(needed(checks), service_locator(env)) as services:
        async with anyio.create_task_group() as group:
            for check in checks:
                group.start_soon(one, check)
    return results
