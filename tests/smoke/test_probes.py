"""smoke/probes over a fake server answering as Prometheus, Alertmanager and the sink do:
a malformed answer or a broken probe fails its own line with the cause; the others report."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest

from pipeline.model.prometheus import RouteEnd
from pipeline.smoke import probes
from pipeline.smoke.expectations import Expectations
from pipeline.smoke.http import fetch_field, poll
from pipeline.smoke.probes import Context, Endpoint, run_probes
from pipeline.smoke.report import FAILED, PASSED, SKIPPED

MARKER = "m4rker"
# What each API answers when all is well (shapes of Prometheus 2.51's /api/v1 and
# Alertmanager 0.27's /api/v2 answers, cut to the fields the probes read).
HEALTHY = {
    "/-/ready": "",
    "/api/v1/targets": {"status": "success", "data": {"activeTargets": [
        {"labels": {"job": "backend"}, "health": "up", "lastError": ""}]}},
    "/api/v1/query": {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "http_requests_total"}, "value": [0, "1"]}]}},
    "/api/v1/rules": {"status": "success", "data": {"groups": [{"name": "g", "rules": [{}]}]}},
    "/api/v1/alertmanagers": {"status": "success", "data": {
        "activeAlertmanagers": [{"url": "http://alertmanager/api/v2/alerts"}]}},
    "/api/v1/alerts": {"status": "success", "data": {"alerts": [
        {"labels": {"alertname": "Watchdog"}, "state": "firing"}]}},
    "/api/v2/receivers": [{"name": "webhook"}],
    "/api/v2/alerts": [{"labels": {"alertname": "Watchdog"}, "receivers": [{"name": "webhook"}]}],
    "/received": [{"path": "/webhook/webhook", "payload": {"alerts": ["Watchdog", MARKER]}}],
}


class Answers(BaseHTTPRequestHandler):
    answers: dict = {}

    def answer(self) -> None:
        body = json.dumps(self.answers[urlparse(self.path).path]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, dict]]:
    answers = dict(HEALTHY)
    handler = type("Handler", (Answers,), {"answers": answers})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # shutdown() returns when serve_forever next looks: every 50 ms, not its default 0.5 s
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", answers
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def short_deadlines(monkeypatch):
    monkeypatch.setattr(probes, "MARGIN", 2.0)


def expect() -> Expectations:
    return Expectations(
        rule_files=["rules.yml"], rule_groups=1, rules=1, evaluation_interval=0.1,
        scrape_interval=0.1, receivers=["webhook"], redirected={"webhook": "webhook url -> sink"},
        watchdog_labels={"alertname": "Watchdog"}, watchdog_routes=[RouteEnd("webhook", 0.0)],
        watchdog_interval=0.1, critical_labels={"alertname": "SmokeTestCritical"},
        critical_routes=[RouteEnd("webhook", 0.0)], jobs={"backend": ["backend:8000"]},
        served={"backend": ["http_requests_total"]})


def context(url: str, expectations: Expectations | None = None, unreadable: str = "") -> Context:
    return Context(prometheus=Endpoint("prometheus", url),
                   alertmanager=Endpoint("alertmanager", url),
                   grafana=Endpoint("grafana", None, absent="no grafana here"), sink=url,
                   expect=expectations, unreadable=unreadable, running={"backend"}, marker=MARKER)


def by_name(lines) -> dict:
    return {line.name: line for line in lines}


def test_a_healthy_stack_passes_every_probe(server):
    url, _ = server
    lines = by_name(asyncio.run(run_probes(context(url, expect()))))
    assert {name for name, line in lines.items() if line.status != PASSED} == set(probes.GRAFANA)
    assert probes.EXPECTATIONS not in lines


def test_a_malformed_answer_fails_at_once_naming_the_url_and_field(server):
    url, answers = server
    answers["/api/v1/rules"] = {"status": "success"}

    async def probe():
        return await fetch_field(f"{url}/api/v1/rules", "data", "groups")

    value, why = asyncio.run(poll(probe, timeout=60.0))
    assert value is None
    assert why == (f"malformed answer: {url}/api/v1/rules: the answer has no field data: "
                   "{'status': 'success'}")


def test_a_malformed_answer_fails_its_line_and_no_other(server):
    url, answers = server
    answers["/api/v1/rules"] = {"status": "success"}
    lines = by_name(asyncio.run(run_probes(context(url, expect()))))
    assert lines["rules loaded"].status == FAILED
    assert f"{url}/api/v1/rules: the answer has no field data" in lines["rules loaded"].detail
    failed = {name for name, line in lines.items() if line.status == FAILED}
    assert failed == {"rules loaded"}


def test_a_probe_that_breaks_fails_its_line_with_the_cause(server):
    url, answers = server
    answers["/api/v2/receivers"] = [{"title": "webhook"}]  # no `name`
    lines = by_name(asyncio.run(run_probes(context(url, expect()))))
    assert lines["alertmanager receivers"].status == FAILED
    assert lines["alertmanager receivers"].detail == "the probe broke: KeyError: 'name'"
    assert {n for n, line in lines.items() if line.status == FAILED} == {"alertmanager receivers"}


def test_unreadable_expectations_are_one_failing_line_and_the_rest_not_run(server):
    url, _ = server
    why = "infra/monitoring/alertmanager/alertmanager.yml: route.routes[2].matchers[0]: bad"
    lines = asyncio.run(run_probes(context(url, None, why)))
    assert [(line.name, line.status) for line in lines[:3]] == [
        ("prometheus ready", PASSED), ("alertmanager ready", PASSED),
        (probes.EXPECTATIONS, FAILED)]
    assert lines[2].detail == why
    assert [line.name for line in lines[3:]] == list(probes.PROBES)
    assert {line.status for line in lines[3:]} == {SKIPPED}
    assert all(line.detail == "not run: no expectations from the repo" for line in lines[3:])
