"""Each check passes with only the paths it declares: what the Dagger executor mounts."""

from __future__ import annotations

import shutil

import anyio
import pytest

from pipeline import plan
from pipeline.executors import native
from tests.conftest import REPO

pytestmark = pytest.mark.tools


def test_every_check_passes_in_a_tree_holding_only_its_reads(tmp_path):
    checks = plan.build(plan.Tree.from_path(REPO))

    def isolated(check: plan.Check):
        root = tmp_path / check.id.replace("/", "__")
        for path in check.reads:
            source, target = REPO / path, root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, target)
        return root

    async def run_all():
        limiter = anyio.CapacityLimiter(4)
        results = []

        async def one(check):
            async with limiter:
                root = isolated(check)
                results.append(await native.run_check(check, root, native.environment(root)))

        async with anyio.create_task_group() as group:
            for check in checks:
                group.start_soon(one, check)
        return results

    failed = [f"{r.check.id}: {r.output[-600:]}" for r in anyio.run(run_all) if not r.ok]
    assert not failed, "\n".join(failed)
