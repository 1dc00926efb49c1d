"""`dagger call smoke`: the compose monitoring services as Dagger services, then the checks.

Each monitoring service of docker-compose.prod.yml becomes `dag.container().from_(image)`
with its compose bind mounts taken from `source` (files and directories at the same
container paths), its environment and exposed ports, started with the compose command
(`as_service(args=command, use_entrypoint=True)`; the image CMD when compose has none).
Named volumes are left unmounted (a fresh directory of the image); host binds (node-exporter's
`/:/host`) cannot come from `source` and are skipped. The test changes, the same as natively:
- the Alertmanager receivers point at the webhook sink: the `url_file`/`api_url_file` secret
  files mounted with the sink's URL, pagerduty's Events API `url` in a copy of alertmanager.yml;
- stack.SMOKE_FLAGS (Prometheus --rules.alert.resend-delay=5s).
The helpers (fake target, webhook sink) run from the python image with the package mounted,
bound under the compose hostname the Prometheus config scrapes for the backend and
`webhook-sink`. The probes (pipeline.smoke.probe_urls) run in a python container bound to all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import PurePosixPath

import dagger
import yaml
from dagger import ReturnType, dag

from pipeline import layout
from pipeline.executors.dagger import WORKDIR, exec_failure, tool_container, with_tools
from pipeline.model import compose as model
from pipeline.plan.model import Tree
from pipeline.smoke import stack
from pipeline.smoke.native import error_line
from pipeline.smoke.report import exit_code, from_json, render_text

SINK_HOST, SINK_PORT = "webhook-sink", 9099
# dependency order: a service is bound to every one built before it
START_ORDER = ("node-exporter", "alertmanager", "prometheus", "grafana")


class SmokeFailed(Exception):
    """Raised with the report so `dagger call smoke` exits non-zero and shows it."""


def python_container(source: dagger.Directory) -> dagger.Container:
    """The pinned python image with PyYAML and the module's own package (tool_container),
    the compose file, its lint.env and infra/monitoring mounted at their repo paths under
    /repo, and the pinned docker-compose (the checks read the stack through the compose model)."""
    return (with_tools(tool_container("python"), (model.TOOL,))
            .with_mounted_directory(f"{WORKDIR}/infra/monitoring",
                                    source.directory("infra/monitoring"))
            .with_mounted_file(f"{WORKDIR}/{stack.COMPOSE_FILE}",
                               source.file(stack.COMPOSE_FILE))
            .with_mounted_file(f"{WORKDIR}/{stack.COMPOSE_LINT_ENV}",
                               source.file(stack.COMPOSE_LINT_ENV)))


async def resolved(source: dagger.Directory, files: frozenset[str]) -> model.Project:
    """The compose model: `docker-compose config --format json` in the pinned compose image."""
    env_file = stack.COMPOSE_LINT_ENV if stack.COMPOSE_LINT_ENV in files else None
    ctr = tool_container(model.TOOL).with_mounted_file(f"{WORKDIR}/{stack.COMPOSE_FILE}",
                                                       source.file(stack.COMPOSE_FILE))
    if env_file:
        ctr = ctr.with_mounted_file(f"{WORKDIR}/{env_file}", source.file(env_file))
    done = ctr.with_exec(list(stack.config_argv(WORKDIR, env_file)), expect=ReturnType.ANY)
    if await done.exit_code() != 0:
        raise SmokeFailed(f"{stack.COMPOSE_FILE}: docker-compose config: {(await done.stderr()).strip()}")
    return model.from_json(await done.stdout(), stack.COMPOSE_FILE, WORKDIR)


def helper_service(source: dagger.Directory, port: int, *args: str) -> dagger.Service:
    return (python_container(source).with_exposed_port(port)
            .as_service(args=["python", "-m", "pipeline.smoke.helpers", *args,
                              "--port", str(port)]))


def _new_file(name: str, content: str) -> dagger.File:
    return dag.directory().with_new_file(name, content).file(name)


def started_by(command: list[str], specs: dict[str, stack.ServiceSpec]) -> str:
    """The compose service whose start command `command` is (the engine reports the argv
    with the entrypoint first), else the command's program."""
    for name, spec in specs.items():
        args = spec.smoke_args
        if args and command[-len(args):] == list(args):
            return name
    return PurePosixPath(command[0]).name if command else "a service"


def not_started(error: dagger.ExecError, specs: dict[str, stack.ServiceSpec]) -> str:
    """A service that exited before its health check, in its own words: the engine's
    ExecError carries what the service wrote while starting."""
    name = started_by(list(error.command or []), specs)
    said = (error.stderr + "\n" + error.stdout).strip().splitlines()
    return "\n".join([f"smoke: the stack did not start: {name} exited with code "
                      f"{error.exit_code}: {error_line(said)}", exec_failure(error)])


def service_container(spec: stack.ServiceSpec, source: dagger.Directory, kind_of,
                      overrides: dict[str, str]) -> dagger.Container:
    """The compose service as a container: image, repo mounts (with the test's file
    overrides in place), environment, exposed ports."""
    ctr = dag.container().from_(spec.image)
    if spec.entrypoint is not None:
        ctr = ctr.with_entrypoint(list(spec.entrypoint))
    placed = set()
    for mount in spec.mounts:
        if mount.kind != "repo":
            continue  # named volumes: the image's own fresh directory; host binds: skipped
        inside = {path: content for path, content in overrides.items()
                  if spec.mount_for(path) == mount}
        placed |= set(inside)
        if kind_of(mount.source) == "dir":
            folder = source.directory(mount.source)
            for path, content in inside.items():
                folder = folder.with_new_file(
                    PurePosixPath(path).relative_to(mount.target).as_posix(), content)
            ctr = ctr.with_mounted_directory(mount.target, folder)
        else:
            content = inside.get(mount.target)
            ctr = ctr.with_mounted_file(mount.target, source.file(mount.source)
                                        if content is None else
                                        _new_file(PurePosixPath(mount.target).name, content))
    for path, content in overrides.items():
        if path not in placed:
            ctr = ctr.with_new_file(path, content)
    for name, value in spec.environment.items():
        ctr = ctr.with_env_variable(name, value)
    for port in spec.container_ports:
        ctr = ctr.with_exposed_port(port)
    return ctr


