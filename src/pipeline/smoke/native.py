"""`python -m pipeline smoke`: the compose monitoring stack as local processes, then the checks.

Prometheus and Alertmanager run from the bootstrap's binaries (toolchain.native_bin())
with the compose command flags, on 127.0.0.1 free ports; each gets an emulated
container filesystem in a tmp dir (stack.materialize) holding copies of its compose
mounts, so its configs keep their container paths. Rewritten (copies only):
- prometheus.yml: static targets of compose services -> local addresses
  (backend:8000 -> the fake target, alertmanager:9093, localhost:9090);
- alertmanager.yml: the pagerduty receivers' Events API url -> the sink; the webhook
  `url_file` / slack `api_url_file` secret files contain the sink's URL;
- absolute container paths (flags, `*_file` fields) -> under the tmp root.
Grafana and node-exporter have no native binary: their checks are reported skipped.

DPP_SMOKE_GROUP_WAIT (a duration, e.g. `1s`) caps every route's group_wait in the local
alertmanager.yml copy, for a quick run (the test suite's): group_wait only delays a new
group's first notification (Alertmanager's dispatch timer); the route tree, grouping,
receivers and their payloads stay the repo's, so the same alerts reach the same receivers.
The run says so, and its report shows the group_wait it waited for.

DPP_SMOKE_INTERVAL (a duration, e.g. `1s`) caps Prometheus' scrape and rule evaluation
intervals in the local prometheus.yml copy (global, per job, per rule group; a
scrape_timeout above the cap comes down with it, as Prometheus refuses a timeout longer
than its interval): the intervals only set when the first scrape and the first evaluation
happen; targets, relabelling, rules and alerting stay the repo's. The run says so, and the
Watchdog's line shows the interval it waited for.

Processes run in their own process groups and are always stopped (TERM, then KILL),
the tmp dir removed: on success, failure, Ctrl-C (SIGINT) and SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import glob
import os
import shutil
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from pipeline import layout, toolchain, workspace
from pipeline.model import prometheus
from pipeline.smoke import stack
from pipeline.smoke.expectations import DEFAULT_INTERVAL, Expectations, read_expectations
from pipeline.smoke.probes import (LOG_LINES, PROBES, READINESS, Context, Endpoint,
                                   run_probes)
from pipeline.smoke.report import FAILED, PASSED, SKIPPED, Line, exit_code, not_run, \
    render_text, verdict

STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
GROUP_WAIT_ENV = "DPP_SMOKE_GROUP_WAIT"
INTERVAL_ENV = "DPP_SMOKE_INTERVAL"
HELPER_START = 15.0
STYLE = {PASSED: "green", FAILED: "red", SKIPPED: "yellow"}


class SmokeSetupError(Exception):
    """The stack could not be set up (missing binary, bad compose file): no check ran."""


class UnreadableConfig(Exception):
    """A server config that parses but that the native rewrite cannot read (a field of the
    wrong shape): reported as that server's failing line, its file and field named."""

    def __init__(self, service: str, cause: str) -> None:
        super().__init__(cause)
        self.line = Line(f"{service} config", FAILED,
                         f"{cause} (the native smoke rewrites it to run locally)")


@dataclass
class Process:
    name: str
    argv: list[str]
    popen: subprocess.Popen
    log: Path
    rootfs: Path | None = None

    def lines(self) -> list[str]:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []

    def logs(self, count: int) -> str:
        """The last `count` lines the server wrote, its usage text left out, so the error
        it printed before `usage:` (a bad flag, an empty duration) stays in view."""
        return "\n".join(without_usage(self.lines())[-count:])

    def exited(self) -> str:
        """"" while running; else the exit code and the server's own error line."""
        code = self.popen.poll()
        if code is None:
            return ""
        line = error_line(self.lines())
        if self.rootfs:
            line = line.replace(str(self.rootfs), "")  # back to the container's paths
        return f"{self.name} exited with code {code}: {line}"


ERROR_MARKS = re.compile(r"level=(error|fatal|ERROR|FATAL)|panic:|\b(Error|error|ERROR)[: ]"
                         r"|^(fatal|FATAL)\b")
USAGE = re.compile(r"^usage:\s", re.IGNORECASE)


def without_usage(lines: list[str]) -> list[str]:
    """The lines before a usage text (`usage: prometheus [<flags>]` and the whole --help a
    server prints after a bad flag), when something precedes it; else all lines."""
    start = next((i for i, line in enumerate(lines) if USAGE.match(line.strip())), None)
    before = lines[:start] if start is not None else lines
    return before if any(line.strip() for line in before) else lines


