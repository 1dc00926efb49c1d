"""Each check passes with only the paths it declares: what the Dagger executor mounts."""

from __future__ import annotations

import anyio
import pytest

from pipeline import plan
from pipeline.executors import native, native_services
from pipeline.plan.services import KUBE_APISERVER
from tests.conftest import REPO, copy_repo

pytestmark = pytest.mark.tools


def test_every_check_passes_in_a_tree_holding_only_its_reads(tmp_path, kube_apiserver):
    checks = plan.build(plan.Tree.from_path(REPO))
    services = native_services.Started(fills={KUBE_APISERVER.placeholder: str(kube_apiserver)})

    def isolated(check: plan.Check):
        return copy_repo(tmp_path / check.id.replace("/", "__"), *check.reads)

    async def run_all():
        limiter = anyio.CapacityLimiter(4)
        results = []

        async def one(check):
            async with limiter:
                root = isolated(check)
                results.append(await native.run_check(check, root, native.environment(root),
                                                      services))

        async with anyio.create_task_group() as group:
            for check in checks:
                group.start_soon(one, check)
        return results

    failed = [f"{r.check.id}: {r.output[-600:]}" for r in anyio.run(run_all) if not r.ok]
    assert not failed, "\n".join(failed)