def as_service(spec: stack.ServiceSpec, ctr: dagger.Container) -> dagger.Service:
    """The compose command (plus SMOKE_FLAGS) after the image entrypoint; the image's own
    CMD when compose gives no command and the smoke adds no flag."""
    if spec.command is None and spec.smoke_args == spec.args:
        return ctr.as_service()
    return ctr.as_service(args=spec.smoke_args, use_entrypoint=True)


@dataclass(frozen=True)
class Stack:
    """The compose monitoring services as Dagger services, each bound to those it needs, plus
    the helpers (fake metrics targets, webhook sink) under their compose hostnames."""

    specs: dict[str, stack.ServiceSpec]
    services: dict[str, dagger.Service]
    helpers: dict[str, dagger.Service]
    target_hosts: tuple[str, ...]  # the fake targets' compose host names
    sink_url: str

    def url(self, name: str) -> str:
        spec = self.specs[name]
        return f"http://{name}:{spec.listen_port}{spec.route_prefix}"

    def bind(self, ctr: dagger.Container) -> dagger.Container:
        for alias, svc in {**self.helpers, **self.services}.items():
            ctr = ctr.with_service_binding(alias, svc)
        return ctr


async def build_stack(source: dagger.Directory) -> Stack:
    """The services smoke tests and `dagger up` exposes: one definition for both."""
    files = Tree.from_listing(await source.glob("**/*")).files
    kind_of = stack.tree_kind(files)
    if stack.COMPOSE_FILE not in files:
        raise SmokeFailed(f"{stack.COMPOSE_FILE}: not found in the source directory")
    specs = stack.monitoring_services(await resolved(source, files))
    stack.check_mounts(specs, kind_of)
    prom_spec, am_spec = specs["prometheus"], specs["alertmanager"]

    prom_doc = yaml.safe_load(await source.file(stack.config_source(prom_spec)).contents())
    served = stack.fake_target_addresses(prom_doc)  # job -> host:port
    am_path = stack.config_source(am_spec)
    am_text = await source.file(am_path).contents()
    am_doc = yaml.safe_load(am_text)
    sink_url = f"http://{SINK_HOST}:{SINK_PORT}"
    am_new, secret_files, _ = stack.receiver_overrides(am_doc, sink_url)
    overrides = {"alertmanager": {**secret_files, am_spec.flag("config.file"):
                                  stack.rewrite_text(am_text, am_doc, am_new)}}

    targets = [address.rsplit(":", 1) for address in served.values()]
    helpers = {host: helper_service(source, int(port), "target", "--contract",
                                    f"{WORKDIR}/{layout.METRICS_CONTRACT}")
               for host, port in targets}
    helpers[SINK_HOST] = helper_service(source, SINK_PORT, "sink")
    services: dict[str, dagger.Service] = {}
    order = [n for n in START_ORDER if n in specs] + [n for n in specs if n not in START_ORDER]
    for name in order:
        spec = specs[name]
        ctr = service_container(spec, source, kind_of, overrides.get(name, {}))
        for alias, svc in {**helpers, **services}.items():
            ctr = ctr.with_service_binding(alias, svc)
        services[name] = as_service(spec, ctr)
    return Stack(specs, services, helpers, tuple(host for host, _ in targets), sink_url)


async def service(source: dagger.Directory, name: str) -> dagger.Service:
    """One service of the stack (`dagger up` exposes its ports on the host)."""
    built = await build_stack(source)
    if name not in built.services:
        raise SmokeFailed(f"{stack.COMPOSE_FILE}: no {name} service (monitoring services: "
                          f"{', '.join(built.services)})")
    return built.services[name]


async def run_smoke_in_containers(source: dagger.Directory) -> str:
    """Start the stack, run the probes; the report text, or SmokeFailed with it."""
    built = await build_stack(source)
    specs, sink_url, url = built.specs, built.sink_url, built.url
    runner = built.bind(python_container(source))
    running = ["localhost", "127.0.0.1", *built.target_hosts, *specs]
    runner = (runner.with_env_variable("SMOKE_RUN", str(time.time()))  # never cached
              .with_exec(["python", "-m", "pipeline.smoke.probe_urls", "--source", WORKDIR,
                          "--prometheus", url("prometheus"),
                          "--alertmanager", url("alertmanager"),
                          "--grafana", url("grafana") if "grafana" in specs else "",
                          "--sink", sink_url, "--running", ",".join(running), "--json"],
                         expect=ReturnType.ANY))
    try:
        code = await runner.exit_code()
        output = await runner.stdout()
    except dagger.ExecError as error:  # a service that does not start (bad config)
        raise SmokeFailed(not_started(error, specs)) from None
    except dagger.QueryError as error:  # e.g. an image that cannot be pulled
        raise SmokeFailed(f"smoke: the stack did not start: {error}") from None
    try:
        lines = from_json(output)
    except (ValueError, TypeError, KeyError) as error:
        raise SmokeFailed(f"smoke: the probes did not report (exit {code}):\n"
                          f"{output}\n{await runner.stderr()}") from error
    text = render_text(lines)
    if code != 0 or exit_code(lines) != 0:
        raise SmokeFailed(text)
    return text
