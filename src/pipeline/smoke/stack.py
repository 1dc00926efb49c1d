"""docker-compose.prod.yml -> the monitoring services, as data both executors start.

The compose file is the one definition of the stack, read through the one compose model
(pipeline.model.compose: what the real Compose v2 resolves, `docker-compose config --format
json`; natively `load` runs it, in Dagger smoke/containers.py runs it in the compose image).
This module picks the monitoring services from that model (image, command, entrypoint,
mounts: binds from the repo, compose `secrets:`/`configs:`, host binds, named volumes;
environment and ports), and, for native runs, adapts them to local processes:

- each service gets its own emulated container filesystem (`rootfs`): every
  repo mount is copied to `rootfs/<container path>`, so relative paths inside
  the configs (rule_files, templates) resolve exactly as in the container;
- absolute container paths (in command flags and in config `*_file` fields)
  become `rootfs/<path>`: the only rewriting, and only where a path is absolute;
- addresses of compose services in the Prometheus config (`backend:8000`,
  `alertmanager:9093`, `localhost:9090`) become the local processes' addresses.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.layout import COMPOSE_FILE, COMPOSE_LINT_ENV
from pipeline.model import compose as model
from pipeline.model.compose import Mount, Port, under as _under
from pipeline.model.prometheus import scrape_targets

MONITORING_PROFILE = "monitoring"
MONITORING_SERVICES = ("prometheus", "alertmanager", "grafana", "node-exporter")


@dataclass(frozen=True)
class ImageDefaults:
    """What the compose file leaves to the image (its Dockerfile ENTRYPOINT/CMD/WORKDIR)."""

    binary: str  # the bootstrap binary that replaces the image natively ("" = none)
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    workdir: str
    port: int


# From the upstream Dockerfiles of the pinned images (prometheus v2.51.0, alertmanager v0.27.0,
# grafana 10.4, node-exporter). Only prometheus and alertmanager have native binaries.
IMAGE_DEFAULTS = {
    "prom/prometheus": ImageDefaults(
        "prometheus", ("/bin/prometheus",),
        ("--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
         "--web.console.libraries=/usr/share/prometheus/console_libraries",
         "--web.console.templates=/usr/share/prometheus/consoles"), "/prometheus", 9090),
    "prom/alertmanager": ImageDefaults(
        "alertmanager", ("/bin/alertmanager",),
        ("--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"),
        "/alertmanager", 9093),
    "grafana/grafana": ImageDefaults("", ("/run.sh",), (), "/usr/share/grafana", 3000),
    "prom/node-exporter": ImageDefaults("", ("/bin/node_exporter",), (), "/", 9100),
    "quay.io/prometheus/node-exporter": ImageDefaults(
        "", ("/bin/node_exporter",), (), "/", 9100),
}


# Flags the smoke test adds (both executors) unless the compose command sets them.
# Prometheus discovers Alertmanager ~5s after start (discovery updates are throttled);
# alerts of an evaluation before that are dropped and resent only after the resend
# delay (default 1m): a 5s delay bounds the Watchdog's trip by one evaluation interval.
SMOKE_FLAGS = {"prometheus": ("--rules.alert.resend-delay=5s",)}


# The smoke test's one error: the compose model's (file, service, field named).
StackError = model.ComposeError


@dataclass(frozen=True)
class ServiceSpec:
    """A monitoring service of the compose model, with what the image leaves to its defaults."""

    service: model.Service

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def image(self) -> str:
        return self.service.image

    @property
    def command(self) -> tuple[str, ...] | None:  # None: the image's CMD
        return self.service.command

    @property
    def entrypoint(self) -> tuple[str, ...] | None:  # None: the image's ENTRYPOINT
        return self.service.entrypoint

    @property
    def environment(self) -> dict[str, str]:
        """The variables compose sets (one without a value, taken from the shell, is left out)."""
        return {k: v for k, v in self.service.environment.items() if v is not None}

    @property
    def mounts(self) -> tuple[Mount, ...]:
        return self.service.mounts

    @property
    def ports(self) -> tuple[Port, ...]:
        return self.service.ports

    @property
    def expose(self) -> tuple[int, ...]:
        found = []
        for entry in self.service.expose:
            port = entry.split("/", 1)[0]
            if not port.isdigit():
                raise StackError(f"{COMPOSE_FILE}: services.{self.name}.expose: {entry!r}: a port "
                                 "range is not supported by the smoke test")
            found.append(int(port))
        return tuple(found)

    @property
    def working_dir(self) -> str | None:
        return self.service.working_dir

    @property
    def defaults(self) -> ImageDefaults | None:
        return image_defaults(self.image)

    @property
    def args(self) -> list[str]:
        """The arguments the container's entrypoint gets: compose `command`, else the image CMD."""
        if self.command is not None:
            return list(self.command)
        return list(self.defaults.cmd) if self.defaults else []

    @property
    def smoke_args(self) -> list[str]:
        """`args` plus the smoke test's own flags (SMOKE_FLAGS) the compose command lacks."""
        args = self.args
        names = {a.split("=", 1)[0] for a in args}
        extra = SMOKE_FLAGS.get(self.defaults.binary if self.defaults else "", ())
        return args + [f for f in extra if f.split("=", 1)[0] not in names]

    def flag(self, name: str) -> str | None:
        """The value of `--name=value` in the effective arguments."""
        return self.service.flag(name, self.args)

    @property
    def listen_port(self) -> int:
        """The container port the server listens on (--web.listen-address, else the image's)."""
        address = self.flag("web.listen-address")
        if address and address.rsplit(":", 1)[-1].isdigit():
            return int(address.rsplit(":", 1)[-1])
        if self.defaults:
            return self.defaults.port
        if self.ports:
            return self.ports[0].target
        if self.expose:
            return self.expose[0]
        raise StackError(f"service {self.name}: no port (ports, expose or a known image)")

    @property
    def container_ports(self) -> list[int]:
        return list(dict.fromkeys([self.listen_port, *(p.target for p in self.ports
                                                       if p.protocol == "tcp"), *self.expose]))

    @property
    def route_prefix(self) -> str:
        """The HTTP path prefix of a Prometheus/Alertmanager API ("" for "/")."""
        prefix = self.flag("web.route-prefix")
        if prefix is None:
            external = self.flag("web.external-url") or ""
            prefix = re.sub(r"^[a-z]+://[^/]*", "", external)
        return prefix.rstrip("/")

    def repo_mounts(self) -> list[Mount]:
        return [m for m in self.mounts if m.kind == "repo"]

    def mount_for(self, container_path: str) -> Mount | None:
        """The innermost mount holding `container_path`."""
        return self.service.mount_for(container_path)

    def source_of(self, container_path: str) -> str | None:
        """The repo path a container path comes from, if it is inside a repo mount."""
        return self.service.source_of(container_path)


