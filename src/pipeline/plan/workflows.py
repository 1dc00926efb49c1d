"""Checks of the GitHub Actions workflows and the repo's YAML style."""

from __future__ import annotations

from pipeline.layout import DAGGER_JSON, WORKFLOWS, YAMLLINT_CONFIG
from pipeline.plan.model import Check, Tree, check_modules, python_check

(pins,) = check_modules("pipeline.checks.workflows", "pins")


def checks(tree: Tree) -> list[Check]:
    workflows = tree.glob(f"{WORKFLOWS}/*.y*ml")
    found = []
    if workflows:
        found.append(Check(
            name="actionlint", group="workflows", tool="actionlint",
            argv=("actionlint", "-no-color", *workflows), reads=tuple(workflows),
            description="GitHub Actions workflow syntax, expressions and run: scripts"))
    if workflows and tree.is_file(DAGGER_JSON):
        found.append(python_check(
            "pins", "workflows", pins, [DAGGER_JSON, *workflows], [DAGGER_JSON, *workflows],
            description="every action pinned to a commit, the Dagger CLI = engineVersion, "
                        "no check logic in run: steps"))
    yaml_files = sorted({f for f in tree.glob("*.y*ml") + tree.glob(".github/*")
                         + tree.glob("infra/*") if f.endswith((".yml", ".yaml"))
                         and "/templates/" not in f and f != YAMLLINT_CONFIG})
    if yaml_files and tree.is_file(YAMLLINT_CONFIG):
        found.append(Check(
            name="yamllint", group="workflows", tool="yamllint",
            argv=("yamllint", "--strict", "-c", YAMLLINT_CONFIG, *yaml_files),
            reads=(YAMLLINT_CONFIG, *yaml_files),
            description="YAML syntax and style of every YAML file outside chart templates"))
    return found
