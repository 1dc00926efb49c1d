"""docker-compose.prod.yml comes up: what `up` needs beyond a valid file.

    docker-compose --env-file infra/compose/lint.env -f docker-compose.prod.yml --profile '*' \
      config --no-consistency --format json \
      | python -m pipeline.checks.compose.comesup docker-compose.prod.yml

Read from the compose model (what Compose v2 resolves). Fails when
- a service depends on a service the file does not define, or on one that only starts
  with a profile the dependent does not share (compose cannot start it);
- `depends_on` waits for `service_healthy` of a service without a healthcheck;
- a service connects to a PostgreSQL database (a postgres:// or jdbc:postgresql:// URL, a
  DATA_SOURCE_URI, or DATABASE_HOST + DATABASE_NAME) that the PostgreSQL service does not
  create: neither its POSTGRES_DB (default POSTGRES_USER) nor a `CREATE DATABASE` of an init
  script mounted at /docker-entrypoint-initdb.d.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from pipeline.checks.cli import run_check
from pipeline.checks.compose import arguments, project
from pipeline.checks.problem import Problem
from pipeline.model.compose import Project, Service

RULE = "compose-comes-up"
INITDB = "/docker-entrypoint-initdb.d"
URL = re.compile(r"(?:postgres(?:ql)?(?:\+\w+)?|jdbc:postgresql)://(?:[^@/\s]*@)?"
                 r"(?P<host>[A-Za-z0-9_.-]+)(?::\d+)?/(?P<db>[A-Za-z0-9_-]+)")
HOST_PORT_DB = re.compile(r"^(?P<host>[A-Za-z0-9_.-]+):\d+/(?P<db>[A-Za-z0-9_-]+)")
CREATE = re.compile(r"CREATE\s+DATABASE\s+\"?(?P<db>[A-Za-z0-9_-]+)\"?", re.IGNORECASE)


def problem(path: str, service: str, message: str) -> Problem:
    return Problem(path=path, message=message, resource=f"service {service}", rule=RULE)


def is_postgres(service: Service) -> bool:
    return service.image.rsplit("/", 1)[-1].split(":", 1)[0] == "postgres"


def created_databases(service: Service, root: Path) -> tuple[set[str], list[str]]:
    """(databases the postgres service creates, the init scripts read)."""
    env = {k: v for k, v in service.environment.items() if v}
    names = {env.get("POSTGRES_DB") or env.get("POSTGRES_USER") or "postgres"}
    scripts = []
    for mount in service.mounts:
        if mount.target.rstrip("/") != INITDB or mount.kind != "repo":
            continue
        folder = root / mount.source
        files = sorted(folder.glob("*")) if folder.is_dir() else [folder]
        for script in files:
            if script.suffix in (".sql", ".sh") and script.is_file():
                scripts.append(str(script.relative_to(root)))
                names |= {m.group("db") for m in CREATE.finditer(script.read_text(encoding="utf-8"))}
    return names, scripts


def connections(service: Service) -> set[tuple[str, str]]:
    """(host, database) of every PostgreSQL connection a service's environment describes."""
    found = set()
    env = {k: v for k, v in service.environment.items() if v}
    for name, value in env.items():
        found |= {(m.group("host"), m.group("db")) for m in URL.finditer(value)}
        if name == "DATA_SOURCE_URI" and (m := HOST_PORT_DB.match(value)):
            found.add((m.group("host"), m.group("db")))
    if env.get("DATABASE_HOST") and env.get("DATABASE_NAME"):
        found.add((env["DATABASE_HOST"], env["DATABASE_NAME"]))
    return found


def check_dependencies(model: Project) -> list[Problem]:
    found = []
    for name, service in model.services.items():
        for target, dependency in service.depends_on.items():
            other = model.services.get(target)
            if other is None:
                found.append(problem(model.path, name, f"depends on {target}, which is not defined"))
                continue
            theirs = set(other.profiles)
            if theirs and not theirs & set(service.profiles) and dependency.required:
                found.append(problem(model.path, name, f"depends on {target}, which only starts with "
                                                       f"profile {', '.join(sorted(theirs))}"))
            if dependency.condition == "service_healthy" and not other.healthcheck.defined:
                found.append(problem(model.path, name, f"waits for {target} to be healthy, but "
                                                       f"{target} has no healthcheck"))
    return found


def check_databases(model: Project, root: Path) -> list[Problem]:
    found = []
    databases = {name: created_databases(s, root) for name, s in model.services.items() if is_postgres(s)}
    for name, service in model.services.items():
        for host, database in sorted(connections(service)):
            if host not in databases:
                continue
            created, scripts = databases[host]
            if database not in created:
                found.append(problem(model.path, name, f"connects to database {database!r} on {host}, "
                                     f"which nothing creates (POSTGRES_DB and {INITDB} scripts "
                                     f"{', '.join(scripts) or 'none'} create {', '.join(sorted(created))})"))
    return found


def check(args: argparse.Namespace) -> tuple[list[Problem], str]:
    model, _, root = project(args)
    return (check_dependencies(model) + check_databases(model, root),
            f"{len(model.services)} services: dependencies, healthchecks and databases")


if __name__ == "__main__":
    raise SystemExit(run_check("compose-comes-up", __doc__, arguments, check))
