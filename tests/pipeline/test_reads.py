"""Each check passes with only the paths it declares: what the Dagger executor mounts.

Checks declaring the same paths share one tree holding exactly those paths. All the trees
run as one native run runs a plan: at most JOBS processes at once, one warm interpreter
forking every `python -m` check into its own tree (its cwd; executors/warm.py), each tree's
renders made once and its kubeconform checks batched (executors/renders.py, batch.py). A
render is also made once across the trees (SharedRenders): a producer step that a tree
holding only some of its readers' reads (reads that every other reader declares too) can
make is made there, and the other readers take those same bytes, as their own trees hold
the same copies of those files. A render that names the tree it was made in (compose
writes absolute paths) is made in each reader's tree instead. The same proof for every
check, without producing the same render for each of its readers.

The checks that use a service (the kube-apiserver dry runs) run in their trees against
the test process's real API server (the `kube_apiserver` fixture, which tests/checks/apiserver
uses too), as one `lint` run shares one server between them: a service is not a read. These
tests run first on that server (tests/conftest.py API_SERVER_TEST_FILES), so it holds
nothing from other tests: each check installs the CRDs from the copy of
infra/schemas/crd-sources in its own tree (a tree without them fails: "no
CustomResourceDefinition found"; the four checks claim and install them together, as in
`lint`), and its namespace, ServiceAccounts and resources come from its own tree's
manifests (pipeline/checks/apiserver/dryrun.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import anyio
import pytest

from pipeline import plan
from pipeline.executors import FAILED, Result, batch, native, native_services, warm
from pipeline.executors.renders import Render, Renders
from pipeline.layout import CHART
from pipeline.plan.model import Step
from pipeline.plan.services import KUBE_APISERVER, needed
from tests.support.repo import REPO, copy_repo

pytestmark = pytest.mark.tools
JOBS = 4  # processes at once over all the trees (as 2 trees x 2 jobs did before)
SERVICE_JOBS = 2  # service checks at once: they wait for the server, not the CPU


@dataclasses.dataclass
class SharedRenders:
    """A tree's renders (what `native.run_check` and `run_batch` ask for): a step that
    `makers` names is made once in that tree, else in this tree."""

    own: Renders
    makers: dict[Step, tuple[Path, Renders]]  # step -> (the tree that makes it, its renders)

    async def get(self, step: Step) -> Render:
        root, renders = self.makers.get(step, (None, self.own))
        if renders is not self.own:
            made = await renders.get(step)
            if str(root).encode() not in made.stdout + made.stderr:  # the same bytes here
                return made
        return await self.own.get(step)


def makers(by_reads: dict[frozenset[str], list[plan.Check]], roots: dict[frozenset[str], Path],
           renders: dict[frozenset[str], Renders]) -> dict[Step, tuple[Path, Renders]]:
    """Each render read from more than one tree -> the tree that makes it for all: a reader's
    tree whose reads every other reader's tree holds too."""
    readers: dict[Step, set[frozenset[str]]] = {}
    for reads, members in by_reads.items():
        for check in members:
            if check.stdin_from:
                readers.setdefault(check.stdin_from, set()).add(reads)
    out = {}
    for step, trees in readers.items():
        smallest = next((t for t in sorted(trees, key=len) if all(t <= o for o in trees)), None)
        if len(trees) > 1 and smallest is not None:
            out[step] = (roots[smallest], renders[smallest])
    return out


