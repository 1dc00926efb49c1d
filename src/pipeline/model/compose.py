"""The compose file as Compose v2 itself resolves it: the one model of docker-compose.prod.yml.

`docker-compose config --format json` (the pinned Compose v2, toolchain.toml [tools.compose])
prints the project normalized and interpolated: anchors and merge keys applied, variables
resolved (the required ones from an env file: infra/compose/lint.env), short syntax expanded
(volumes and ports as objects, a command string split into argv, depends_on with its
condition), relative bind sources made absolute against the project directory, and every `$`
of a value escaped as `$$` (docker/compose v2.40.3 cmd/compose/config.go, escapeDollarSign).
The shape is compose-go's types.Project (compose-spec/compose-go/v2 types/types.go).

This module only types that JSON: it never interpolates or parses compose syntax. Both
readers of the compose file use it: the compose checks (pipeline.checks.compose, the JSON on
stdin from the plan's Step) and the smoke stack (pipeline.smoke.stack: natively through
`resolve`, in Dagger from the compose image).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline import toolchain

TOOL = "compose"  # the toolchain.toml pin
BINARY = "docker-compose"
ALL_PROFILES = ("*",)  # every service, whatever its profile


class ComposeError(ValueError):
    """The compose file cannot give the model; the message names the file, service and field."""


@dataclass(frozen=True)
class Port:
    """A published or container port (compose-go types.ServicePortConfig)."""

    target: int
    published: str = ""  # a host port, a range ("8000-8010": the engine picks one) or "" (any)
    host_ip: str = ""
    protocol: str = "tcp"

    @property
    def published_port(self) -> int | None:
        """The host port, when it is one port (not a range, not left to the engine)."""
        return int(self.published) if self.published.isdigit() else None

    def __str__(self) -> str:
        """The short syntax: [host_ip:][published:]target[/protocol]."""
        text = ":".join(str(p) for p in (self.host_ip, self.published, self.target) if p != "")
        return text if self.protocol == "tcp" else f"{text}/{self.protocol}"


@dataclass(frozen=True)
class Mount:
    """What a service sees at `target`. `kind`: repo (a repo path, `source` repo-relative),
    host (an absolute host path outside the repo, e.g. /proc), volume (a named volume),
    tmpfs, or value (a secret/config given by `environment`/`content`/`external`)."""

    target: str
    source: str | None
    kind: str
    read_only: bool = False
    origin: str = "volumes"  # volumes | secrets | configs


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...] = ()
    disabled: bool = False

    @property
    def defined(self) -> bool:
        """A test the engine runs (not absent, `disable: true` or ["NONE"])."""
        return bool(self.test) and not self.disabled and self.test != ("NONE",)


@dataclass(frozen=True)
class Dependency:
    """One `depends_on` entry, normalized by Compose (a list entry is service_started)."""

    condition: str = "service_started"
    required: bool = True


@dataclass(frozen=True)
class Service:
    name: str
    image: str
    command: tuple[str, ...] | None = None  # None: the image's CMD
    entrypoint: tuple[str, ...] | None = None  # None: the image's ENTRYPOINT
    environment: Mapping[str, str | None] = field(default_factory=dict)  # None: from the shell
    ports: tuple[Port, ...] = ()
    expose: tuple[str, ...] = ()
    mounts: tuple[Mount, ...] = ()  # volumes, then secrets and configs as files
    healthcheck: Healthcheck = Healthcheck()
    depends_on: Mapping[str, Dependency] = field(default_factory=dict)
    profiles: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    restart: str | None = None
    working_dir: str | None = None

    def flag(self, name: str, args: Sequence[str] | None = None) -> str | None:
        """The value of `--name=value` in `args` (default: the compose command)."""
        return flag(self.command or () if args is None else args, name)

    def mount_for(self, container_path: str) -> Mount | None:
        """The innermost mount holding `container_path`."""
        best = None
        for mount in self.mounts:
            if under(container_path, mount.target) and (
                    best is None or len(mount.target) > len(best.target)):
                best = mount
        return best

    def source_of(self, container_path: str) -> str | None:
        """The repo path a container path comes from, if it is inside a repo mount."""
        mount = self.mount_for(container_path)
        if mount is None or mount.kind != "repo":
            return None
        rest = PurePosixPath(container_path).relative_to(mount.target.rstrip("/") or "/").as_posix()
        return mount.source if rest == "." else f"{mount.source}/{rest}"


@dataclass(frozen=True)
class Project:
    path: str  # the compose file, as the caller names it (every error starts with it)
    services: Mapping[str, Service]
    volumes: tuple[str, ...] = ()  # declared named volumes

    def service(self, name: str) -> Service:
        if name not in self.services:
            raise ComposeError(f"{self.path}: no service {name!r} (services: "
                               f"{', '.join(self.services) or 'none'})")
        return self.services[name]


def flag(args: Sequence[str], name: str) -> str | None:
    """The value of the first `--name=value` in an argv."""
    return next((arg.split("=", 1)[1] for arg in args if arg.startswith(f"--{name}=")), None)


def under(path: str, root: str) -> bool:
    root = root.rstrip("/") or "/"
    return root == "/" or path == root or path.startswith(root + "/")


# --- the JSON -> the model -----------------------------------------------------------------

class _Where:
    """Where a value sits, for error messages: `file: services.NAME.FIELD`."""

    def __init__(self, path: str, service: str) -> None:
        self.path, self.service = path, service

    def error(self, field_name: str, message: str) -> ComposeError:
        where = ".".join(filter(None, ("services", self.service, field_name)))
        return ComposeError(f"{self.path}: {where}: {message}")


def from_json(text: str, path: str, project_dir: str | Path) -> Project:
    """The model of `docker-compose config --format json` output for the file `path`, whose
    bind sources are absolute under `project_dir` (the directory Compose resolved them from)."""
    try:
        document = json.loads(text.replace("$$", "$"))  # undo escapeDollarSign: values as given
    except json.JSONDecodeError as error:
        raise ComposeError(f"{path}: `docker-compose config --format json` gave no JSON: {error}") \
            from error
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
        raise ComposeError(f"{path}: no `services` in the resolved compose project")
    root = PurePosixPath(str(project_dir))
    files = {kind: document.get(kind) or {} for kind in ("secrets", "configs")}
    services = {name: _service(name, raw, _Where(path, name), root, files)
                for name, raw in document["services"].items()}
    return Project(path=path, services=services, volumes=tuple(document.get("volumes") or {}))


def _service(name: str, raw: Any, where: _Where, root: PurePosixPath,
             files: Mapping[str, Mapping]) -> Service:
    if not isinstance(raw, dict):
        raise where.error("", "not a mapping")
    mounts = [_volume(i, entry, where, root) for i, entry in enumerate(raw.get("volumes") or [])]
    for kind in ("secrets", "configs"):
        mounts += [_file_object(kind, i, entry, where, root, files[kind])
                   for i, entry in enumerate(raw.get(kind) or [])]
    health = raw.get("healthcheck") or {}
    return Service(
        name=name, image=str(raw.get("image") or ""),
        command=_argv(raw.get("command"), where, "command"),
        entrypoint=_argv(raw.get("entrypoint"), where, "entrypoint"),
        environment={str(k): None if v is None else str(v)
                     for k, v in (raw.get("environment") or {}).items()},
        ports=tuple(_port(i, entry, where) for i, entry in enumerate(raw.get("ports") or [])),
        expose=tuple(str(e) for e in raw.get("expose") or []),
        mounts=tuple(mounts),
        healthcheck=Healthcheck(tuple(str(t) for t in health.get("test") or []),
                                bool(health.get("disable"))),
        depends_on={str(k): Dependency(str((v or {}).get("condition", "service_started")),
                                       bool((v or {}).get("required", True)))
                    for k, v in (raw.get("depends_on") or {}).items()},
        profiles=tuple(str(p) for p in raw.get("profiles") or []),
        networks=tuple(raw.get("networks") or {}),
        restart=raw.get("restart"), working_dir=raw.get("working_dir"))


def _argv(value: Any, where: _Where, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise where.error(name, f"expected a list (Compose splits a string), got {value!r}")
    return tuple(str(v) for v in value)


def _port(index: int, entry: Any, where: _Where) -> Port:
    try:
        return Port(target=int(entry["target"]), published=str(entry.get("published") or ""),
                    host_ip=str(entry.get("host_ip") or ""), protocol=str(entry.get("protocol") or "tcp"))
    except (AttributeError, KeyError, TypeError, ValueError):
        raise where.error(f"ports[{index}]", f"cannot read {entry!r} (expected a port object "
                                             "with an integer target)") from None


def _classify(source: str, root: PurePosixPath) -> tuple[str, str]:
    """(kind, source) of a bind source Compose made absolute: repo-relative inside the project."""
    path = PurePosixPath(source)
    if path == root:
        return "repo", "."
    if root in path.parents:
        return "repo", path.relative_to(root).as_posix()
    return "host", source


def _volume(index: int, entry: Any, where: _Where, root: PurePosixPath) -> Mount:
    if not isinstance(entry, dict) or not entry.get("target"):
        raise where.error(f"volumes[{index}]", f"no target in {entry!r}")
    kind, source, target = entry.get("type", "volume"), entry.get("source"), str(entry["target"])
    read_only = bool(entry.get("read_only", False))
    if kind == "bind":
        if not source:
            raise where.error(f"volumes[{index}]", f"bind mount on {target} without a source")
        kind, source = _classify(str(source), root)
    elif kind == "tmpfs":
        source = None
    return Mount(target, None if source is None else str(source), kind, read_only)


def _file_object(kind: str, index: int, entry: Any, where: _Where, root: PurePosixPath,
                 top: Mapping[str, Mapping]) -> Mount:
    """A service's `secrets:`/`configs:` entry as the file it mounts (compose-go defaults:
    a secret at /run/secrets/<source>, a config at /<source>)."""
    reference = str((entry or {}).get("source") or "")
    definition = top.get(reference)
    if not isinstance(definition, dict):
        raise where.error(f"{kind}[{index}]", f"{reference!r} is not defined under top-level {kind}:")
    default_dir = "/run/secrets" if kind == "secrets" else ""
    target = str(entry.get("target") or reference)
    if not target.startswith("/"):
        target = f"{default_dir}/{target}"
    if definition.get("file"):
        found, source = _classify(str(definition["file"]), root)
        return Mount(target, source, found, True, kind)
    return Mount(target, None, "value", True, kind)


# --- running the real Compose ----------------------------------------------------------------

def config_argv(compose: str, env_file: str | None = None, profiles: Sequence[str] = ALL_PROFILES,
                project_dir: str | None = None) -> tuple[str, ...]:
    """`docker-compose config --format json`: the model's input, every profile on.

    --no-consistency: a depends_on, volume or secret that names nothing is still printed, so
    the compose checks report it naming file, service and field (compose/config runs Compose's
    own consistency check too)."""
    argv = [BINARY, *(("--project-directory", project_dir) if project_dir else ()),
            *(("--env-file", env_file) if env_file else ()), "-f", compose]
    for profile in profiles:
        argv += ["--profile", profile]
    return (*argv, "config", "--no-consistency", "--format", "json")


def binary() -> str:
    """The bootstrapped docker-compose, else one on PATH."""
    built = toolchain.native_bin() / BINARY
    found = str(built) if built.is_file() else shutil.which(BINARY)
    if found is None:
        pin = toolchain.tool(TOOL)
        raise ComposeError(f"{BINARY} not found: run `{toolchain.BOOTSTRAP}` to install "
                           f"{pin.name} {pin.version} into {toolchain.native_bin()}")
    return found


def resolve(root: Path, compose: str, env_file: str | None = None,
            profiles: Sequence[str] = ALL_PROFILES) -> Project:
    """The model of `root/compose`, resolved by the real Compose running here."""
    if not (root / compose).is_file():
        raise ComposeError(f"{compose}: not found in {root}")
    if env_file and not (root / env_file).is_file():
        raise ComposeError(f"{env_file}: not found in {root} (the values of the variables "
                           f"{compose} requires)")
    argv = [binary(), *config_argv(compose, env_file, profiles)[1:]]
    done = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise ComposeError(f"{compose}: docker-compose config: {done.stderr.strip() or done.stdout.strip()}")
    return from_json(done.stdout, compose, root.resolve())


def read(compose: str, resolved_text: str) -> tuple[Project, dict[str, "Written"]]:
    """The model of the file `compose` from Compose's JSON of it (bind sources resolved against
    the file's directory, as `config_argv` runs it), and the file as written."""
    try:
        with open(compose, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise ComposeError(f"{compose}: cannot read: {error.strerror}") from error
    return from_json(resolved_text, compose, Path(compose).resolve().parent), written(text, compose)


# --- the file as written: where a value comes from --------------------------------------------

REQUIRED_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?\?[^}]*\}")


