"""docker-compose.prod.yml: services, images, mounts and ports of the platform.

    docker-compose --env-file infra/compose/lint.env -f docker-compose.prod.yml --profile '*' \
      config --no-consistency --format json \
      | python -m pipeline.checks.compose.services docker-compose.prod.yml

Read from the compose model (what Compose v2 resolves, variables from infra/compose/lint.env
and the file's defaults). Fails when
- a required service is missing (the platform's and the monitoring stack's);
- a monitoring image is not the pinned one (toolchain.toml for prometheus and alertmanager),
  one of our images is not from GHCR or not configurable by env, or any image is untagged
  or `latest`;
- prometheus, alertmanager or grafana lack their config mounts, data volume or
  published port (9090, 9093, 3001:3000), or grafana's admin password does
  not come from GRAFANA_ADMIN_PASSWORD;
- prometheus or alertmanager, which have no authentication of their own, are
  published on anything but 127.0.0.1 by default (`${PROMETHEUS_BIND:-127.0.0.1}`
  overrides it), or prometheus enables its lifecycle or admin API;
- a service has no healthcheck or restart policy, a named volume is not
  declared, or a bind-mounted repo path does not exist (a `${VAR:-default}` source is
  checked with its default);
- inside the containers, prometheus' --config.file, its rule_files (relative
  to the config file) or alertmanager's --config.file and *_file secrets do
  not land on a mounted file that exists in the repo;
- prometheus scrapes or alerts a host that is no compose service.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path, PurePosixPath

from pipeline import toolchain
from pipeline.checks.cli import run_check
from pipeline.checks.compose import arguments, project
from pipeline.checks.files import load_yaml, normpath
from pipeline.checks.problem import LoadError, Problem
from pipeline.model.compose import Project, Service
from pipeline.model.prometheus import file_fields, static_targets

RULE = "compose-services"
MONITORING = {
    "prometheus": {"image": toolchain.tool("prometheus").image, "port": "127.0.0.1:9090:9090",
                   "data": "/prometheus", "config": "/etc/prometheus/prometheus.yml",
                   "mounts": {"/etc/prometheus": "infra/monitoring/prometheus",
                              "/etc/alertmanager/rules": "infra/monitoring/alertmanager/rules"}},
    "alertmanager": {"image": toolchain.tool("alertmanager").image, "port": "127.0.0.1:9093:9093",
                     "data": "/alertmanager", "config": "/etc/alertmanager/alertmanager.yml",
                     "mounts": {"/etc/alertmanager/alertmanager.yml":
                                "infra/monitoring/alertmanager/alertmanager.yml"}},
    "grafana": {"image": "grafana/grafana:10.4.0", "port": "3001:3000", "data": "/var/lib/grafana",
                "mounts": {"/etc/grafana/provisioning": "infra/monitoring/grafana"}},
    "node-exporter": {"image": re.compile(r"^prom/node-exporter:v\d+\.\d+\.\d+$")},
}
OURS = ("backend", "frontend")  # images we build and push to GHCR
PLATFORM = ("backend", "frontend", "postgres", "redis", "edc-controlplane", "edc-dataplane",
            "edc-exporter", "redis-exporter", "postgres-exporter")
RESTART = {"always", "unless-stopped"}
# Unauthenticated write APIs of Prometheus (reload/quit, TSDB deletion).
FORBIDDEN_FLAGS = ("--web.enable-lifecycle", "--web.enable-admin-api")
HOST_PATHS = {"/", "/proc", "/sys"}  # host paths node-exporter may read


def problem(path: str, service: str, message: str) -> Problem:
    return Problem(path=path, message=message, resource=f"service {service}" if service else "",
                   rule=RULE)


def check_service(path: str, service: Service, declared: set[str], root: Path) -> list[Problem]:
    """Image, restart policy, healthcheck and mounts of one service."""
    name, found = service.name, []
    if not service.image:
        found.append(problem(path, name, "no image"))
    elif ":" not in service.image.split("@", 1)[0].rsplit("/", 1)[-1] or service.image.endswith(":latest"):
        found.append(problem(path, name, f"image {service.image!r} must be pinned to a version tag"))
    if service.restart not in RESTART:
        found.append(problem(path, name, f"restart policy {service.restart!r}, expected one of "
                                         f"{', '.join(sorted(RESTART))}"))
    if not service.healthcheck.defined:
        found.append(problem(path, name, "no healthcheck"))
    for mount in service.mounts:
        if mount.kind == "repo" and not (root / mount.source).exists():
            found.append(problem(path, name, f"mounts ./{mount.source} at {mount.target}, which "
                                             "does not exist in the repo"))
        elif mount.kind == "host" and (mount.source not in HOST_PATHS or name != "node-exporter"):
            found.append(problem(path, name, f"mounts host path {mount.source}; only node-exporter "
                                             f"may read {', '.join(sorted(HOST_PATHS))}"))
        elif mount.kind == "volume" and mount.source not in declared:
            found.append(problem(path, name, f"volume {mount.source!r} is not declared under "
                                             "top-level `volumes:`"))
    return found


def check_monitoring(path: str, name: str, service: Service, spec: dict) -> list[Problem]:
    """The monitoring service as the stack needs it: pinned image, port, mounts, data volume."""
    found = []
    wanted = spec["image"]
    if (wanted.match(service.image) is None) if isinstance(wanted, re.Pattern) else service.image != wanted:
        found.append(problem(path, name, f"image {service.image!r}, expected "
                                         f"{wanted.pattern if isinstance(wanted, re.Pattern) else wanted}"))
    published = [str(port) for port in service.ports]
    if "port" in spec and spec["port"] not in published:
        found.append(problem(path, name, f"must publish {spec['port']} (by default; found "
                                         f"{', '.join(published) or 'none'})"))
    for flag in FORBIDDEN_FLAGS:
        if any(arg.split("=", 1)[0] == flag for arg in service.command or ()):
            found.append(problem(path, name, f"{flag} opens an unauthenticated write API; remove it"))
    for target, local in spec.get("mounts", {}).items():
        mount = service.mount_for(target)
        if mount is None or mount.target != target or mount.kind != "repo" or mount.source != local:
            found.append(problem(path, name, f"must mount ./{local} at {target} (read-only)"))
    if "data" in spec:
        mount = service.mount_for(spec["data"])
        if mount is None or mount.target != spec["data"] or mount.kind != "volume":
            found.append(problem(path, name, f"{spec['data']} must be a named data volume"))
    return found


def check_services(model: Project, written: dict, root: Path) -> list[Problem]:
    path, services = model.path, model.services
    found = [problem(path, name, "is missing") for name in (*PLATFORM, *MONITORING)
             if name not in services]
    for service in services.values():
        found += check_service(path, service, set(model.volumes), root)
    for name in OURS:
        if name in services and (not services[name].image.startswith("ghcr.io/")
                                 or "${" not in written[name].image):
            found.append(problem(path, name, f"image {written[name].image!r} must come from ghcr.io "
                                             "and be configurable by env (${VAR:-default})"))
    for name, spec in MONITORING.items():
        if name in services:
            found += check_monitoring(path, name, services[name], spec)
    grafana = written.get("grafana")
    if grafana and "${GRAFANA_ADMIN_PASSWORD" not in grafana.environment.get("GF_SECURITY_ADMIN_PASSWORD", ""):
        found.append(problem(path, "grafana", "GF_SECURITY_ADMIN_PASSWORD must come from "
                                              "${GRAFANA_ADMIN_PASSWORD}"))
    return found


def _load(root: Path, local: str, found: list[Problem]) -> dict:
    try:
        document = load_yaml(root / local)
    except LoadError as error:
        found.append(Problem(path=local, message=str(error), rule=RULE))
        return {}
    return document if isinstance(document, dict) else {}


def mounted_config(model: Project, service: Service, root: Path,
                   found: list[Problem]) -> tuple[str, str, dict] | None:
    """(path in the container, repo path, parsed) of the service's --config.file, which a
    mount must carry."""
    config = service.flag("config.file") or MONITORING[service.name]["config"]
    local = service.source_of(config)
    if local is None or not (root / local).is_file():
        found.append(problem(model.path, service.name, f"--config.file {config} is not a mounted repo file"))
        return None
    return config, local, _load(root, local, found)


def prometheus_config(model: Project, prometheus: Service, root: Path, config: str, local: str,
                      prom: dict) -> list[Problem]:
    """prometheus.yml as the container sees it: rule files mounted, targets are services."""
    found = []
    base = PurePosixPath(config).parent
    for entry in prom.get("rule_files") or []:
        inside = normpath(base / str(entry))
        repo = prometheus.source_of(inside)
        if "*" in inside:
            found.append(Problem(path=local, rule=RULE, message=f"rule_files entry {entry!r}: list "
                                 "files, a glob matching nothing loads no rules without an error"))
        elif repo is None or not (root / repo).is_file():
            found.append(Problem(path=local, rule=RULE, message=f"rule_files entry {entry!r} is "
                                 f"{inside} in the prometheus container, which no mount of "
                                 f"{model.path} provides"))
    for job, targets in static_targets(prom).items():
        for target in targets:
            host = target.rsplit(":", 1)[0]
            if host not in model.services and host != "localhost":
                found.append(Problem(path=local, rule=RULE,
                                     message=f"job {job}: target {target} is not a service of {model.path}"))
    return found


def alertmanager_config(model: Project, alertmanager: Service, root: Path, config: str, local: str,
                        document: dict) -> list[Problem]:
    """alertmanager.yml's *_file secrets are absolute and mounted."""
    found = []
    for key, value in file_fields(document):
        if not value.startswith("/"):
            found.append(Problem(path=local, rule=RULE, message=f"{key}: {value} must be an absolute "
                                 "path (Alertmanager opens it relative to its working directory at "
                                 "send time)"))
            continue
        repo = alertmanager.source_of(value)
        if repo is None or not (root / repo).is_file():
            found.append(Problem(path=local, rule=RULE, message=f"{key}: {value} is provided by no "
                                 "mount of service alertmanager (with default environment)"))
    return found


def check_wiring(model: Project, root: Path) -> list[Problem]:
    """Config files as the containers see them: the mounts must carry what the configs name."""
    found: list[Problem] = []
    for name, check_config in (("prometheus", prometheus_config), ("alertmanager", alertmanager_config)):
        service = model.services.get(name)
        mounted = service and mounted_config(model, service, root, found)
        if mounted:
            found += check_config(model, service, root, *mounted)
    return found


def check(args: argparse.Namespace) -> tuple[list[Problem], str]:
    model, as_written, root = project(args)
    found = check_services(model, as_written, root) + check_wiring(model, root)
    return found, f"{len(model.services)} services"


if __name__ == "__main__":
    raise SystemExit(run_check("compose", __doc__, arguments, check))