async def in_trees_of_their_reads(checks: list[plan.Check], tmp_path: Path,
                                  kubeconfig: Path | None = None) -> list[Result]:
    """Run `checks`, each group declaring the same reads in a tree holding only those, all
    in one run; the checks using the API server reach it through `kubeconfig`."""
    by_reads: dict[frozenset[str], list[plan.Check]] = {}
    for check in checks:
        by_reads.setdefault(frozenset(check.reads), []).append(check)
    assert kubeconfig or not needed(checks), "the checks need the API server"
    services = native_services.Started(fills={KUBE_APISERVER.placeholder: str(kubeconfig)})
    env = native.environment()
    slots, service_slots = anyio.CapacityLimiter(JOBS), anyio.CapacityLimiter(SERVICE_JOBS)
    roots = {reads: copy_repo(tmp_path / f"reads-{index}", *sorted(reads))
             for index, reads in enumerate(by_reads)}
    private = tmp_path / "renders"
    renders = {}
    for index, (reads, root) in enumerate(roots.items()):
        (private / str(index)).mkdir(parents=True, mode=0o700)
        renders[reads] = Renders(private / str(index), native.producer(root, env, slots))
    shared = makers(by_reads, roots, renders)
    results: list[Result] = []
    modules = [warm.served(c.argv) for c in checks if c.tool == "python" and warm.served(c.argv)]

    async with warm.started(modules, tmp_path, env, private) as python, \
            anyio.create_task_group() as group:
        async def unit(members: list[plan.Check], root: Path, made: SharedRenders) -> None:
            if members[0].services:  # not in `slots`: they wait for the server, not the CPU
                results.append(await native.run_check(members[0], root, env, made, service_slots,
                                                      services, python))
            elif batch.kind_of(members[0]):
                results.extend(await native.run_batch(members, root, env, made, slots))
            else:
                results.append(await native.run_check(members[0], root, env, made, slots,
                                                      python=python))

        for reads, members in by_reads.items():
            made = SharedRenders(renders[reads], shared)
            for members_of_unit in batch.units(members):
                group.start_soon(unit, members_of_unit, roots[reads], made)
    return results


def test_every_check_passes_in_a_tree_holding_only_its_reads(tmp_path, kube_apiserver):
    checks = plan.build(plan.Tree.from_path(REPO))
    assert [s.name for s in needed(checks)] == [KUBE_APISERVER.name]  # the server path is exercised
    results = anyio.run(in_trees_of_their_reads, checks, tmp_path, kube_apiserver)
    assert sorted(r.check.id for r in results) == sorted(c.id for c in checks)
    failed = [f"{r.check.id}: {r.output[-600:]}" for r in results if not r.ok]
    assert not failed, "\n".join(failed)


def test_a_check_reading_an_undeclared_path_fails_in_its_tree(tmp_path):
    """The proof above can fail: values-docs declaring values.yaml only, not the schema it
    also reads, fails in the tree made from its reads."""
    checks = {c.id: c for c in plan.build(plan.Tree.from_path(REPO))}
    schema = f"{CHART}/values.schema.json"
    docs = checks["chart/values-docs"]
    assert schema in docs.reads
    under = dataclasses.replace(docs, reads=tuple(r for r in docs.reads if r != schema))
    [result] = anyio.run(in_trees_of_their_reads, [under], tmp_path)
    assert result.status == FAILED, result.output
    assert "values.schema.json" in result.output, result.output


def test_a_render_is_shared_only_from_a_tree_every_reader_holds_and_only_when_it_names_no_tree(
        tmp_path):
    """The sharing above cannot stand in for a reader's own render: it is made where every
    reader's reads are (else each tree makes its own), and a render naming the tree it was
    made in (compose's absolute paths) is made again in each reader's tree."""
    small, big, other = frozenset({"a"}), frozenset({"a", "b"}), frozenset({"c"})
    step, placed, shared = Step("t", ("t", "shared")), Step("t", ("t", "placed")), Step("t", ("t", "c"))
    reader = lambda step: plan.Check(name="x", group="g", tool="t", argv=("t",), reads=(),  # noqa: E731
                                     stdin_from=step)
    by_reads = {small: [reader(step), reader(placed)], big: [reader(step), reader(placed)],
                other: [reader(shared)], frozenset({"d"}): [reader(shared)]}
    made: list[tuple[str, str]] = []  # (the tree, the step) of each render made

    def renders_of(name: str) -> Renders:
        async def produce(s: Step) -> tuple[int, bytes, bytes]:
            made.append((name, s.argv[1]))
            return 0, (f"in {tmp_path / name}" if s is placed else "same").encode(), b""
        (tmp_path / name).mkdir()
        return Renders(tmp_path / name, produce)

    roots = {reads: tmp_path / "-".join(sorted(reads)) for reads in by_reads}
    renders = {reads: renders_of("-".join(sorted(reads))) for reads in by_reads}
    shared_from = makers(by_reads, roots, renders)
    assert set(shared_from) == {step, placed}  # `shared`: no reader's tree is in the other's

    async def read_all() -> None:
        for reads in (small, big):
            view = SharedRenders(renders[reads], shared_from)
            assert (await view.get(step)).stdout == b"same"
            assert (await view.get(placed)).stdout == f"in {roots[reads]}".encode()

    anyio.run(read_all)
    assert made == [("a", "shared"), ("a", "placed"), ("a-b", "placed")]