@dataclass(frozen=True)
class Written:
    """A service's image and environment as the file writes them, before interpolation: only
    to tell where a value comes from (a variable the operator sets, or a literal)."""

    image: str = ""
    environment: Mapping[str, str] = field(default_factory=dict)

    def from_required_variable(self, name: str) -> bool:
        """The variable `name` is exactly one required variable `${VAR:?...}`: set by the
        operator at `up`, never in the file (the way a secret must come)."""
        return REQUIRED_VARIABLE.fullmatch(self.environment.get(name, "").strip()) is not None


def written(text: str, path: str) -> dict[str, Written]:
    """{service: Written} of a compose file's text (YAML anchors and merge keys applied)."""
    import yaml  # here: every `python -m pipeline` builds the plan, which needs no YAML

    from pipeline.model.kube import LOADER

    try:
        document = yaml.load(text, LOADER)  # yaml.safe_load's result; libyaml: 31 -> 5 ms
    except yaml.YAMLError as error:
        raise ComposeError(f"{path}: not valid YAML: {error}") from error
    services = (document or {}).get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict):
        raise ComposeError(f"{path}: no `services:` mapping")
    found = {}
    for name, service in services.items():
        service = service if isinstance(service, dict) else {}
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(str(item).partition("=")[::2] for item in environment)
        found[str(name)] = Written(str(service.get("image") or ""),
                                   {str(k): "" if v is None else str(v) for k, v in environment.items()})
    return found


def sourced_environment(service: Service, as_written: Written) -> dict[str, object]:
    """{name: value} of a service's resolved environment, where a value the operator supplies
    (the variable is exactly one required `${VAR:?...}`) is {"variable": its text}: set, but
    only known at `up` (the contract checks accept a secret only that way)."""
    return {name: {"variable": as_written.environment[name]} if as_written.from_required_variable(name)
            else ("" if value is None else value)
            for name, value in service.environment.items()}
