"""Run the plan as local subprocesses, concurrently, with the bootstrap's tools."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import anyio

from pipeline import toolchain, workspace
from pipeline.executors import ERROR, FAILED, PASSED, SKIPPED, Result, native_services
from pipeline.plan.model import SCHEMAS, Check
from pipeline.plan.services import needed

CHECK_TIMEOUT_SECONDS = 600


class MissingTool(Exception):
    """A tool the plan needs is not installed; the message names the fix."""


def environment(root: Path | None = None) -> dict[str, str]:
    """PATH with the bootstrap's bin first; PYTHONPATH so Python checks run the module's own
    code (workspace.module_code()), never a copy of src/pipeline inside the checked tree."""
    env = dict(os.environ)
    env["PATH"] = f"{toolchain.native_bin()}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(workspace.module_code().parent), env.get("PYTHONPATH", "")) if p)
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


async def execute(argv: list[str], cwd: Path, env: dict[str, str], stdin: bytes | None = None,
                  merge: bool = True) -> tuple[int, bytes, bytes]:
    """Run `argv` to its end: (exit code, stdout, stderr; stderr is in stdout when `merge`).

    A command that exits without reading all of its stdin is not an error of ours: its exit
    code and output say why, so the broken pipe is swallowed (anyio.run_process lets it
    escape as an ExceptionGroup). On cancellation the process is killed.
    """
    out, err = bytearray(), bytearray()
    async with await anyio.open_process(
            argv, cwd=cwd, env=env, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge else subprocess.PIPE) as proc:

        async def feed() -> None:
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError,
                                     BrokenPipeError, ConnectionResetError):
                await proc.stdin.send(stdin)
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError,
                                     BrokenPipeError, ConnectionResetError):
                await proc.stdin.aclose()

        async def drain(stream, into: bytearray) -> None:
            async for chunk in stream:
                into.extend(chunk)

        async with anyio.create_task_group() as group:
            if stdin is not None:
                group.start_soon(feed)
            group.start_soon(drain, proc.stdout, out)
            if proc.stderr is not None:
                group.start_soon(drain, proc.stderr, err)
        code = await proc.wait()
    return code, bytes(out), bytes(err)


async def run_check(check: Check, root: Path, env: dict[str, str],
                    services: native_services.Started | None = None) -> Result:
    """Run one check; whatever happens inside it (a crash, a broken pipe, a timeout) becomes
    this check's result, never an exception that stops the others."""
    started = time.monotonic()
    services = services or native_services.Started()

    def result(status: str, text: str) -> Result:
        return Result(check, status, time.monotonic() - started, text)

    await services.wait(check.services)
    unavailable = services.unavailable(check)
    if unavailable:
        return result(ERROR, unavailable)

    try:
        argv = resolve(check.argv, check.tool, env, services.fills)
        producer = resolve(check.stdin_from.argv, check.stdin_from.tool, env) \
            if check.stdin_from else None
        with anyio.fail_after(CHECK_TIMEOUT_SECONDS):
            stdin = None
            if producer:
                code, made, made_err = await execute(producer, root, env, merge=False)
                if code != 0:
                    return result(FAILED, _text(made_err) + _text(made))
                stdin = made
            code, done, _ = await execute(argv, root, env, stdin)
            return result(PASSED if code == 0 else FAILED, _text(done))
    except MissingTool as missing:
        return result(ERROR, str(missing))
    except TimeoutError:
        return result(ERROR, f"timed out after {CHECK_TIMEOUT_SECONDS}s")
    except Exception as crash:  # noqa: BLE001 - the executor's own failure, reported per check
        trace = "".join(traceback.format_exception(crash)).rstrip()
        return result(ERROR, f"the executor failed running this check: "
                             f"{type(crash).__name__}: {crash}\n{trace}")


def _text(data: bytes | None) -> str:
    return (data or b"").decode(errors="replace")


def not_run(check: Check, why: str) -> Result:
    return Result(check, SKIPPED, 0.0, why)


async def run(checks: list[Check], root: Path, jobs: int,
              on_start: Callable[[Check], None] = lambda c: None,
              on_done: Callable[[Result], None] = lambda r: None,
              fail_fast: bool = False) -> list[Result]:
    """Run every check, at most `jobs` at once; a failure never stops the others, unless
    `fail_fast`: then the first failure cancels the rest, reported as not run."""
    env = environment(root)
    limiter = anyio.CapacityLimiter(max(1, jobs))
    results: list[Result] = []

    # The services the selected checks need run around all of them, and stop afterwards.
    async with native_services.running(needed(checks), service_locator(env)) as services, \
            anyio.create_task_group() as group:
        async def one(check: Check) -> None:
            async with limiter:
                on_start(check)
                outcome = await run_check(check, root, env, services)
                results.append(outcome)
                on_done(outcome)
                if fail_fast and not outcome.ok:
                    group.cancel_scope.cancel()

        for check in checks:
            group.start_soon(one, check)
    finished = {r.check.id for r in results}
    stopper = next((r.check.id for r in results if not r.ok), "")
    return results + [not_run(c, f"not run: --fail-fast stopped the run after {stopper} failed")
                      for c in checks if c.id not in finished]
