"""The smoke checks: HTTP only, over base URLs, the same code for both executors.

Natively they run in the CLI's process against local servers; in Dagger they run
in a python container bound to the services:

    python -m pipeline.smoke.checks --source /repo --prometheus http://prometheus:9090 \
        --alertmanager http://alertmanager:9093 --grafana http://grafana:3000 \
        --sink http://webhook-sink:9099 --running prometheus,alertmanager,backend,node-exporter

Stdlib only (urllib in threads) plus PyYAML for the expectations, which are computed
from the repo's files: rule groups/rules from every rule file under infra/monitoring,
receivers and routing from alertmanager.yml, timings from prometheus.yml and the route
tree, dashboards and the datasource from the Grafana provisioning files.
Every wait is bounded by a deadline derived from those timings.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from pipeline.executors import plural
from pipeline.smoke import stack

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
MONITORING_DIR = "infra/monitoring"
KUBERNETES_CONFIG = "infra/monitoring/prometheus/prometheus.k8s.yml"
CONTRACT = "infra/monitoring/metrics-contract.yaml"
SERIES_SUFFIX = {"histogram": "_count", "summary": "_count"}  # one series name per metric
READY_TIMEOUT = 60.0  # seconds for a server to answer /-/ready
MARGIN = 30.0  # seconds added to every timing-derived deadline
POLL = 0.5
LOG_LINES = 25
CRITICAL_ALERT = "SmokeTestCritical"


# --- report lines ----------------------------------------------------------------------------

@dataclass
class Line:
    """One report line: a check, its status, what it saw; on failure the service's last logs."""

    name: str
    status: str
    detail: str = ""
    seconds: float = 0.0
    logs: str = ""

    @property
    def ok(self) -> bool:
        return self.status != FAILED


def verdict(lines: list[Line]) -> str:
    failed = [line.name for line in lines if line.status == FAILED]
    skipped = sum(line.status == SKIPPED for line in lines)
    passed = sum(line.status == PASSED for line in lines)
    if failed:
        return f"smoke: {len(failed)} of {plural(len(lines), 'check')} failed: {', '.join(failed)}"
    return (f"smoke: all {passed} checks passed" if passed != 1 else "smoke: 1 check passed") \
        + (f", {skipped} skipped" if skipped else "")


def render_text(lines: list[Line]) -> str:
    """The plain report: one line per check, then failures' logs, then the verdict."""
    out = [f"{line.status.upper():7} {line.name} ({line.seconds:.1f}s): {line.detail}"
           for line in lines]
    for line in lines:
        if line.status == FAILED and line.logs:
            out.append(f"--- last log lines for {line.name}:")
            out += line.logs.rstrip().splitlines()
    out.append(verdict(lines))
    return "\n".join(out) + "\n"


def exit_code(lines: list[Line]) -> int:
    return 0 if all(line.ok for line in lines) else 1


# --- endpoints -------------------------------------------------------------------------------

@dataclass
class Endpoint:
    """A service as the checks see it. `url` None = not running in this executor (`absent`
    says why). `exited()` returns the server's own error line once its process has died
    (natively), `logs(n)` its last lines; both are unknown ("") in Dagger."""

    name: str
    url: str | None
    absent: str = ""
    exited: Callable[[], str] = lambda: ""
    logs: Callable[[int], str] = lambda n: ""


# --- expectations from the repo --------------------------------------------------------------

def seconds(duration: str | int | float | None, default: float = 0.0) -> float:
    """A Prometheus duration ("1m30s", "15s", "0s") in seconds."""
    if duration is None:
        return default
    if isinstance(duration, (int, float)):
        return float(duration)
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    total, text = 0.0, str(duration).strip()
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", text):
        total += float(number) * units[unit]
    return total


_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$')


def parse_matcher(text: str) -> tuple[str, str, str]:
    match = _MATCHER.match(text)
    if not match:
        raise ValueError(f"cannot parse matcher {text!r}")
    name, op, value = match.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = json.loads(value)
    return name, op, value


