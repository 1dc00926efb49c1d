"""Checks of the compose group: docker-compose.prod.yml and what it mounts."""

from __future__ import annotations

from pipeline.plan.model import Check, Tree, python_check

GROUP = "compose"
COMPOSE_FILES = ("docker-compose.prod.yml",)
MOUNTED = "infra/monitoring"


def checks(tree: Tree) -> list[Check]:
    found = []
    for compose in COMPOSE_FILES:
        if not tree.is_file(compose):
            continue
        name = compose.removesuffix(".yml").removesuffix(".yaml").replace(".", "-")
        found.append(python_check(
            f"{name}", GROUP, "contracts.compose", [compose],
            [compose, *([MOUNTED] if tree.is_dir(MOUNTED) else [])],
            description="services, pinned images, ports, healthchecks, restart policies, named "
                        "volumes, and that every mounted file exists where the configs expect it"))
    return found
