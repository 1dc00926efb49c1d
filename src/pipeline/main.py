"""The Dagger module `pipeline`: `dagger call lint`, `publish` and `smoke`.

Thin: each function builds the same plan the native CLI builds and hands it to
the Dagger executor. `python -m pipeline <function>` is its native twin.
"""

from __future__ import annotations

from typing import Annotated

import dagger
from dagger import DefaultPath, Doc, Ignore, Name, function, object_type

from pipeline import plan
from pipeline.executors import dagger as executor
from pipeline.executors import report

# What never reaches a check: VCS data, caches, local virtualenvs, the generated SDK.
SOURCE_IGNORE = [".git", "**/__pycache__", "**/.pytest_cache", ".venv", "sdk", "dist"]

Source = Annotated[
    dagger.Directory,
    DefaultPath("/"),
    Ignore(SOURCE_IGNORE),
    Doc("The repository to check (default: the repository this module lives in)"),
]
Only = Annotated[
    list[str] | None,
    Doc("Run only these checks: a group (chart, argocd, monitoring, compose, workflows), "
        "GROUP/NAME, or a glob of ids"),
]


class LintFailed(Exception):
    """Raised with the full report so `dagger call` exits non-zero and shows it."""


@object_type
class Pipeline:
    """Validate, publish and smoke-test the DPP platform's Helm chart and monitoring stack."""

    @function
    async def lint(
        self,
        source: Source,
        only: Only = None,
        list_checks: Annotated[bool, Name("list"), Doc("List the selected checks, run nothing")]
        = False,
    ) -> str:
        """Run every check of the plan (helm, kubeconform, promtool, amtool, pint, actionlint,
        policies, contracts), each in its tool's pinned image; fail if any check fails."""
        tree = await executor.source_tree(source)
        checks = plan.select(plan.build(tree), only)
        if list_checks:
            return "\n".join(f"{c.id}\t{c.tool}\t{c.description}" for c in checks) + "\n"
        results = await executor.run(checks, source, tree)
        text = report.as_text(results)
        if not all(r.ok for r in results):
            raise LintFailed(text)
        return text
