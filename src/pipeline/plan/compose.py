"""Checks of the compose group: docker-compose.prod.yml and what it mounts.

The Python checks read the one compose model (pipeline.model.compose): the Step
`docker-compose config --format json` (the real Compose v2, every profile on, the required
variables from infra/compose/lint.env) feeds each of them the resolved file on stdin.

  <file>          services, images, healthchecks, mounts (checks/compose/services.py)
  config          `docker-compose config --quiet`: the real Compose v2 resolves the file, every
                  profile included, with the dummy variables of infra/compose/lint.env
                  (a malformed `${VAR@x}` fails here, in Compose's own words)
  variables       every ${VAR} Compose lists (`config --variables`) has a default or is
                  required: an unset one would silently become "" (checks/compose/variables.py)
  comes-up        dependencies, healthchecks waited on, databases created (checks/compose/comesup.py)
  edc-settings    the EDC settings contract on the compose EDC services
  app-contract    backend and frontend as infra/app-contract.yaml says
"""

from __future__ import annotations

from pipeline.layout import APP_CONTRACT, COMPOSE_FILE, COMPOSE_LINT_ENV, EDC_SETTINGS, MONITORING, POSTGRES_INIT
from pipeline.model import compose as model
from pipeline.plan.model import Check, Step, Tree, check_modules, python_check

appcontract, edc = check_modules("pipeline.checks.chart", "appcontract", "edc")
comesup, services, variables = check_modules("pipeline.checks.compose", "comesup", "services",
                                             "variables")

GROUP = "compose"
COMPOSE_FILES = (COMPOSE_FILE,)
PROFILES = ("edc",)


def _profiles() -> list[str]:
    return [arg for profile in PROFILES for arg in ("--profile", profile)]


def config_argv(compose: str) -> tuple[str, ...]:
    """`docker-compose config --quiet` over the file with every profile on (no daemon needed)."""
    return ("docker-compose", "--env-file", COMPOSE_LINT_ENV, "-f", compose, *_profiles(), "config", "--quiet")


def variables_argv(compose: str) -> tuple[str, ...]:
    """`docker-compose config --variables`: Compose's own list of the file's variables."""
    return ("docker-compose", "-f", compose, *_profiles(), "config", "--variables", "--format", "json")


def resolved(tree: Tree, compose: str) -> tuple[Step, tuple[str, ...]]:
    """The Step that prints the compose model's JSON, and the files it reads."""
    env_file = COMPOSE_LINT_ENV if tree.is_file(COMPOSE_LINT_ENV) else None
    return (Step(model.TOOL, model.config_argv(compose, env_file)),
            (compose, *([env_file] if env_file else [])))


def checks(tree: Tree) -> list[Check]:
    found = []
    for compose in COMPOSE_FILES:
        if not tree.is_file(compose):
            continue
        name = compose.removesuffix(".yml").removesuffix(".yaml").replace(".", "-")
        step, step_reads = resolved(tree, compose)
        init = [POSTGRES_INIT] if tree.is_dir(POSTGRES_INIT) else []
        found.append(python_check(
            f"{name}", GROUP, services, [compose],
            [*step_reads, *([MONITORING] if tree.is_dir(MONITORING) else []), *init],
            stdin_from=step,
            description="services, pinned images, ports, healthchecks, restart policies, named "
                        "volumes, and that every mounted file exists where the configs expect it"))
        if tree.is_file(COMPOSE_LINT_ENV):
            found.append(Check(
                name="config", group=GROUP, tool="compose", argv=config_argv(compose),
                reads=(compose, COMPOSE_LINT_ENV),
                description=f"docker-compose config --quiet (Compose v2, profiles {', '.join(PROFILES)}) "
                            f"with the dummy variables of {COMPOSE_LINT_ENV}"))
        found.append(python_check(
            "variables", GROUP, variables, [compose], [compose],
            stdin_from=Step("compose", variables_argv(compose)),
            description="every variable has a default (:-) or is required (:?), as Compose "
                        "itself lists them (docker-compose config --variables)"))
        found.append(python_check(
            "comes-up", GROUP, comesup, [compose], [*step_reads, *init], stdin_from=step,
            description="depends_on targets exist (and are healthchecked when waited on), every "
                        "database a service connects to is created"))
        if tree.is_file(EDC_SETTINGS):
            found.append(python_check(
                "edc-settings", GROUP, edc, ["--contract", EDC_SETTINGS, "--compose", compose],
                [*step_reads, EDC_SETTINGS], stdin_from=step,
                description=f"the compose EDC services carry every setting of {EDC_SETTINGS}"))
        if tree.is_file(APP_CONTRACT):
            found.append(python_check(
                "app-contract", GROUP, appcontract, ["--contract", APP_CONTRACT, "--compose", compose],
                [*step_reads, APP_CONTRACT], stdin_from=step,
                description=f"backend and frontend services agree with {APP_CONTRACT}"))
    return found
