"""Checks of the compose group: docker-compose.prod.yml and what it mounts.

  <file>          services, images, healthchecks, mounts (src/pipeline/contracts/compose.py)
  config          `docker-compose config --quiet`: the real Compose v2 resolves the file, every
                  profile included, with the dummy variables of infra/compose/lint.env
                  (a malformed `${VAR@x}` fails here, in Compose's own words)
  variables       every ${VAR} Compose lists (`config --variables`) has a default or is
                  required: an unset one would silently become "" (contracts/composevars.py)
  comes-up        dependencies, healthchecks waited on, databases created
  edc-settings    the EDC settings contract on the compose EDC services
  app-contract    backend and frontend as infra/app-contract.yaml says
"""

from __future__ import annotations

from pipeline.plan.chart import APP_CONTRACT, EDC_SETTINGS
from pipeline.plan.model import Check, Step, Tree, python_check

GROUP = "compose"
COMPOSE_FILES = ("docker-compose.prod.yml",)
MOUNTED = "infra/monitoring"
# Non-secret dummy values of every variable the compose file requires (never real secrets).
LINT_ENV = "infra/compose/lint.env"
POSTGRES_INIT = "infra/compose/postgres-init"
PROFILES = ("edc",)


def config_argv(compose: str) -> tuple[str, ...]:
    """`docker-compose config --quiet` over the file with every profile on (no daemon needed)."""
    profiles = [arg for profile in PROFILES for arg in ("--profile", profile)]
    return ("docker-compose", "--env-file", LINT_ENV, "-f", compose, *profiles, "config", "--quiet")


def variables_argv(compose: str) -> tuple[str, ...]:
    """`docker-compose config --variables`: Compose's own list of the file's variables."""
    profiles = [arg for profile in PROFILES for arg in ("--profile", profile)]
    return ("docker-compose", "-f", compose, *profiles, "config", "--variables", "--format", "json")


def checks(tree: Tree) -> list[Check]:
    found = []
    for compose in COMPOSE_FILES:
        if not tree.is_file(compose):
            continue
        name = compose.removesuffix(".yml").removesuffix(".yaml").replace(".", "-")
        found.append(python_check(
            f"{name}", GROUP, "contracts.compose", [compose],
            [compose, *([MOUNTED] if tree.is_dir(MOUNTED) else []),
             *([POSTGRES_INIT] if tree.is_dir(POSTGRES_INIT) else [])],
            description="services, pinned images, ports, healthchecks, restart policies, named "
                        "volumes, and that every mounted file exists where the configs expect it"))
        if tree.is_file(LINT_ENV):
            found.append(Check(
                name="config", group=GROUP, tool="compose", argv=config_argv(compose),
                reads=(compose, LINT_ENV),
                description=f"docker-compose config --quiet (Compose v2, profiles {', '.join(PROFILES)}) "
                            f"with the dummy variables of {LINT_ENV}"))
        found.append(python_check(
            "variables", GROUP, "contracts.composevars", [compose], [compose],
            stdin_from=Step("compose", variables_argv(compose)),
            description="every variable has a default (:-) or is required (:?), as Compose "
                        "itself lists them (docker-compose config --variables)"))
        found.append(python_check(
            "comes-up", GROUP, "contracts.composeup", [compose],
            [compose, *([POSTGRES_INIT] if tree.is_dir(POSTGRES_INIT) else [])],
            description="depends_on targets exist (and are healthchecked when waited on), every "
                        "database a service connects to is created"))
        if tree.is_file(EDC_SETTINGS):
            found.append(python_check(
                "edc-settings", GROUP, "checks.chart.edc", ["--contract", EDC_SETTINGS, "--compose", compose],
                [compose, EDC_SETTINGS],
                description=f"the compose EDC services carry every setting of {EDC_SETTINGS}"))
        if tree.is_file(APP_CONTRACT):
            found.append(python_check(
                "app-contract", GROUP, "checks.chart.appcontract", ["--contract", APP_CONTRACT, "--compose", compose],
                [compose, APP_CONTRACT],
                description=f"backend and frontend services agree with {APP_CONTRACT}"))
    return found
