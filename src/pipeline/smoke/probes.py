"""The smoke's probes: HTTP only, over base URLs, the same code for both executors.

Natively they run in the CLI's process against local servers (smoke/native.py); in Dagger
in a python container bound to the services (smoke/probe_urls.py). Readiness first (fails
fast), then the expectations from the repo, then every other probe concurrently; a probe
that breaks is its own failing line, never the end of the others.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pipeline.model.prometheus import RouteEnd
from pipeline.smoke.expectations import Expectations
from pipeline.smoke.http import HTTPFailure, fetch_field, poll, request
from pipeline.smoke.report import FAILED, PASSED, SKIPPED, Line, not_run

READY_TIMEOUT = 60.0  # seconds for a server to answer /-/ready
MARGIN = 30.0  # seconds added to every timing-derived deadline
LOG_LINES = 25


@dataclass
class Endpoint:
    """A service as the probes see it. `url` None = not running in this executor (`absent`
    says why). `exited()` returns the server's own error line once its process has died
    (natively), `logs(n)` its last lines; both are unknown ("") in Dagger."""

    name: str
    url: str | None
    absent: str = ""
    exited: Callable[[], str] = lambda: ""
    logs: Callable[[int], str] = lambda n: ""


@dataclass
class Context:
    prometheus: Endpoint
    alertmanager: Endpoint
    grafana: Endpoint
    sink: str
    expect: Expectations | None  # None: the repo's files could not be read (`unreadable`)
    running: set[str]  # compose hostnames reachable from Prometheus in this executor
    unreadable: str = ""  # why there are no expectations: the file, the field, the cause
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
        active = await fetch_field(f"{prom.url}/api/v1/targets?state=active",
                                   "data", "activeTargets")
        seen.clear()
        for target in active:
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
            result = await fetch_field(f"{prom.url}/api/v1/query?query={query}", "data", "result")
            have = {r["metric"].get("__name__") for r in result}
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
        groups = await fetch_field(f"{prom.url}/api/v1/rules", "data", "groups")
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
        active = await fetch_field(f"{prom.url}/api/v1/alertmanagers", "data",
                                   "activeAlertmanagers")
        return [a["url"] for a in active]

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


async def delivered(ctx: Context, routes: list[RouteEnd], needle: str,
                    timeout: float) -> tuple[list[str], list[str]]:
    """Wait until every route's receiver got a notification mentioning `needle`."""
    observable = [r.receiver for r in routes if r.receiver in ctx.expect.redirected]
    seen: dict[str, float] = {}

    async def probe() -> bool:
        for receiver in observable:
            if receiver not in seen and await received(ctx, receiver, needle):
                seen[receiver] = time.monotonic() - ctx.started
        return len(seen) == len(observable)

    await poll(probe, timeout, ctx.alertmanager.exited)
    done = [f"{r} ({ctx.expect.redirected[r].split()[0]}, at {seen[r]:.1f}s)" for r in seen]
    missing = [r for r in observable if r not in seen]
    missing += [f"{r.receiver} (sends nowhere the sink can observe)" for r in routes
                if r.receiver not in ctx.expect.redirected]
    return done, missing


async def watchdog(ctx: Context) -> Line:
    """Watchdog: firing in Prometheus -> active in Alertmanager -> at its receiver."""
    began = time.monotonic()
    name, want = "watchdog end to end", ctx.expect
    prom, am = ctx.prometheus, ctx.alertmanager
    if not want.watchdog_labels:
        return ctx.line(name, FAILED, "no alert `Watchdog` in the rule files", began)
    group_wait = max((r.group_wait for r in want.watchdog_routes), default=0.0)
    timing = (f"evaluation interval {want.watchdog_interval:.0f}s + group_wait "
              f"{group_wait:.0f}s")

    async def firing() -> bool:
        # /api/v1/alerts is the rules' live state; the ALERTS series is only written once
        # the group restored its `for` state (its second evaluation), notifications are not.
        alerts = await fetch_field(f"{prom.url}/api/v1/alerts", "data", "alerts")
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
    expected = sorted({r.receiver for r in routes})
    if why or names != expected:
        return ctx.line(name, FAILED, f"Alertmanager routed it to {names or why}, "
                        f"alertmanager.yml routes it to {expected}", began, am)
    group_wait = max(r.group_wait for r in routes)
    done, missing = await delivered(ctx, routes, ctx.marker, group_wait + MARGIN)
    detail = (f"routed to {', '.join(names)}; received by {', '.join(done) or 'nobody'} "
              f"(group_wait {group_wait:.0f}s)")
    if missing or not done:
        return ctx.line(name, FAILED, f"{detail}; missing: {', '.join(missing)}", began, am)
    return ctx.line(name, PASSED, detail, began)


