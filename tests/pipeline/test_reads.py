"""Each check passes with only the paths it declares: what the Dagger executor mounts.

Checks declaring the same paths share one tree holding exactly those paths, run as the
native executor runs a plan (each render once, kubeconform batched): the same proof for
every check, without producing the same render for each of its readers.
"""

from __future__ import annotations

import anyio
import pytest

from pipeline import plan
from pipeline.executors import native
from tests.support.repo import REPO, copy_repo

pytestmark = pytest.mark.tools


def test_every_check_passes_in_a_tree_holding_only_its_reads(tmp_path):
    checks = plan.build(plan.Tree.from_path(REPO))
    by_reads: dict[frozenset[str], list[plan.Check]] = {}
    for check in checks:
        by_reads.setdefault(frozenset(check.reads), []).append(check)

    async def run_all():
        results, trees = [], anyio.CapacityLimiter(2)  # at most 2 trees x 2 jobs at once

        async def one(index: int, reads: frozenset[str], members: list[plan.Check]):
            async with trees:
                root = copy_repo(tmp_path / f"reads-{index}", *sorted(reads))
                results.extend(await native.run_locally(members, root, jobs=2))  # no result cache

        async with anyio.create_task_group() as group:
            for index, (reads, members) in enumerate(by_reads.items()):
                group.start_soon(one, index, reads, members)
        return results

    results = anyio.run(run_all)
    assert sorted(r.check.id for r in results) == sorted(c.id for c in checks)
    failed = [f"{r.check.id}: {r.output[-600:]}" for r in results if not r.ok]
    assert not failed, "\n".join(failed)
