"""The check plan: every check `lint` runs, as data, built from the repo's file list.

Pure Python (no dagger import): the Dagger and the native executor run this
same list. Each group module exposes `checks(tree) -> list[Check]`.
"""

from __future__ import annotations

import fnmatch
import importlib

from pipeline.plan.model import SCHEMAS, Check, Step, Tree, python_check

# The group modules, imported when the plan is built (or GROUPS read), not with the package:
# the model (pipeline.plan.model) is what most importers need.
GROUP_NAMES = ("chart", "argocd", "apiserver", "monitoring", "compose", "workflows")

__all__ = ["SCHEMAS", "Check", "Step", "Tree", "build", "select", "python_check",
           "PlanError", "list_lines", "describe_match",
           "require_some"]


class PlanError(ValueError):
    """A plan that cannot be run (a duplicate id, a selector matching nothing)."""


def groups() -> tuple:
    """The group modules, in the plan's order."""
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in GROUP_NAMES)


def __getattr__(name: str):
    if name == "GROUPS":
        return groups()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build(tree: Tree) -> list[Check]:
    checks = [check for group in groups() for check in group.checks(tree)]
    seen: set[str] = set()
    for check in checks:
        if check.id in seen:
            raise PlanError(f"plan: duplicate check id {check.id}")
        seen.add(check.id)
    return checks


def require_some(checks: list[Check], where: str) -> list[Check]:
    """An empty plan is a wrong tree, never a green run ("all 0 checks passed")."""
    if not checks:
        raise PlanError(f"{where}: no check applies (no chart, ArgoCD, monitoring, compose or "
                        f"workflow files): not the platform repository? (see --source)")
    return checks


def select(checks: list[Check], only: list[str] | None) -> list[Check]:
    """Keep the checks matching any selector: a group, GROUP/NAME, a bare NAME, or a glob."""
    if not only:
        return checks
    chosen = [c for c in checks if any(_matches(c, s) for s in only)]
    unmatched = [s for s in only if not any(_matches(c, s) for c in checks)]
    if unmatched:
        groups = sorted({c.group for c in checks})
        raise PlanError(f"--only {', '.join(unmatched)}: matches no check "
                        f"(groups: {', '.join(groups)}; see --list for every check)")
    return chosen


def describe_match(checks: list[Check], selector: str, shown: int = 3) -> str:
    """What one selector matched, for the user to see (`--only pint: monitoring/pint`)."""
    ids = [c.id for c in checks if _matches(c, selector)]
    head = ", ".join(ids[:shown]) + (f", ... ({len(ids) - shown} more)" if len(ids) > shown else "")
    return f"{len(ids)} check{'' if len(ids) == 1 else 's'}: {head}" if len(ids) != 1 else head


def list_lines(checks: list[Check]) -> str:
    """One line a check (id, tool, what): what `--list` prints in both executors."""
    return "\n".join(f"{c.id}\t{c.tool}\t{c.description}" for c in checks)


def _matches(check: Check, selector: str) -> bool:
    selector = selector.strip("/")
    return (check.group == selector or check.id == selector or check.name == selector
            or fnmatch.fnmatchcase(check.id, selector) or fnmatch.fnmatchcase(check.name, selector))