async def grafana_probes(ctx: Context) -> list[Line]:
    began, grafana, want = time.monotonic(), ctx.grafana, ctx.expect
    names = GRAFANA
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


READINESS = ("prometheus ready", "alertmanager ready")
EXPECTATIONS = "expectations from the repo"  # a line only when the files cannot be read
GRAFANA = ("grafana healthy", "grafana datasource healthy", "grafana dashboards provisioned")
ORDER = (*READINESS, EXPECTATIONS, "targets up", "contract series scraped", "rules loaded",
         "prometheus sees alertmanager", "alertmanager receivers", "watchdog end to end",
         "critical alert routed", *GRAFANA)
PROBES = tuple(name for name in ORDER if name not in (*READINESS, EXPECTATIONS))


async def guarded(names: tuple[str, ...], probe: Awaitable[Any]) -> list[Line]:
    """The probe's line(s); a probe that raises fails its own line(s) with the cause."""
    began = time.monotonic()
    try:
        result = await probe
    except Exception as error:  # noqa: BLE001 - reported as the probe's failing line
        return [Line(name, FAILED, f"the probe broke: {type(error).__name__}: {error}",
                     time.monotonic() - began) for name in names]
    return result if isinstance(result, list) else [result]


async def run_probes(ctx: Context) -> list[Line]:
    """Readiness first (fails fast); then every other probe concurrently. The critical alert
    is posted as soon as Alertmanager is ready: its group_wait is the long pole."""
    lines = [line for pair in await asyncio.gather(
        guarded(READINESS[:1], ready(ctx, ctx.prometheus)),
        guarded(READINESS[1:], ready(ctx, ctx.alertmanager))) for line in pair]
    down = [line.name.split()[0] for line in lines if line.status == FAILED]
    if down:  # fail fast: nothing else can pass
        return lines + not_run(PROBES, f"{' and '.join(down)} not ready")
    if ctx.expect is None:  # the servers took the files, we could not read them
        return lines + [Line(EXPECTATIONS, FAILED, ctx.unreadable)] + not_run(
            PROBES, "no expectations from the repo")
    jobs: list[Awaitable[list[Line]]] = []
    skipped: list[Line] = []
    am_ok, prom_ok = (line.status == PASSED for line in lines)
    for label, probe, needs in (
            ("alertmanager receivers", alertmanager_receivers, [am_ok]),
            ("critical alert routed", critical_alert, [am_ok]),
            ("targets up", targets_up, [prom_ok]), ("rules loaded", rules_loaded, [prom_ok]),
            ("contract series scraped", contract_series, [prom_ok]),
            ("prometheus sees alertmanager", prometheus_sees_alertmanager, [prom_ok, am_ok]),
            ("watchdog end to end", watchdog, [prom_ok, am_ok])):
        if all(needs):
            jobs.append(guarded((label,), probe(ctx)))
        else:
            skipped += not_run((label,), "a server it needs is not ready")
    results = await asyncio.gather(*jobs, guarded(GRAFANA, grafana_probes(ctx)))
    lines += [line for result in results for line in result]
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(lines + skipped, key=lambda line: rank.get(line.name, len(ORDER)))
