"""The check plan: every check `lint` runs, as data, built from the repo's file list.

Pure Python (no dagger import): the Dagger and the native executor run this
same list. Each group module exposes `checks(tree) -> list[Check]`.
"""

from __future__ import annotations

import fnmatch

from pipeline.plan import apiserver, argocd, chart, compose, monitoring, workflows
from pipeline.plan.model import SCHEMAS, Check, Step, Tree, python_check

GROUPS = (chart, argocd, apiserver, monitoring, compose, workflows)

__all__ = ["SCHEMAS", "Check", "Step", "Tree", "build", "select", "python_check",
           "PlanError", "list_lines"]


class PlanError(ValueError):
    """A plan that cannot be run (a duplicate id, a selector matching nothing)."""


def build(tree: Tree) -> list[Check]:
    checks = [check for group in GROUPS for check in group.checks(tree)]
    seen: set[str] = set()
    for check in checks:
        if check.id in seen:
            raise PlanError(f"plan: duplicate check id {check.id}")
        seen.add(check.id)
    return checks


def select(checks: list[Check], only: list[str] | None) -> list[Check]:
    """Keep the checks matching any selector: a group, GROUP/NAME, or a glob of ids."""
    if not only:
        return checks
    chosen = [c for c in checks if any(_matches(c, s) for s in only)]
    unmatched = [s for s in only if not any(_matches(c, s) for c in checks)]
    if unmatched:
        groups = sorted({c.group for c in checks})
        raise PlanError(f"--only {', '.join(unmatched)}: matches no check "
                        f"(groups: {', '.join(groups)}; see --list)")
    return chosen


def list_lines(checks: list[Check]) -> str:
    """One line a check (id, tool, what): what `--list` prints in both executors."""
    return "\n".join(f"{c.id}\t{c.tool}\t{c.description}" for c in checks)


def _matches(check: Check, selector: str) -> bool:
    selector = selector.strip("/")
    return (check.group == selector or check.id == selector
            or fnmatch.fnmatchcase(check.id, selector))