def route_matches(route: dict, labels: dict[str, str]) -> bool:
    tests = []
    for item in route.get("matchers") or []:
        for part in re.findall(r'(?:[^,"]|"(?:\\.|[^"\\])*")+', str(item).strip("{}")):
            tests.append(parse_matcher(part))
    tests += [(k, "=", str(v)) for k, v in (route.get("match") or {}).items()]
    tests += [(k, "=~", str(v)) for k, v in (route.get("match_re") or {}).items()]
    for name, op, value in tests:
        actual = labels.get(name, "")
        if op == "=" and actual != value or op == "!=" and actual == value:
            return False
        if op == "=~" and not re.fullmatch(value, actual):
            return False
        if op == "!~" and re.fullmatch(value, actual):
            return False
    return True


def routes_for(am: dict, labels: dict[str, str]) -> list[tuple[str, float]]:
    """(receiver, group_wait seconds) of every route an alert with `labels` ends in, as
    Alertmanager's route tree decides (matchers, continue, inherited settings)."""

    def walk(route: dict, receiver: str, group_wait: float) -> list[tuple[str, float]]:
        receiver = route.get("receiver", receiver)
        group_wait = seconds(route.get("group_wait"), group_wait)
        found: list[tuple[str, float]] = []
        for child in route.get("routes") or []:
            if route_matches(child, labels):
                found += walk(child, receiver, group_wait)
                if not child.get("continue", False):
                    break
        return found or [(receiver, group_wait)]

    top = am.get("route") or {}
    return walk(top, top.get("receiver", ""), seconds(top.get("group_wait"), 30.0))


def _listed_rule_files(root: Path, config: str) -> set[Path]:
    """The rule files a Prometheus config lists (resolved against its directory)."""
    base = (root / config).parent
    listed = _yaml(root, config).get("rule_files") or []
    return {(base / str(entry)).resolve() for entry in listed if isinstance(entry, str)}


def rule_files(root: Path, compose_config: str = "") -> list[Path]:
    """Every Prometheus rule file under infra/monitoring (promtool test files excluded) that
    the compose stack must load: all but those only the Kubernetes config lists (e.g.
    kube-state-metrics rules, which have no series in compose)."""
    kubernetes_only: set[Path] = set()
    if compose_config:
        kubernetes_only = (_listed_rule_files(root, KUBERNETES_CONFIG)
                           - _listed_rule_files(root, compose_config))
    found = []
    for path in sorted((root / MONITORING_DIR).rglob("*.y*ml")):
        if path.resolve() in kubernetes_only:
            continue
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            continue
        if isinstance(document, dict) and isinstance(document.get("groups"), list) \
                and "tests" not in document and all(isinstance(g, dict) and "rules" in g
                                                     for g in document["groups"]):
            found.append(path)
    return found


@dataclass
class Expectations:
    rule_files: list[str]
    rule_groups: int
    rules: int
    evaluation_interval: float
    scrape_interval: float
    receivers: list[str]
    redirected: dict[str, str]  # receiver -> how it reaches the sink
    watchdog_labels: dict[str, str]
    watchdog_routes: list[tuple[str, float]]
    watchdog_interval: float  # evaluation interval of the Watchdog's group
    critical_labels: dict[str, str]
    critical_routes: list[tuple[str, float]]
    jobs: dict[str, list[str]]  # scrape job -> compose targets
    # job -> series names the fake target serves for it (the contract's metrics of that job)
    served: dict[str, list[str]] = field(default_factory=dict)
    dashboards: list[str] = field(default_factory=list)
    datasource_uid: str = ""
    grafana_user: str = "admin"
    grafana_password: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Expectations":
        data = json.loads(text)
        for key in ("watchdog_routes", "critical_routes"):
            data[key] = [tuple(r) for r in data[key]]
        return cls(**data)