def error_line(lines: list[str]) -> str:
    """The line a server died with: its last error/fatal line outside its usage text, else
    its last line (Prometheus: "Error parsing command line arguments: empty duration
    string", then 170 lines of --help)."""
    kept = without_usage(lines)
    for line in reversed(kept):
        if ERROR_MARKS.search(line):
            return line.strip()
    return next((line.strip() for line in reversed(kept) if line.strip()), "(no output)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the child gets SIGTERM if the smoke process dies without cleaning up."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start(name: str, argv: list[str], cwd: Path, env: dict[str, str], logs: Path) -> Process:
    log = logs / f"{name}.log"
    with open(log, "wb") as out:
        popen = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True,
                                 preexec_fn=_die_with_parent if sys.platform == "linux"
                                 else None)
    return Process(name, argv, popen, log)


def stop(processes: list[Process]) -> None:
    """SIGTERM every process group, wait up to STOP_GRACE, then SIGKILL what is left."""
    for proc in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for proc in processes:
        try:
            proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=STOP_GRACE)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt (main thread only), so cleanup runs as on Ctrl-C."""
    try:
        previous = signal.getsignal(signal.SIGTERM)

        def interrupt(signum, frame):  # noqa: ARG001
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def python_env(source: Path) -> dict[str, str]:
    """The helpers run the module's own code (workspace.module_code()), never a copy of
    src/pipeline inside the checked tree, as the lint's Python checks and the Dagger smoke do."""
    env = dict(os.environ)
    code = workspace.module_code().parent
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(code), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def wait_listening(proc: Process, port: int, timeout: float = HELPER_START) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.exited():
            raise SmokeSetupError(f"{proc.exited()}\n{proc.logs(LOG_LINES)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        await asyncio.sleep(0.1)
    raise SmokeSetupError(f"{proc.name} did not listen on 127.0.0.1:{port} within {timeout}s")


class Stack:
    """The native stack: set up in a tmp dir, processes started, always torn down."""

    def __init__(self, source: Path, say=print) -> None:
        self.source = source
        self.say = say
        self.processes: list[Process] = []
        self.specs: dict[str, stack.ServiceSpec] = {}  # the compose model's, read by `setup`
        self.tmp = Path(tempfile.mkdtemp(prefix="dpp-smoke-"))
        self.logs = self.tmp / "logs"
        self.logs.mkdir()

    def close(self) -> None:
        try:
            stop(self.processes)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def binary(self, spec: stack.ServiceSpec) -> str:
        name = spec.defaults.binary if spec.defaults else ""
        path = toolchain.native_bin() / name
        if not name or not path.is_file():
            pin = toolchain.tool(name) if name else None
            raise SmokeSetupError(
                f"{spec.name}: no native binary for image {spec.image}"
                + (f": run `{toolchain.BOOTSTRAP}` to build {pin.name} {pin.version} into "
                   f"{toolchain.native_bin()}" if pin else ""))
        return str(path)

    def setup(self) -> Context:
        specs = self.specs = stack.load(self.source)
        prom_spec, am_spec = specs["prometheus"], specs["alertmanager"]
        binaries = {name: self.binary(specs[name]) for name in ("prometheus", "alertmanager")}
        ports = {name: free_port() for name in ("prometheus", "alertmanager", "target", "sink")}
        local = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
        sink_url = f"http://{local['sink']}"
        rootfs = {name: self.tmp / name for name in ("prometheus", "alertmanager")}
        cap, every = group_wait_cap(), interval_cap()
        # the configs' local copies first: a field we cannot read stops here, nothing started
        prom_files, served = prometheus_copy(self.source, prom_spec, am_spec, local,
                                             rootfs["prometheus"], every)
        am_files = alertmanager_copy(self.source, am_spec, sink_url, rootfs["alertmanager"],
                                     cap)

        # helpers first, listening before any probe: the servers find them on their first
        # scrape / notification (Prometheus' first comes ~5 s after its start, when its
        # discovery publishes the targets; Alertmanager notifies only alerts sent later)
        env = python_env(self.source)
        helpers = [("sink", ["sink"]),
                   ("target", ["target", "--contract", str(self.source / layout.METRICS_CONTRACT)])]
        self.say(f"smoke: working in {self.tmp}")
        for name, args in helpers:
            self.processes.append(start(name, [sys.executable, "-m", "pipeline.smoke.helpers",
                                               *args, "--host", "127.0.0.1",
                                               "--port", str(ports[name])],
                                        self.tmp, env, self.logs))
            self.say(f"smoke: started {name} on {local[name]} (pid "
                     f"{self.processes[-1].popen.pid})")

        for name, files in (("prometheus", prom_files), ("alertmanager", am_files)):
            stack.materialize(specs[name], self.source, rootfs[name])
            for container_path, content in files.items():
                self.write(rootfs[name], container_path, content)
        config = prom_spec.flag("config.file")
        if every is not None and config:
            for path, content in capped_rule_groups(
                    stack.rootfs_path(rootfs["prometheus"], config), every).items():
                overwrite(path, content)

        for name in ("alertmanager", "prometheus"):
            spec = specs[name]
            for folder in stack.storage_dirs(spec, rootfs[name]):
                folder.mkdir(parents=True, exist_ok=True)
            argv = stack.native_argv(spec, binaries[name], rootfs[name], ports[name])
            self.processes.append(start(name, argv, stack.native_workdir(spec, rootfs[name]),
                                        stack.environ_for(spec), self.logs))
            self.processes[-1].rootfs = rootfs[name]
            self.say(f"smoke: started {name} on {local[name]} (pid "
                     f"{self.processes[-1].popen.pid})")
        asyncio.run(self.start_helpers(ports))  # their imports overlap the servers' start

        procs = {p.name: p for p in self.processes}

        def endpoint(name: str, spec: stack.ServiceSpec) -> Endpoint:
            return Endpoint(name, f"http://{local[name]}{spec.route_prefix}",
                            exited=procs[name].exited, logs=procs[name].logs)

        hosts = {address.rsplit(":", 1)[0] for address in served.values()} or {"backend"}
        expect, unreadable = read_expectations(self.source, specs)
        if cap is not None:
            self.say(f"smoke: group_wait capped at {cap:g}s for this run ({GROUP_WAIT_ENV}); "
                     "routes and receivers as in alertmanager.yml")
        if every is not None:
            self.say(f"smoke: scrape and evaluation intervals capped at {every:g}s for this run "
                     f"({INTERVAL_ENV}); targets and rules as in prometheus.yml")
        expect = expect and capped_expectations(expect, cap, every)
        return Context(
            prometheus=endpoint("prometheus", prom_spec),
            alertmanager=endpoint("alertmanager", am_spec),
            grafana=Endpoint("grafana", None, absent="natively: no Grafana server can "
                             "be installed here (runs in `dagger call smoke`)"),
            sink=sink_url, expect=expect, unreadable=unreadable,
            running={"localhost", "127.0.0.1", "prometheus", "alertmanager", *hosts})

    async def start_helpers(self, ports: dict[str, int]) -> None:
        procs = {p.name: p for p in self.processes}
        await asyncio.gather(*(wait_listening(procs[n], ports[n]) for n in ("sink", "target")))

    @staticmethod
    def write(rootfs: Path, container_path: str | None, content: str) -> None:
        if not container_path:
            return
        path = stack.rootfs_path(rootfs, container_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        overwrite(path, content)


def overwrite(path: Path, content: str) -> None:
    """Write a local copy, also over a file materialised from a read-only source (copy2
    keeps its mode)."""
    if path.exists():
        path.chmod(0o644)
    path.write_text(content, encoding="utf-8")


def load_config(path: Path) -> dict | None:
    """A server config as data; None when it is not a YAML mapping (left to the server)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return document if isinstance(document, dict) else None


def prometheus_copy(source: Path, spec: stack.ServiceSpec, am_spec: stack.ServiceSpec,
                    local: dict[str, str], rootfs: Path, interval: float | None = None
                    ) -> tuple[dict[str, str], dict[str, str]]:
    """({container path: the local prometheus.yml}, {job: the compose address the fake target
    takes}): compose addresses -> local ones (its intervals capped at `interval`, when given),
    absolute paths -> under its rootfs. A config that does not parse is left as it is:
    Prometheus reports its own error."""
    path = stack.config_source(spec)
    document = load_config(source / path)
    if document is None:
        return {}, {}
    try:
        prometheus.static_targets(document)  # the shape rewrite_addresses walks
    except prometheus.ConfigError as error:
        raise UnreadableConfig("prometheus", f"{path}: {error}") from error
    try:
        served = stack.fake_target_addresses(document)
    except stack.StackError as error:  # it names the file
        raise UnreadableConfig("prometheus", str(error)) from error
    addresses = {f"{host}:{spec.listen_port}": local["prometheus"]
                 for host in ("localhost", "127.0.0.1", "prometheus")}
    addresses[f"alertmanager:{am_spec.listen_port}"] = local["alertmanager"]
    addresses.update({address: local["target"] for address in served.values()})
    new = stack.rewrite_addresses(document, addresses)
    if interval is not None:
        new = capped_intervals(new, interval)
    new = stack.rewrite_paths(new, spec, rootfs)
    text = stack.rewrite_text((source / path).read_text(encoding="utf-8"), document, new)
    return {spec.flag("config.file") or "": text}, served


def alertmanager_copy(source: Path, spec: stack.ServiceSpec, sink_url: str,
                      rootfs: Path, group_wait: float | None = None) -> dict[str, str]:
    """{container path: contents}: alertmanager.yml with its receivers pointed at the sink
    (and its group_waits capped at `group_wait`, when given) and absolute paths under its
    rootfs, and the secret files holding the sink's URL. A config that does not parse is
    left as it is: Alertmanager reports its own error."""
    path = stack.config_source(spec)
    document = load_config(source / path)
    if document is None:
        return {}
    try:
        prometheus.receivers(document)  # the shape receiver_overrides walks
    except prometheus.ConfigError as error:
        raise UnreadableConfig("alertmanager", f"{path}: {error}") from error
    new, files, _ = stack.receiver_overrides(document, sink_url)
    if group_wait is not None:
        new = capped_group_waits(new, group_wait)
    new = stack.rewrite_paths(new, spec, rootfs)
    text = stack.rewrite_text((source / path).read_text(encoding="utf-8"), document, new)
    return {**files, spec.flag("config.file") or "": text}


def env_duration(name: str) -> float | None:
    """The environment variable `name` as a duration in seconds; None when unset."""
    text = os.environ.get(name, "")
    if not text:
        return None
    try:
        return prometheus.parse_duration(text)
    except ValueError as error:
        raise SmokeSetupError(f"{name}={text!r}: {error}") from None


def group_wait_cap() -> float | None:
    """DPP_SMOKE_GROUP_WAIT in seconds; None when unset."""
    return env_duration(GROUP_WAIT_ENV)


def interval_cap() -> float | None:
    """DPP_SMOKE_INTERVAL in seconds; None when unset."""
    return env_duration(INTERVAL_ENV)


def cap_field(section: object, key: str, default: float | None, cap: float) -> bool:
    """Lower `section[key]` (a duration, `default` when unset) to `cap`; True if it changed.
    A value that is not a duration is left for the server to refuse."""
    if not isinstance(section, dict):
        return False
    try:
        value = prometheus.duration_field(section, key, default)
    except prometheus.ConfigError:
        return False
    if value is None or value <= cap:
        return False
    section[key] = f"{round(cap * 1000)}ms"
    return True


def capped_group_waits(am: dict, cap: float) -> dict:
    """A copy of an Alertmanager config whose routes wait at most `cap` seconds before a new
    group's first notification (the root's default 30s included); nothing else changes.
    A group_wait that is not a duration is left for Alertmanager to refuse."""
    am = copy.deepcopy(am)

    def walk(route: object, default: float | None) -> None:
        if not isinstance(route, dict):
            return
        cap_field(route, "group_wait", default, cap)
        children = route.get("routes")
        for child in children if isinstance(children, list) else []:
            walk(child, None)  # unset: inherits the (capped) parent's

    walk(am.get("route"), prometheus.DEFAULT_GROUP_WAIT)
    return am


def capped_intervals(prom: dict, cap: float) -> dict:
    """A copy of a Prometheus config that scrapes and evaluates at least every `cap` seconds:
    the global intervals (default 1m) and every job's; an explicit scrape_timeout above `cap`
    is lowered too (Prometheus 2.51 config.go refuses a timeout longer than its interval; an
    unset one becomes min(10s, interval)). Targets, relabelling and rules do not change."""
    prom = copy.deepcopy(prom)
    settings = prom.get("global")
    if settings is None:
        settings = prom["global"] = {}
    for key in ("scrape_interval", "evaluation_interval"):
        cap_field(settings, key, DEFAULT_INTERVAL, cap)
    cap_field(settings, "scrape_timeout", None, cap)
    jobs = prom.get("scrape_configs")
    for job in jobs if isinstance(jobs, list) else []:
        for key in ("scrape_interval", "scrape_timeout"):
            cap_field(job, key, None, cap)
    return prom


def capped_rule_groups(config: Path, cap: float) -> dict[Path, str]:
    """{rule file: its copy with every group `interval` above `cap` lowered to it}, over the
    rule files the local Prometheus config `config` lists (relative to its directory, globs
    expanded as Prometheus does); files without such a group are not listed."""
    document = load_config(config) or {}
    entries = document.get("rule_files")
    found: dict[Path, str] = {}
    for entry in entries if isinstance(entries, list) else []:
        for name in sorted(glob.glob(str(config.parent / str(entry)))):
            path = Path(name)
            rules = load_config(path)
            groups = rules.get("groups") if rules else None
            if not isinstance(groups, list):
                continue
            new = copy.deepcopy(rules)
            if any([cap_field(group, "interval", None, cap) for group in new["groups"]]):
                found[path] = stack.rewrite_text(path.read_text(encoding="utf-8"), rules, new)
    return found


def capped_expectations(expect: Expectations, group_wait: float | None,
                        interval: float | None = None) -> Expectations:
    """The expectations of a run with capped group_waits and intervals (None: not capped):
    the same routes, each waiting min(its group_wait, cap), and the same rules evaluated
    (targets scraped) every min(interval, cap), as the capped copies make the servers do."""
    def capped(routes: list[prometheus.RouteEnd]) -> list[prometheus.RouteEnd]:
        return [dataclasses.replace(r, group_wait=min(r.group_wait, group_wait))
                for r in routes] if group_wait is not None else routes

    def every(seconds: float) -> float:
        return min(seconds, interval) if interval is not None else seconds

    return dataclasses.replace(
        expect, critical_routes=capped(expect.critical_routes),
        watchdog_routes=capped(expect.watchdog_routes),
        evaluation_interval=every(expect.evaluation_interval),
        scrape_interval=every(expect.scrape_interval),
        watchdog_interval=every(expect.watchdog_interval))


def not_native(specs_names: list[str]) -> list[Line]:
    return [Line(f"{name} running", SKIPPED,
                 "natively: no binary for its image (runs in `dagger call smoke`)")
            for name in specs_names]


def smoke_lines(source: Path, say=print) -> list[Line]:
    """Set up, probe, tear down. Raises SmokeSetupError / stack.StackError before any probe."""
    with sigterm_as_interrupt():
        native = Stack(source, say)
        try:
            try:
                ctx = native.setup()
            except UnreadableConfig as error:
                lines = [error.line, *not_run((*READINESS, *PROBES), "no local copy of its config")]
            else:
                lines = asyncio.run(run_probes(ctx))
            others = [n for n in native.specs if n not in
                      ("prometheus", "alertmanager", "grafana")]
            return lines + not_native(others)
        finally:
            native.close()


def table(lines: list[Line]) -> Table:
    grid = Table(title="smoke")
    for column in ("check", "status", "time", "detail"):
        grid.add_column(column, justify="right" if column == "time" else "left")
    for line in lines:
        grid.add_row(line.name, f"[{STYLE[line.status]}]{line.status}[/]",
                     f"{line.seconds:.1f}s", line.detail)
    return grid


def show_report(lines: list[Line], console: Console) -> None:
    """Rich table on a terminal; the plain lines otherwise (CI logs). Failures' logs in both."""
    if console.is_terminal:
        for line in lines:
            if line.status == FAILED and line.logs:
                console.print(f"--- last log lines for {line.name}:", markup=False)
                console.print(line.logs, markup=False, highlight=False, soft_wrap=True)
        console.print(table(lines))
        console.print(verdict(lines), markup=False, highlight=False)
    else:
        console.print(render_text(lines).rstrip("\n"), markup=False, highlight=False,
                      soft_wrap=True)


def run_smoke_natively(source: Path, console: Console) -> int:
    """The native smoke: 0 when every non-skipped check passed, 1 on a failed check,
    2 when the stack could not be set up. KeyboardInterrupt propagates after cleanup."""
    started = time.monotonic()

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    try:
        lines = smoke_lines(source.resolve(), say)
    except (SmokeSetupError, stack.StackError) as error:
        say(f"smoke: {error}")
        return 2
    show_report(lines, console)
    say(f"smoke: {time.monotonic() - started:.1f}s from start to "
        f"{'all checks green' if exit_code(lines) == 0 else 'failure'}")
    return exit_code(lines)