def image_defaults(image: str) -> ImageDefaults | None:
    name = image.split("@", 1)[0]
    name = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    for prefix in ("docker.io/", "index.docker.io/"):
        name = name.removeprefix(prefix)
    return IMAGE_DEFAULTS.get(name)


# --- the monitoring services of the compose model -------------------------------------------

def config_argv(project_dir: str | None = None, env_file: str | None = COMPOSE_LINT_ENV) -> tuple[str, ...]:
    """`docker-compose config --format json` of the compose file, every profile on; the
    variables it requires from infra/compose/lint.env (harmless dummies, as lint uses)."""
    return model.config_argv(COMPOSE_FILE, env_file, model.ALL_PROFILES, project_dir)


def monitoring_services(project: model.Project) -> dict[str, ServiceSpec]:
    """The monitoring services: those with the `monitoring` profile, else the known names."""
    profiled = [n for n, s in project.services.items() if MONITORING_PROFILE in s.profiles]
    chosen = profiled or [n for n in MONITORING_SERVICES if n in project.services]
    for needed in ("prometheus", "alertmanager"):
        if needed not in chosen:
            raise StackError(f"{project.path}: no `{needed}` service (the smoke test needs "
                             f"prometheus and alertmanager)")
    specs = {n: ServiceSpec(project.services[n]) for n in chosen}
    for spec in specs.values():
        if not spec.image:
            raise StackError(f"{project.path}: services.{spec.name}.image: none (the smoke test "
                             "starts images, not builds)")
        for mount in spec.mounts:
            if mount.origin != "volumes" and mount.kind not in ("repo", "host"):
                raise StackError(f"{project.path}: services.{spec.name}.{mount.origin}: {mount.target} "
                                 f"is not file-based (only file-based {mount.origin} can be mounted "
                                 "by the smoke test)")
    return specs


def check_mounts(specs: Mapping[str, ServiceSpec], kind_of: Callable[[str], str | None],
                 label: str = COMPOSE_FILE) -> None:
    """Every repo mount's source must exist (`kind_of(path)` -> "file" | "dir" | None)."""
    missing = [f"services.{spec.name} mounts ./{mount.source} on {mount.target}"
               for spec in specs.values() for mount in spec.repo_mounts()
               if kind_of(mount.source) is None]
    if missing:
        raise StackError(f"{label}: mounted file(s) missing from the repository: "
                         + "; ".join(missing))


