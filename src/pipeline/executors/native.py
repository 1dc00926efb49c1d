"""Run the plan as local subprocesses, concurrently, with the bootstrap's tools."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import anyio

from pipeline import toolchain, workspace
from pipeline.executors import (ERROR, FAILED, PASSED, SKIPPED, Result, batch, native_services,
                                 warm)
from pipeline.executors.cache import ResultCache, cacheable
from pipeline.executors.renders import Renders
from pipeline.plan.model import SCHEMAS, Check, Step
from pipeline.plan.services import needed

CHECK_TIMEOUT_SECONDS = 600
# The Go tools' garbage collector target (helm, kubeconform, promtool, amtool ...): at Go's
# default of 100 a fifth of a kubeconform's CPU goes to collecting; 400 trades about 40 MB
# more resident memory a process for it (kubeconform over six renders, 2 cores: 1.39 s ->
# 1.11 s CPU, 39 MB -> 80 MB; helm template 0.13 -> 0.09 s). A GOGC the user set wins.
# The services (kube-apiserver, etcd) keep the user's environment.
GO_GC_PERCENT = "400"


class MissingTool(Exception):
    """A tool the plan needs is not installed; the message names the fix."""


def environment(root: Path | None = None) -> dict[str, str]:
    """PATH with the bootstrap's bin first; PYTHONPATH so Python checks run the module's own
    code (workspace.module_code()), never a copy of src/pipeline inside the checked tree."""
    env = dict(os.environ)
    env["PATH"] = f"{toolchain.native_bin()}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(workspace.module_code().parent), env.get("PYTHONPATH", "")) if p)
    env.setdefault("GOGC", GO_GC_PERCENT)
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


async def execute_in_slot(argv: list[str], root: Path, env: dict[str, str],
                          slots: anyio.CapacityLimiter | None, stdin: bytes | None = None,
                          merge: bool = True,
                          begin: Callable[[], None] = lambda: None,
                          python: warm.WarmPython | None = None) -> tuple[int, bytes, bytes]:
    """`execute` in one of `slots` (--jobs); the timeout counts from its start, not the wait,
    and `begin` is called then (a check's seconds are its own, not its wait for a slot).
    With `python` (a `python -m` check), it runs as a child of the warm interpreter
    (executors/warm.py), as a subprocess if that is not up."""
    async with slots or contextlib.nullcontext():
        if python is not None:  # the server's start (its imports) is no check's time
            await python.ready()
        begin()
        with anyio.fail_after(CHECK_TIMEOUT_SECONDS):
            if python is not None and merge:
                forked = await python.execute(argv, root, stdin)
                if forked is not None:
                    return forked[0], forked[1], b""
            return await execute(argv, root, env, stdin, merge)


def producer(root: Path, env: dict[str, str], slots: anyio.CapacityLimiter | None = None):
    """Run a producer step to its end: (exit code, stdout, stderr), in one of `slots`."""
    async def produce(step: Step) -> tuple[int, bytes, bytes]:
        return await execute_in_slot(resolve(step.argv, step.tool, env), root, env, slots,
                                     merge=False)
    return produce


async def run_check(check: Check, root: Path, env: dict[str, str],
                    renders: Renders | None = None,
                    slots: anyio.CapacityLimiter | None = None,
                    services: native_services.Started | None = None,
                    python: warm.WarmPython | None = None) -> Result:
    """Run one check; whatever happens inside it (a crash, a broken pipe, a timeout) becomes
    this check's result, never an exception that stops the others. `renders` shares the
    producers' outputs of a run (else the check runs its own); each process takes one of
    `slots` (--jobs), so a check waiting for a render holds none. A `python -m` check runs
    in the warm interpreter `python` when there is one."""
    started = [time.monotonic()]
    services = services or native_services.Started()

    def result(status: str, text: str) -> Result:
        return Result(check, status, time.monotonic() - started[0], text)

    def begin() -> None:  # its own tool's time: a render is shared, a slot awaited
        started[0] = time.monotonic()

    await services.wait(check.services)
    unavailable = services.unavailable(check)
    if unavailable:
        return result(ERROR, unavailable)

    try:
        argv = resolve(check.argv, check.tool, env, services.fills)
        stdin = None
        if check.stdin_from:
            made = await produced(check.stdin_from, root, env, renders, slots)
            if made[0] != 0:
                return result(FAILED, _text(made[2]) + _text(made[1]))
            stdin = made[1]
        forks = python if check.tool == "python" and warm.served(check.argv) else None
        code, done, _ = await execute_in_slot(argv, root, env, slots, stdin, begin=begin,
                                              python=forks)
        return result(PASSED if code == 0 else FAILED, _text(done))
    except Exception as error:  # noqa: BLE001 - the executor's own failure, reported per check
        return result(ERROR, executor_error(error))


async def run_batch(members: list[Check], root: Path, env: dict[str, str], renders: Renders,
                    slots: anyio.CapacityLimiter | None = None) -> list[Result]:
    """One process over every member's input (executors/batch.py): its render as a file
    (a render that fails is its own check's failure, the others are still validated), or
    its own file of the repo."""
    started = [time.monotonic()]

    def result(check: Check, status: str, text: str) -> Result:
        return Result(check, status, time.monotonic() - started[0], text)

    def begin() -> None:
        started[0] = time.monotonic()

    try:
        kind = batch.kind_of(members[0])
        argv = resolve(members[0].argv, members[0].tool, env)
        failed, files = [], {}
        for check in members:
            if not kind.from_stdin:
                files[Path(batch.own_file(check))] = check
                continue
            made = await renders.get(check.stdin_from)
            if made.code != 0:
                failed.append(result(check, FAILED, _text(made.stderr) + _text(made.stdout)))
            else:
                files[made.path] = check
        if not files:
            return failed
        code, out, err = await execute_in_slot(batch.batch_argv(members[0], argv, list(files)),
                                               root, env, slots, merge=kind.merged, begin=begin)
        split = batch.split(out, err, code, files)
        return failed + [result(check, *split[check.id]) for check in files.values()]
    except Exception as error:  # noqa: BLE001 - the executor's own failure, reported per check
        return [result(check, ERROR, executor_error(error)) for check in members]


async def produced(step: Step, root: Path, env: dict[str, str], renders: Renders | None,
                   slots: anyio.CapacityLimiter | None = None) -> tuple[int, bytes, bytes]:
    if renders is None:
        return await producer(root, env, slots)(step)
    made = await renders.get(step)
    return made.code, made.stdout, made.stderr


def executor_error(error: Exception) -> str:
    """A missing tool, a timeout or a crash of ours, in words for the check's result."""
    if isinstance(error, MissingTool):
        return str(error)
    if isinstance(error, TimeoutError):
        return f"timed out after {CHECK_TIMEOUT_SECONDS}s"
    trace = "".join(traceback.format_exception(error)).rstrip()
    return f"the executor failed running this check: {type(error).__name__}: {error}\n{trace}"


def _text(data: bytes | None) -> str:
    return (data or b"").decode(errors="replace")


def installed(check: Check, env: dict[str, str]) -> bool:
    """Every tool of the check is here: a missing one is reported, never hidden by a reuse."""
    try:
        for step in filter(None, (check.stdin_from, check)):
            resolve(step.argv, step.tool, env)
    except MissingTool:
        return False
    return True


def not_run(check: Check, why: str) -> Result:
    return Result(check, SKIPPED, 0.0, why)


async def run_locally(checks: list[Check], root: Path, jobs: int,
                      on_start: Callable[[Check], None] = lambda c: None,
                      on_done: Callable[[Result], None] = lambda r: None,
                      fail_fast: bool = False, cache: ResultCache | None = None) -> list[Result]:
    """Run every check, at most `jobs` processes at once; a failure never stops the others,
    unless `fail_fast`: then the first failure cancels the rest, reported as not run.

    With a `cache`, a check whose key is stored is reused and every new pass stored. Each
    render is produced once (executors/renders.py), batchable checks run as one process
    per batch (executors/batch.py) and `python -m` checks as children of one warm
    interpreter (executors/warm.py)."""
    env = environment(root)
    slots = anyio.CapacityLimiter(max(1, jobs))
    results: list[Result] = []
    keys, pending = {}, []
    for check in checks:
        if cache is not None and cacheable(check) and installed(check, env):
            keys[check.id] = cache.key(check)
            hit = cache.get(check, keys[check.id])
            if hit is not None:
                on_start(check)
                results.append(hit)
                on_done(hit)
                continue
        pending.append(check)

    modules = [warm.served(c.argv) for c in pending
               if c.tool == "python" and warm.served(c.argv)]
    with tempfile.TemporaryDirectory(prefix="dpp-lint-renders-") as private:
        renders = Renders(Path(private), producer(root, env, slots))
        # The warm interpreter imports the Python checks' modules while the first renders run;
        # the services the pending checks need run around all of them, and stop afterwards.
        async with warm.started(modules, root, env, Path(private)) as python, \
                native_services.running(needed(pending), service_locator(env)) as services, \
                anyio.create_task_group() as group:
            async def unit(members: list[Check]) -> None:
                for check in members:
                    on_start(check)
                if batch.kind_of(members[0]):
                    outcomes = await run_batch(members, root, env, renders, slots)
                else:
                    outcomes = [await run_check(members[0], root, env, renders, slots, services,
                                                python)]
                for outcome in outcomes:
                    results.append(outcome)
                    if outcome.check.id in keys:
                        cache.put(outcome, keys[outcome.check.id])
                    on_done(outcome)
                if fail_fast and not all(o.ok for o in outcomes):
                    group.cancel_scope.cancel()

            for members in batch.units(pending):
                group.start_soon(unit, members)
    finished = {r.check.id for r in results}
    stopper = next((r.check.id for r in results if not r.ok), "")
    return results + [not_run(c, f"not run: --fail-fast stopped the run after {stopper} failed")
                      for c in checks if c.id not in finished]
