"""docker-compose.prod.yml: services, images, mounts and ports of the platform.

    python -m pipeline.contracts.compose docker-compose.prod.yml

Fails when
- a required service is missing (the platform's and the monitoring stack's);
- a monitoring image is not the pinned one, one of our images is not from
  GHCR or not configurable by env, or any image is untagged or `latest`;
- prometheus, alertmanager or grafana lack their config mounts, data volume or
  published port (9090, 9093, 3001:3000), or grafana's admin password does
  not come from GRAFANA_ADMIN_PASSWORD;
- prometheus or alertmanager, which have no authentication of their own, are
  published on anything but 127.0.0.1 by default (`${PROMETHEUS_BIND:-127.0.0.1}`
  overrides it), or prometheus enables its lifecycle or admin API;
- a service has no healthcheck or restart policy, a named volume is not
  declared, or a bind-mounted repo path does not exist (`${VAR:-default}` is
  checked with its default);
- inside the containers, prometheus' --config.file, its rule_files (relative
  to the config file) or alertmanager's --config.file and *_file secrets do
  not land on a mounted file that exists in the repo;
- prometheus scrapes or alerts a host that is no compose service.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path, PurePosixPath

from pipeline.contracts.common import Report, load_yaml, normpath, static_targets
from pipeline.model.prometheus import file_fields

MONITORING = {
    "prometheus": {"image": "prom/prometheus:v2.51.0", "port": "127.0.0.1:9090:9090", "data": "/prometheus",
                   "mounts": {"/etc/prometheus": "infra/monitoring/prometheus",
                              "/etc/alertmanager/rules": "infra/monitoring/alertmanager/rules"}},
    "alertmanager": {"image": "prom/alertmanager:v0.27.0", "port": "127.0.0.1:9093:9093",
                     "data": "/alertmanager",
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
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose interpolation with every variable unset: `${X:-d}` -> d, `${X}` -> ''."""
    def replace(match: re.Match) -> str:
        return match.group(3) if match.group(2) in (":-", "-") else ""
    return VARIABLE.sub(replace, value)


def _mounts(service: dict) -> list[tuple[str, str]]:
    """(source, container path) of each volume entry, short or long syntax, interpolated."""
    found = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, str):
            parts = interpolate(entry).split(":")
            if len(parts) >= 2:
                found.append((parts[0], parts[1]))
        elif isinstance(entry, dict):
            found.append((interpolate(str(entry.get("source", ""))), str(entry.get("target", ""))))
    return found


def _container_to_repo(service: dict, root: Path, container_path: str) -> str | None:
    """The repo path a container path is served from, through the service's bind mounts."""
    best = None
    for source, target in _mounts(service):
        source = interpolate(source)
        if not source.startswith("./"):
            continue
        target = target.rstrip("/")
        if container_path == target or container_path.startswith(target + "/"):
            if best is None or len(target) > len(best[1]):
                best = (source, target)
    if best is None:
        return None
    rest = container_path[len(best[1]):].lstrip("/")
    local = PurePosixPath(best[0][2:])
    return str(local / rest) if rest else str(local)


def _flag(service: dict, name: str) -> str | None:
    command = service.get("command") or []
    if isinstance(command, str):
        command = command.split()
    for arg in command:
        if str(arg).startswith(f"--{name}="):
            return str(arg).split("=", 1)[1]
    return None