def path_kind(root: Path) -> Callable[[str], str | None]:
    def kind(rel: str) -> str | None:
        path = root / rel
        return "dir" if path.is_dir() else "file" if path.is_file() else None
    return kind


def tree_kind(files: frozenset[str] | set[str]) -> Callable[[str], str | None]:
    """`kind_of` over a file listing (as Dagger's glob gives it)."""
    def kind(rel: str) -> str | None:
        if rel in files:
            return "file"
        if rel == "." or any(f.startswith(rel.rstrip("/") + "/") for f in files):
            return "dir"
        return None
    return kind


def load(root: Path, compose: str = COMPOSE_FILE) -> dict[str, ServiceSpec]:
    """The monitoring services of `root/compose` as the real Compose resolves it (running
    here), their repo mounts checked."""
    env_file = COMPOSE_LINT_ENV if (root / COMPOSE_LINT_ENV).is_file() else None
    specs = monitoring_services(model.resolve(root, compose, env_file))
    check_mounts(specs, path_kind(root), compose)
    return specs


def config_source(spec: ServiceSpec) -> str:
    """The repo path of the service's --config.file (Prometheus, Alertmanager)."""
    container = spec.flag("config.file")
    if not container:
        raise StackError(f"service {spec.name}: no --config.file in command or image CMD")
    source = spec.source_of(container)
    if source is None:
        raise StackError(f"service {spec.name}: --config.file={container} is not mounted "
                         f"from the repository")
    return source


# --- configs: what both executors rewrite ------------------------------------------------------

# Scrape jobs the fake metrics target answers for (it serves every contract metric): the
# backend and the EDC exporter (query-exporter), whose series the rules and dashboards read.
FAKE_TARGET_JOBS = ("backend", "edc-exporter")


def fake_target_addresses(prom: dict) -> dict[str, str]:
    """job -> the compose address the fake target takes for it (the backend's is required)."""
    found = {"backend": backend_address(prom)}
    for job in FAKE_TARGET_JOBS[1:]:
        targets = scrape_targets(prom).get(job)
        if targets:
            found[job] = targets[0]
    return found


def backend_address(prom: dict, job: str = "backend") -> str:
    """Where the compose Prometheus scrapes the backend: the fake target's address."""
    targets = scrape_targets(prom).get(job)
    if not targets:
        raise StackError(f"prometheus.yml: no static target for job {job!r} "
                         f"(the fake metrics target takes its address)")
    return targets[0]


def sink_path(kind: str, receiver: str) -> str:
    """Where a receiver's notifications land on the sink: /<kind>/<receiver>."""
    return f"/{kind}/{receiver}"


def receiver_overrides(am: dict, sink_url: str) -> tuple[dict, dict[str, str], dict[str, str]]:
    """Point every receiver Alertmanager can deliver over HTTP at the sink.

    - webhook `url_file` / slack `api_url_file`: the secret file's contents become the
      sink URL (the files are what production keeps secret; the config is unchanged);
    - inline webhook `url` / slack `api_url`, and pagerduty (its Events API `url`):
      set in a copy of the config.
    Returns (config copy, {secret file path: contents}, {receiver: how it is redirected}).
    """
    am = copy.deepcopy(am)
    base = sink_url.rstrip("/")
    files: dict[str, str] = {}
    redirected: dict[str, str] = {}
    for receiver in am.get("receivers") or []:
        name = str(receiver.get("name"))
        for kind, url_key, file_key in (("webhook", "url", "url_file"),
                                        ("slack", "api_url", "api_url_file"),
                                        ("pagerduty", "url", None)):
            for config in receiver.get(f"{kind}_configs") or []:
                url = base + sink_path(kind, name)
                if file_key and config.get(file_key):
                    files.setdefault(config[file_key], url + "\n")
                    redirected[name] = f"{kind} {file_key} {config[file_key]} -> {url}"
                else:
                    config[url_key] = url
                    redirected[name] = f"{kind} {url_key} -> {url}"
    return am, files, redirected


def dump(document: dict, header: str = "") -> str:
    return header + yaml.safe_dump(document, sort_keys=False)


