"""Each check passes with only the paths it declares: what the Dagger executor mounts.

Checks declaring the same paths share one tree holding exactly those paths, run as the
native executor runs a plan (each render once, kubeconform batched): the same proof for
every check, without producing the same render for each of its readers.

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
from pipeline.executors import FAILED, Result, native, native_services
from pipeline.layout import CHART
from pipeline.plan.services import KUBE_APISERVER, needed
from tests.support.repo import REPO, copy_repo

pytestmark = pytest.mark.tools
TREES = 2  # at most 2 trees x 2 jobs at once, and 2 service checks
JOBS = 2


async def in_trees_of_their_reads(checks: list[plan.Check], tmp_path: Path,
                                  kubeconfig: Path | None = None) -> list[Result]:
    """Run `checks`, each group declaring the same reads in a tree holding only those; the
    checks using the API server reach it through `kubeconfig`."""
    by_reads: dict[frozenset[str], list[plan.Check]] = {}
    for check in checks:
        by_reads.setdefault(frozenset(check.reads), []).append(check)
    results: list[Result] = []
    trees, service_slots = anyio.CapacityLimiter(TREES), anyio.CapacityLimiter(JOBS)
    assert kubeconfig or not needed(checks), "the checks need the API server"
    services = native_services.Started(fills={KUBE_APISERVER.placeholder: str(kubeconfig)})

    async def with_services(check: plan.Check, root: Path) -> None:
        results.append(await native.run_check(check, root, native.environment(root),
                                              slots=service_slots, services=services))

    async def one(index: int, reads: frozenset[str], members: list[plan.Check]) -> None:
        root = copy_repo(tmp_path / f"reads-{index}", *sorted(reads))
        served = [c for c in members if c.services]
        async with anyio.create_task_group() as group:
            for check in served:  # not in `trees`: they wait for the server, not the CPU
                group.start_soon(with_services, check, root)
            rest = [c for c in members if not c.services]
            if rest:
                async with trees:
                    results.extend(await native.run_locally(rest, root, jobs=JOBS))  # no cache

    async with anyio.create_task_group() as group:
        for index, (reads, members) in enumerate(by_reads.items()):
            group.start_soon(one, index, reads, members)
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
