"""docker-compose.prod.yml comes up: what `up` needs beyond a valid file.

    python -m pipeline.contracts.composeup docker-compose.prod.yml

Fails when
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
import sys
from pathlib import Path

from pipeline.contracts.common import Report, load_yaml
from pipeline.contracts.compose import _mounts, interpolate
from pipeline.contracts.composeenv import environment

INITDB = "/docker-entrypoint-initdb.d"
URL = re.compile(r"(?:postgres(?:ql)?(?:\+\w+)?|jdbc:postgresql)://(?:[^@/\s]*@)?"
                 r"(?P<host>[A-Za-z0-9_.-]+)(?::\d+)?/(?P<db>[A-Za-z0-9_-]+)")
HOST_PORT_DB = re.compile(r"^(?P<host>[A-Za-z0-9_.-]+):\d+/(?P<db>[A-Za-z0-9_-]+)")
CREATE = re.compile(r"CREATE\s+DATABASE\s+\"?(?P<db>[A-Za-z0-9_-]+)\"?", re.IGNORECASE)


def is_postgres(service: dict) -> bool:
    image = interpolate(str(service.get("image", ""))).rsplit("/", 1)[-1]
    return image.split(":", 1)[0] == "postgres"


def created_databases(service: dict, root: Path) -> tuple[set[str], list[str]]:
    """(databases the postgres service creates, the init scripts read)."""
    env = {k: v for k, v in environment(service).items() if isinstance(v, str)}
    names = {env.get("POSTGRES_DB") or env.get("POSTGRES_USER") or "postgres"}
    scripts = []
    for source, target in _mounts(service):
        if target.rstrip("/") != INITDB or not source.startswith("./"):
            continue
        folder = root / source
        files = sorted(folder.glob("*")) if folder.is_dir() else [folder]
        for script in files:
            if script.suffix in (".sql", ".sh") and script.is_file():
                scripts.append(str(script.relative_to(root)))
                names |= {m.group("db") for m in CREATE.finditer(script.read_text(encoding="utf-8"))}
    return names, scripts


def connections(service: dict) -> set[tuple[str, str]]:
    """(host, database) of every PostgreSQL connection a service's environment describes."""
    found = set()
    env = {k: v for k, v in environment(service).items() if isinstance(v, str)}
    for name, value in env.items():
        found |= {(m.group("host"), m.group("db")) for m in URL.finditer(value)}
        if name == "DATA_SOURCE_URI" and (m := HOST_PORT_DB.match(value)):
            found.add((m.group("host"), m.group("db")))
    if env.get("DATABASE_HOST") and env.get("DATABASE_NAME"):
        found.add((env["DATABASE_HOST"], env["DATABASE_NAME"]))
    return found


def _depends(service: dict) -> dict[str, dict]:
    raw = service.get("depends_on") or {}
    return {name: {} for name in raw} if isinstance(raw, list) else {k: v or {} for k, v in raw.items()}


def check(path: str, doc: dict, root: Path, report: Report) -> None:
    services = doc.get("services") or {}
    for name, service in services.items():
        profiles = set(service.get("profiles") or [])
        for target, condition in _depends(service).items():
            other = services.get(target)
            if other is None:
                report.add(path, f"service {name}: depends on {target}, which is not defined")
                continue
            theirs = set(other.get("profiles") or [])
            if theirs and not theirs & profiles and condition.get("required", True):
                report.add(path, f"service {name}: depends on {target}, which only starts with profile "
                                 f"{', '.join(sorted(theirs))}")
            test = (other.get("healthcheck") or {}).get("test")
            if condition.get("condition") == "service_healthy" and (not test or test == ["NONE"]):
                report.add(path, f"service {name}: waits for {target} to be healthy, but {target} "
                                 "has no healthcheck")
    databases = {name: created_databases(s, root) for name, s in services.items() if is_postgres(s)}
    for name, service in services.items():
        for host, database in sorted(connections(service)):
            if host not in databases:
                continue
            created, scripts = databases[host]
            if database not in created:
                report.add(path, f"service {name}: connects to database {database!r} on {host}, which "
                                 f"nothing creates (POSTGRES_DB and {INITDB} scripts "
                                 f"{', '.join(scripts) or 'none'} create {', '.join(sorted(created))})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.contracts.composeup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("compose_file")
    args = parser.parse_args(argv)
    report = Report("compose-comes-up")
    ok, doc = report.load(args.compose_file, load_yaml)
    if ok and not isinstance(doc, dict):
        report.add(args.compose_file, "not a compose file (expected a mapping)")
    elif ok:
        check(args.compose_file, doc, Path(args.compose_file).resolve().parent, report)
    return report.finish(f"{len((doc or {}).get('services') or {})} services: dependencies, "
                         "healthchecks and databases")


if __name__ == "__main__":
    sys.exit(main())