def _changed_strings(old: Any, new: Any, found: dict[str, str]) -> bool:
    """Collect old -> new of string leaves; False if the shapes differ (keys added)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(_changed_strings(old[k], new[k], found)
                                                for k in old)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(_changed_strings(a, b, found)
                                            for a, b in zip(old, new))
    if isinstance(old, str) and isinstance(new, str) and old != new:
        if found.get(old, new) != new:
            return False
        found[old] = new
        return True
    return old == new


def rewrite_text(text: str, old: dict, new: dict) -> str:
    """The rewritten config, keeping the original text line for line (so a server's
    "line N" points into the repo file) when the rewrite only replaced values; a YAML
    dump otherwise."""
    pairs: dict[str, str] = {}
    if _changed_strings(old, new, pairs):
        result = text
        for before, after in sorted(pairs.items(), key=lambda p: -len(p[0])):
            result = re.sub(r"(?<![\w.:/-])" + re.escape(before) + r"(?![\w.:/-])",
                            lambda _m, a=after: a, result)
        try:
            if yaml.safe_load(result) == new:
                return result
        except yaml.YAMLError:
            pass
    return dump(new, "# smoke: rewritten copy\n")


# --- native adaptation -----------------------------------------------------------------------

def rootfs_path(rootfs: Path, container_path: str) -> Path:
    return rootfs / container_path.lstrip("/")


def materialize(spec: ServiceSpec, root: Path, rootfs: Path) -> None:
    """Copy each repo mount of `spec` to rootfs/<target>: the container's view of the repo."""
    for mount in sorted(spec.repo_mounts(), key=lambda m: m.target.count("/")):
        source, dest = root / mount.source, rootfs_path(rootfs, mount.target)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(source, dest)


def _is_path_key(key: str) -> bool:
    return key.endswith(("_file", "_files", "file", "files")) or key in ("templates",
                                                                           "directory")


def rewrite_paths(document: Any, spec: ServiceSpec, rootfs: Path, key: str = "") -> Any:
    """Absolute container paths in a config -> rootfs paths (keys naming files, or under a
    mount). Relative paths stay: the rootfs keeps the container's layout."""
    if isinstance(document, dict):
        return {k: rewrite_paths(v, spec, rootfs, str(k)) for k, v in document.items()}
    if isinstance(document, list):
        return [rewrite_paths(v, spec, rootfs, key) for v in document]
    if isinstance(document, str) and document.startswith("/") and (
            _is_path_key(key) or any(_under(document, m.target) for m in spec.mounts
                                     if m.target != "/")):
        return str(rootfs_path(rootfs, document))
    return document


def rewrite_addresses(prom: dict, addresses: Mapping[str, str]) -> dict:
    """Static targets (scrape and alerting) named in `addresses` -> their local address."""
    prom = copy.deepcopy(prom)
    groups = [sc for job in prom.get("scrape_configs") or []
              for sc in job.get("static_configs") or []]
    groups += [sc for am in (prom.get("alerting") or {}).get("alertmanagers") or []
               for sc in am.get("static_configs") or []]
    for static in groups:
        static["targets"] = [addresses.get(t, t) for t in static.get("targets") or []]
    return prom


def native_argv(spec: ServiceSpec, binary: str, rootfs: Path, port: int) -> list[str]:
    """The compose command for a local process: paths under rootfs, 127.0.0.1:port,
    gossip off (Alertmanager). Every other flag is kept as compose gives it."""
    defaults = spec.defaults
    if spec.entrypoint is not None and defaults and tuple(spec.entrypoint) != defaults.entrypoint:
        raise StackError(f"service {spec.name}: a custom entrypoint {list(spec.entrypoint)} "
                         f"cannot run natively")
    argv = [binary]
    seen = set()
    for arg in spec.smoke_args:
        name, eq, value = arg.partition("=")
        seen.add(name)
        if name == "--web.listen-address":
            arg = f"{name}=127.0.0.1:{port}"
        elif name == "--cluster.listen-address":
            arg = f"{name}="
        elif eq and value.startswith("/"):
            arg = f"{name}={rootfs_path(rootfs, value)}"
        argv.append(arg)
    if "--web.listen-address" not in seen:
        argv.append(f"--web.listen-address=127.0.0.1:{port}")
    if defaults and defaults.binary == "alertmanager" and "--cluster.listen-address" not in seen:
        argv.append("--cluster.listen-address=")
    return argv


def native_workdir(spec: ServiceSpec, rootfs: Path) -> Path:
    workdir = spec.working_dir or (spec.defaults.workdir if spec.defaults else "/")
    path = rootfs_path(rootfs, workdir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def storage_dirs(spec: ServiceSpec, rootfs: Path) -> list[Path]:
    """Storage directories the process needs (created before start)."""
    dirs = []
    for flag in ("storage.tsdb.path", "storage.path"):
        value = spec.flag(flag)
        if value and value.startswith("/"):
            dirs.append(rootfs_path(rootfs, value))
    return dirs


def environ_for(spec: ServiceSpec) -> dict[str, str]:
    """The process environment natively: ours plus the compose `environment:`."""
    return {**os.environ, **spec.environment}