def check_services(path: str, doc: dict, root: Path, report: Report) -> None:
    services = doc.get("services")
    if not isinstance(services, dict):
        report.add(path, "no `services:` mapping")
        return
    declared = set((doc.get("volumes") or {}).keys())
    for name in (*PLATFORM, *MONITORING):
        if name not in services:
            report.add(path, f"service {name} is missing")
    for name, service in services.items():
        if not isinstance(service, dict):
            report.add(path, f"service {name}: must be a mapping")
            continue
        image = interpolate(str(service.get("image") or ""))
        if not image:
            report.add(path, f"service {name}: no image")
        elif ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
            report.add(path, f"service {name}: image {image!r} must be pinned to a version tag")
        if service.get("restart") not in RESTART:
            report.add(path, f"service {name}: restart policy {service.get('restart')!r}, expected "
                             f"one of {', '.join(sorted(RESTART))}")
        test = (service.get("healthcheck") or {}).get("test")
        if not test or test == ["NONE"]:
            report.add(path, f"service {name}: no healthcheck")
        for source, target in _mounts(service):
            resolved = interpolate(source)
            if resolved.startswith(("./", "../")):
                if not (root / resolved).exists():
                    report.add(path, f"service {name}: mounts {resolved} at {target}, which does not "
                                     "exist in the repo")
            elif resolved.startswith("/"):
                if resolved not in HOST_PATHS or name != "node-exporter":
                    report.add(path, f"service {name}: mounts host path {resolved}; only node-exporter "
                                     f"may read {', '.join(sorted(HOST_PATHS))}")
            elif resolved not in declared:
                report.add(path, f"service {name}: volume {resolved!r} is not declared under "
                                 "top-level `volumes:`")
    for name in OURS:
        raw = str((services.get(name) or {}).get("image") or "")
        if raw and (not interpolate(raw).startswith("ghcr.io/") or "${" not in raw):
            report.add(path, f"service {name}: image {raw!r} must come from ghcr.io and be "
                             "configurable by env (${VAR:-default})")
    for name, spec in MONITORING.items():
        service = services.get(name)
        if not isinstance(service, dict):
            continue
        image = str(service.get("image") or "")
        wanted = spec["image"]
        if (wanted.match(image) is None) if isinstance(wanted, re.Pattern) else image != wanted:
            report.add(path, f"service {name}: image {image!r}, expected "
                             f"{wanted.pattern if isinstance(wanted, re.Pattern) else wanted}")
        published = [interpolate(str(p)) for p in service.get("ports") or []]
        if "port" in spec and spec["port"] not in published:
            report.add(path, f"service {name}: must publish {spec['port']} (by default; found "
                             f"{', '.join(published) or 'none'})")
        for flag in FORBIDDEN_FLAGS:
            if any(str(arg).split("=", 1)[0] == flag for arg in service.get("command") or []):
                report.add(path, f"service {name}: {flag} opens an unauthenticated write API; remove it")
        mounts = {target: interpolate(source) for source, target in _mounts(service)}
        for target, local in spec.get("mounts", {}).items():
            if mounts.get(target) != f"./{local}":
                report.add(path, f"service {name}: must mount ./{local} at {target} (read-only)")
        if "data" in spec:
            source = mounts.get(spec["data"], "")
            if not source or source.startswith((".", "/")):
                report.add(path, f"service {name}: {spec['data']} must be a named data volume")
    grafana = services.get("grafana") or {}
    environment = grafana.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(str(e).split("=", 1) for e in environment if "=" in str(e))
    if "${GRAFANA_ADMIN_PASSWORD" not in str(environment.get("GF_SECURITY_ADMIN_PASSWORD", "")):
        report.add(path, "service grafana: GF_SECURITY_ADMIN_PASSWORD must come from "
                         "${GRAFANA_ADMIN_PASSWORD}")


def _mounted_config(name: str, service: dict, default: str, root: Path, path: str,
                    report: Report) -> tuple[str, str] | None:
    """(path in the container, repo path) of the service's --config.file, which a mount must carry."""
    config = _flag(service, "config.file") or default
    local = _container_to_repo(service, root, config)
    if local is None or not (root / local).is_file():
        report.add(path, f"service {name}: --config.file {config} is not a mounted repo file")
        return None
    return config, local


def check_wiring(path: str, doc: dict, root: Path, report: Report) -> None:
    """Config files as the containers see them: the mounts must carry what the configs name."""
    services = doc.get("services") or {}
    prometheus = services.get("prometheus")
    found = isinstance(prometheus, dict) and _mounted_config(
        "prometheus", prometheus, "/etc/prometheus/prometheus.yml", root, path, report)
    if found:
        config, local = found
        prom = report.load(root / local, load_yaml)[1] or {}
        base = PurePosixPath(config).parent
        for entry in prom.get("rule_files") or []:
            inside = normpath(base / str(entry))
            repo = _container_to_repo(prometheus, root, inside)
            if "*" in inside:
                report.add(local, f"rule_files entry {entry!r}: list files, a glob matching nothing "
                                  "loads no rules without an error")
            elif repo is None or not (root / repo).is_file():
                report.add(local, f"rule_files entry {entry!r} is {inside} in the prometheus "
                                  "container, which no mount of docker-compose.prod.yml provides")
        for job, targets in static_targets(prom).items():
            for target in targets:
                host = target.rsplit(":", 1)[0]
                if host not in services and host != "localhost":
                    report.add(local, f"job {job}: target {target} is not a service of {path}")
    alertmanager = services.get("alertmanager")
    found = isinstance(alertmanager, dict) and _mounted_config(
        "alertmanager", alertmanager, "/etc/alertmanager/alertmanager.yml", root, path, report)
    if found:
        _, local = found
        for key, value in file_fields(report.load(root / local, load_yaml)[1]):
            if not value.startswith("/"):
                report.add(local, f"{key}: {value} must be an absolute path (Alertmanager opens it "
                                  "relative to its working directory at send time)")
                continue
            repo = _container_to_repo(alertmanager, root, value)
            if repo is None or not (root / repo).is_file():
                report.add(local, f"{key}: {value} is provided by no mount of service alertmanager "
                                  "(with default environment)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.contracts.compose", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("compose_file")
    args = parser.parse_args(argv)
    report = Report("compose")
    root = Path(args.compose_file).resolve().parent
    ok, doc = report.load(args.compose_file, load_yaml)
    if not ok:
        return report.finish()
    if not isinstance(doc, dict):
        report.add(args.compose_file, "not a compose file (expected a mapping)")
        return report.finish()
    check_services(args.compose_file, doc, root, report)
    check_wiring(args.compose_file, doc, root, report)
    return report.finish(f"{len(doc.get('services') or {})} services")


if __name__ == "__main__":
    sys.exit(main())