def _yaml(root: Path, rel: str) -> dict:
    """A YAML mapping; {} when unreadable: a broken server config is the server's to report
    (its own error line, at once), not ours."""
    try:
        document = yaml.safe_load((root / rel).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return document if isinstance(document, dict) else {}


def _safe(compute: Callable[[], Any], default: Any) -> Any:
    try:
        return compute()
    except (AttributeError, TypeError, ValueError, KeyError):
        return default


def served_series(root: Path, jobs: dict[str, list[str]]) -> dict[str, list[str]]:
    """The contract's series of each scrape job the fake target answers for."""
    contract = (_yaml(root, CONTRACT).get("jobs") or {})
    return {job: sorted(name + SERIES_SUFFIX.get(str((m or {}).get("type")), "")
                        for name, m in ((contract.get(job) or {}).get("metrics") or {}).items())
            for job in stack.FAKE_TARGET_JOBS if jobs.get(job) and job in contract}


def expectations(root: Path, specs: dict[str, stack.ServiceSpec]) -> Expectations:
    prom = _yaml(root, stack.config_source(specs["prometheus"]))
    am = _yaml(root, stack.config_source(specs["alertmanager"]))
    glob = prom.get("global") or {}
    evaluation = seconds(glob.get("evaluation_interval"), 60.0)
    external = {str(k): str(v) for k, v in (glob.get("external_labels") or {}).items()}
    files = rule_files(root, stack.config_source(specs["prometheus"]))
    groups = [g for f in files for g in _yaml(root, f.relative_to(root).as_posix())["groups"]]
    watchdog, watchdog_interval = {}, evaluation
    for group in groups:
        for rule in group.get("rules") or []:
            if rule.get("alert") == "Watchdog":
                watchdog = {**external, "alertname": "Watchdog",
                            **{str(k): str(v) for k, v in (rule.get("labels") or {}).items()}}
                watchdog_interval = seconds(group.get("interval"), evaluation)
    critical = {"alertname": CRITICAL_ALERT, "severity": "critical", "namespace": "smoke-test"}
    redirected = _safe(lambda: stack.receiver_overrides(am, "http://sink")[2], {})
    found = Expectations(
        rule_files=[f.relative_to(root).as_posix() for f in files],
        rule_groups=len(groups), rules=sum(len(g.get("rules") or []) for g in groups),
        evaluation_interval=evaluation,
        scrape_interval=seconds(glob.get("scrape_interval"), 60.0),
        receivers=_safe(lambda: [str(r.get("name")) for r in am.get("receivers") or []], []),
        redirected=redirected, watchdog_labels=watchdog,
        watchdog_routes=_safe(lambda: routes_for(am, watchdog), []) if watchdog else [],
        watchdog_interval=watchdog_interval,
        critical_labels=critical, critical_routes=_safe(lambda: routes_for(am, critical), []),
        jobs=_safe(lambda: stack.scrape_targets(prom), {}))
    found.served = _safe(lambda: served_series(root, found.jobs), {})
    if "grafana" in specs:
        grafana_expectations(root, specs["grafana"], found)
    return found


def grafana_expectations(root: Path, spec: stack.ServiceSpec, found: Expectations) -> None:
    """Dashboard uids and the Prometheus datasource uid from the provisioning files."""
    provisioning = spec.environment.get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning")
    source = spec.source_of(provisioning)
    if source is None:
        return
    for path in sorted((root / source / "datasources").glob("*.y*ml")):
        for ds in (_yaml(root, path.relative_to(root).as_posix()).get("datasources") or []):
            if ds.get("type") == "prometheus" and not found.datasource_uid:
                found.datasource_uid = str(ds.get("uid", ""))
    for path in sorted((root / source / "dashboards").glob("*.y*ml")):
        for provider in _yaml(root, path.relative_to(root).as_posix()).get("providers") or []:
            folder = spec.source_of(str((provider.get("options") or {}).get("path", "")))
            for board in sorted((root / folder).rglob("*.json")) if folder else []:
                uid = json.loads(board.read_text(encoding="utf-8")).get("uid")
                if uid and uid not in found.dashboards:
                    found.dashboards.append(uid)
    found.grafana_user = spec.environment.get("GF_SECURITY_ADMIN_USER", "admin")
    found.grafana_password = spec.environment.get("GF_SECURITY_ADMIN_PASSWORD", "admin")


# --- HTTP ------------------------------------------------------------------------------------

class HTTPFailure(Exception):
    pass


def _request(url: str, data: Any = None, auth: tuple[str, str] | None = None,
             timeout: float = 5.0) -> tuple[int, Any]:
    headers = {"Accept": "application/json"}
    body = None
    if data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{auth[0]}:{auth[1]}".encode()).decode()
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw, status = response.read(), response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    except (urllib.error.URLError, OSError) as error:
        raise HTTPFailure(f"{url}: {getattr(error, 'reason', error)}") from error
    try:
        return status, json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return status, raw.decode(errors="replace")


async def request(url: str, data: Any = None, auth: tuple[str, str] | None = None) -> Any:
    """GET (or POST `data` as JSON); the decoded body of a 2xx answer, else HTTPFailure."""
    status, body = await asyncio.to_thread(_request, url, data, auth)
    if not 200 <= status < 300:
        raise HTTPFailure(f"{url}: HTTP {status}: {str(body)[:300]}")
    return body


async def poll(probe: Callable[[], Awaitable[Any]], timeout: float,
               died: Callable[[], str] = lambda: "") -> tuple[Any, str]:
    """Call `probe` until it returns a truthy value or `timeout` passes.

    Returns (value, "") or (None, why it gave up: the last error, or the line a dead
    server left, at once rather than at the deadline)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        message = died()
        if message:
            return None, message
        try:
            value = await probe()
            if value:
                return value, ""
        except HTTPFailure as error:
            last = str(error)
        if time.monotonic() >= deadline:
            return None, f"not within {timeout:.0f}s: {last}"
        await asyncio.sleep(POLL)


# --- the checks ------------------------------------------------------------------------------

@dataclass
class Context:
    prometheus: Endpoint
    alertmanager: Endpoint
    grafana: Endpoint
    sink: str
    expect: Expectations
    running: set[str]  # compose hostnames reachable from Prometheus in this executor
    started: float = field(default_factory=time.monotonic)
    marker: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def line(self, name: str, status: str, detail: str, began: float,
             *services: Endpoint) -> Line:
        logs = ""
        if status == FAILED:
            logs = "\n".join(f"[{s.name}] {entry}" for s in services
                             for entry in (s.logs(LOG_LINES) or "").splitlines())
        return Line(name, status, detail, time.monotonic() - began, logs)


async def ready(ctx: Context, service: Endpoint) -> Line:
    began = time.monotonic()
    name = f"{service.name} ready"
    if service.url is None:
        return ctx.line(name, SKIPPED, service.absent, began)

    async def probe() -> bool:
        await request(f"{service.url}/-/ready")
        return True

    _, why = await poll(probe, READY_TIMEOUT, service.exited)
    if why:
        return ctx.line(name, FAILED, why, began, service)
    return ctx.line(name, PASSED, f"{service.url}/-/ready answered 200", began)


async def targets_up(ctx: Context) -> Line:
    began = time.monotonic()
    prom = ctx.prometheus
    reachable = {job for job, targets in ctx.expect.jobs.items()
                 if targets and all(t.rsplit(":", 1)[0] in ctx.running for t in targets)}
    outside = sorted(set(ctx.expect.jobs) - reachable)
    seen: dict[str, dict] = {}

    async def probe() -> bool:
        data = await request(f"{prom.url}/api/v1/targets?state=active")
        seen.clear()
        for target in data["data"]["activeTargets"]:
            job = target["labels"].get("job", "")
            if job in reachable and (job not in seen or target["health"] != "up"):
                seen[job] = target
        return set(seen) == reachable and all(t["health"] == "up" for t in seen.values())

    # the first scrape of a target happens within one scrape interval
    _, why = await poll(probe, ctx.expect.scrape_interval * 2 + MARGIN, prom.exited)
    note = f"; not in the smoke stack: {', '.join(outside)}" if outside else ""
    if why:
        bad = [f"{job}: {t['health']} {t.get('lastError', '')}".strip()
               for job, t in sorted(seen.items()) if t["health"] != "up"]
        missing = sorted(reachable - set(seen))
        detail = "; ".join(bad + [f"{m}: not a target" for m in missing]) or why
        return ctx.line("targets up", FAILED, detail + note, began, prom)
    return ctx.line("targets up", PASSED, f"{len(reachable)} up ({', '.join(sorted(reachable))})"
                    + note, began)


async def contract_series(ctx: Context) -> Line:
    """Prometheus holds every contract series of the jobs the fake target answers for (the
    backend's and the EDC exporter's): the names and the job the rules and panels select."""
    began = time.monotonic()
    prom = ctx.prometheus
    reachable = {job: names for job, names in ctx.expect.served.items()
                 if all(t.rsplit(":", 1)[0] in ctx.running for t in ctx.expect.jobs.get(job) or [])}
    missing: dict[str, list[str]] = {}

    async def probe() -> bool:
        missing.clear()
        for job, names in reachable.items():
            query = urllib.parse.quote(f'group by (__name__) ({{job="{job}"}})')
            data = await request(f"{prom.url}/api/v1/query?query={query}")
            have = {r["metric"].get("__name__") for r in data["data"]["result"]}
            if set(names) - have:
                missing[job] = sorted(set(names) - have)
        return not missing

    _, why = await poll(probe, ctx.expect.scrape_interval * 2 + MARGIN, prom.exited)
    if why or not reachable:
        detail = "; ".join(f"job {job} lacks {', '.join(names)}" for job, names in missing.items())
        return ctx.line("contract series scraped", FAILED,
                        detail or why or "no fake-target job in the smoke stack", began, prom)
    return ctx.line("contract series scraped", PASSED, ", ".join(
        f"{job}: {len(names)} series" for job, names in sorted(reachable.items())), began)


async def rules_loaded(ctx: Context) -> Line:
    began = time.monotonic()
    prom, want = ctx.prometheus, ctx.expect
    got: dict[str, int] = {}

    async def probe() -> bool:
        groups = (await request(f"{prom.url}/api/v1/rules"))["data"]["groups"]
        got.update(groups=len(groups), rules=sum(len(g["rules"]) for g in groups))
        return got["groups"] == want.rule_groups and got["rules"] == want.rules

    _, why = await poll(probe, 20.0, prom.exited)
    expected = f"{want.rule_groups} groups, {want.rules} rules from {len(want.rule_files)} files"
    if why:
        loaded = f"{got.get('groups')} groups, {got.get('rules')} rules" if got else why
        return ctx.line("rules loaded", FAILED, f"loaded {loaded}; infra/monitoring defines "
                        f"{expected}", began, prom)
    return ctx.line("rules loaded", PASSED, expected, began)


async def prometheus_sees_alertmanager(ctx: Context) -> Line:
    began = time.monotonic()
    prom = ctx.prometheus

    async def probe() -> list:
        data = await request(f"{prom.url}/api/v1/alertmanagers")
        return [a["url"] for a in data["data"]["activeAlertmanagers"]]

    urls, why = await poll(probe, 20.0, prom.exited)
    if why:
        return ctx.line("prometheus sees alertmanager", FAILED, why, began, prom)
    return ctx.line("prometheus sees alertmanager", PASSED, ", ".join(urls), began)


async def alertmanager_receivers(ctx: Context) -> Line:
    began = time.monotonic()
    am = ctx.alertmanager
    try:
        names = sorted(r["name"] for r in await request(f"{am.url}/api/v2/receivers"))
    except HTTPFailure as error:
        return ctx.line("alertmanager receivers", FAILED, str(error), began, am)
    want = sorted(ctx.expect.receivers)
    if names != want:
        return ctx.line("alertmanager receivers", FAILED,
                        f"receivers {names}, alertmanager.yml defines {want}", began, am)
    return ctx.line("alertmanager receivers", PASSED, ", ".join(names), began)


async def received(ctx: Context, receiver: str, needle: str) -> list[dict]:
    """Sink entries for `receiver` whose payload mentions `needle`."""
    entries = await request(f"{ctx.sink}/received")
    return [e for e in entries if e["path"].rstrip("/").endswith(f"/{receiver}")
            and needle in json.dumps(e["payload"])]


async def delivered(ctx: Context, routes: list[tuple[str, float]], needle: str,
                    timeout: float) -> tuple[list[str], list[str]]:
    """Wait until every route's receiver got a notification mentioning `needle`."""
    observable = [r for r, _ in routes if r in ctx.expect.redirected]
    seen: dict[str, float] = {}

    async def probe() -> bool:
        for receiver in observable:
            if receiver not in seen and await received(ctx, receiver, needle):
                seen[receiver] = time.monotonic() - ctx.started
        return len(seen) == len(observable)

    await poll(probe, timeout, ctx.alertmanager.exited)
    done = [f"{r} ({ctx.expect.redirected[r].split()[0]}, at {seen[r]:.1f}s)" for r in seen]
    missing = [r for r in observable if r not in seen]
    missing += [f"{r} (sends nowhere the sink can observe)" for r, _ in routes
                if r not in ctx.expect.redirected]
    return done, missing


async def watchdog(ctx: Context) -> Line:
    """Watchdog: firing in Prometheus -> active in Alertmanager -> at its receiver."""
    began = time.monotonic()
    name, want = "watchdog end to end", ctx.expect
    prom, am = ctx.prometheus, ctx.alertmanager
    if not want.watchdog_labels:
        return ctx.line(name, FAILED, "no alert `Watchdog` in the rule files", began)
    group_wait = max((w for _, w in want.watchdog_routes), default=0.0)
    timing = (f"evaluation interval {want.watchdog_interval:.0f}s + group_wait "
              f"{group_wait:.0f}s")

    async def firing() -> bool:
        # /api/v1/alerts is the rules' live state; the ALERTS series is only written once
        # the group restored its `for` state (its second evaluation), notifications are not.
        alerts = (await request(f"{prom.url}/api/v1/alerts"))["data"]["alerts"]
        return any(a["labels"].get("alertname") == "Watchdog" and a["state"] == "firing"
                   for a in alerts)

    # the first evaluation of a group happens within one interval of the start
    _, why = await poll(firing, want.watchdog_interval * 2 + MARGIN, prom.exited)
    if why:
        return ctx.line(name, FAILED, f"not firing in Prometheus: {why} ({timing})", began, prom)
    in_prom = time.monotonic() - ctx.started
    flt = urllib.parse.quote('alertname="Watchdog"')

    async def active() -> bool:
        return bool(await request(f"{am.url}/api/v2/alerts?filter={flt}"))

    _, why = await poll(active, 20.0 + want.evaluation_interval, am.exited)
    if why:
        return ctx.line(name, FAILED, f"firing in Prometheus, not in Alertmanager: {why}",
                        began, prom, am)
    in_am = time.monotonic() - ctx.started
    done, missing = await delivered(ctx, want.watchdog_routes, "Watchdog", group_wait + MARGIN)
    detail = (f"firing in Prometheus at {in_prom:.1f}s, in Alertmanager at {in_am:.1f}s, "
              f"received by {', '.join(done) or 'nobody'}")
    if missing or not done:
        return ctx.line(name, FAILED, f"{detail}; missing: {', '.join(missing)} ({timing})",
                        began, am)
    return ctx.line(name, PASSED, f"{detail} ({timing})", began)


async def critical_alert(ctx: Context) -> Line:
    """A severity=critical alert posted to Alertmanager reaches the critical receiver(s)."""
    began = time.monotonic()
    name, want, am = "critical alert routed", ctx.expect, ctx.alertmanager
    now = datetime.now(timezone.utc)
    alert = {"labels": {**want.critical_labels, "smoke_run": ctx.marker},
             "annotations": {"summary": f"smoke test {ctx.marker}",
                             "description": "posted by the smoke test",
                             "runbook_url": "https://runbooks.dpp-platform.example/smoke"},
             "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=10)).isoformat()}
    try:
        await request(f"{am.url}/api/v2/alerts", [alert])
    except HTTPFailure as error:
        return ctx.line(name, FAILED, f"POST /api/v2/alerts: {error}", began, am)
    routes = want.critical_routes
    flt = urllib.parse.quote(f'smoke_run="{ctx.marker}"')

    async def routed() -> list:
        alerts = await request(f"{am.url}/api/v2/alerts?filter={flt}")
        return sorted({r["name"] for a in alerts for r in a.get("receivers", [])})

    names, why = await poll(routed, 20.0, am.exited)
    expected = sorted({r for r, _ in routes})
    if why or names != expected:
        return ctx.line(name, FAILED, f"Alertmanager routed it to {names or why}, "
                        f"alertmanager.yml routes it to {expected}", began, am)
    group_wait = max(w for _, w in routes)
    done, missing = await delivered(ctx, routes, ctx.marker, group_wait + MARGIN)
    detail = (f"routed to {', '.join(names)}; received by {', '.join(done) or 'nobody'} "
              f"(group_wait {group_wait:.0f}s)")
    if missing or not done:
        return ctx.line(name, FAILED, f"{detail}; missing: {', '.join(missing)}", began, am)
    return ctx.line(name, PASSED, detail, began)


async def grafana_checks(ctx: Context) -> list[Line]:
    began, grafana, want = time.monotonic(), ctx.grafana, ctx.expect
    names = ("grafana healthy", "grafana datasource healthy", "grafana dashboards provisioned")
    if grafana.url is None:
        return [ctx.line(n, SKIPPED, grafana.absent, began) for n in names]
    auth = (want.grafana_user, want.grafana_password)

    async def health() -> Any:
        body = await request(f"{grafana.url}/api/health")
        return body if isinstance(body, dict) and body.get("database") == "ok" else None

    body, why = await poll(health, READY_TIMEOUT, grafana.exited)
    lines = [ctx.line(names[0], FAILED if why else PASSED,
                      why or f"version {body.get('version')}, database ok", began, grafana)]

    async def datasource() -> Any:
        body = await request(f"{grafana.url}/api/datasources/uid/{want.datasource_uid}/health",
                             auth=auth)
        return body if body.get("status") == "OK" else None

    began = time.monotonic()
    body, why = await poll(datasource, 30.0, grafana.exited)
    lines.append(ctx.line(names[1], FAILED if why else PASSED,
                          why or f"uid {want.datasource_uid}: {body.get('message')}",
                          began, grafana))
    began = time.monotonic()
    found: list[str] = []

    async def boards() -> bool:
        for uid in want.dashboards:
            if uid not in found:
                try:
                    await request(f"{grafana.url}/api/dashboards/uid/{uid}", auth=auth)
                    found.append(uid)
                except HTTPFailure:
                    pass
        return len(found) == len(want.dashboards)

    _, why = await poll(boards, 30.0, grafana.exited)
    missing = [u for u in want.dashboards if u not in found]
    lines.append(ctx.line(names[2], FAILED if why else PASSED,
                          f"missing {missing}: {why}" if why else
                          f"{len(found)} by uid: {', '.join(found)}", began, grafana))
    return lines


ORDER = ("prometheus ready", "alertmanager ready", "targets up", "contract series scraped",
         "rules loaded",
         "prometheus sees alertmanager", "alertmanager receivers", "watchdog end to end",
         "critical alert routed", "grafana healthy", "grafana datasource healthy",
         "grafana dashboards provisioned")


async def run_checks(ctx: Context) -> list[Line]:
    """Readiness first (fails fast); then every other check concurrently. The critical alert
    is posted as soon as Alertmanager is ready: its group_wait is the long pole."""
    prom_ready, am_ready = await asyncio.gather(ready(ctx, ctx.prometheus),
                                                ready(ctx, ctx.alertmanager))
    lines = [prom_ready, am_ready]
    down = [line.name.split()[0] for line in lines if line.status == FAILED]
    if down:  # fail fast: nothing else can pass
        return lines + [Line(name, SKIPPED, f"not run: {' and '.join(down)} not ready")
                        for name in ORDER[2:]]
    jobs: list[Awaitable[Any]] = []
    skipped: list[Line] = []
    am_ok, prom_ok = am_ready.status == PASSED, prom_ready.status == PASSED
    for label, check, needs in (
            ("alertmanager receivers", alertmanager_receivers, [am_ok]),
            ("critical alert routed", critical_alert, [am_ok]),
            ("targets up", targets_up, [prom_ok]), ("rules loaded", rules_loaded, [prom_ok]),
            ("contract series scraped", contract_series, [prom_ok]),
            ("prometheus sees alertmanager", prometheus_sees_alertmanager, [prom_ok, am_ok]),
            ("watchdog end to end", watchdog, [prom_ok, am_ok])):
        if all(needs):
            jobs.append(check(ctx))
        else:
            skipped.append(Line(label, SKIPPED, "not run: a server it needs is not ready"))
    results = await asyncio.gather(*jobs, grafana_checks(ctx))
    for result in results:
        lines += result if isinstance(result, list) else [result]
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(lines + skipped, key=lambda line: rank.get(line.name, len(ORDER)))


# --- runner (the Dagger executor runs this in a python container) -----------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.smoke.checks")
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--prometheus", required=True)
    parser.add_argument("--alertmanager", required=True)
    parser.add_argument("--grafana", default="")
    parser.add_argument("--sink", required=True)
    parser.add_argument("--running", default="", help="comma-separated reachable hostnames")
    parser.add_argument("--json", action="store_true", help="print the lines as JSON")
    args = parser.parse_args(argv)
    specs = stack.load(args.source)
    ctx = Context(
        prometheus=Endpoint("prometheus", args.prometheus.rstrip("/")),
        alertmanager=Endpoint("alertmanager", args.alertmanager.rstrip("/")),
        grafana=Endpoint("grafana", args.grafana.rstrip("/") or None,
                         absent="no grafana service"),
        sink=args.sink.rstrip("/"), expect=expectations(args.source, specs),
        running=set(filter(None, args.running.split(","))))
    lines = asyncio.run(run_checks(ctx))
    if args.json:
        print(json.dumps([asdict(line) for line in lines]))
    else:
        sys.stdout.write(render_text(lines))
    return exit_code(lines)


if __name__ == "__main__":
    raise SystemExit(main())
