"""The metrics rule over a real prod render, mutated."""

from __future__ import annotations

import pytest

from pipeline.checks.chart import metrics
from tests.support.docs import find, messages

pytestmark = pytest.mark.tools


def test_metrics_scraped_once(prod_docs):
    """A ServiceMonitor matching the headless Service too would scrape each pod twice."""
    docs = prod_docs  # this test's own copy (conftest)
    del find(docs, "ServiceMonitor", "dpp-platform-minio")["spec"]["selector"]["matchExpressions"]
    out = messages(metrics.check_metrics(docs, "production"))
    assert any(m.startswith("ServiceMonitor/dpp-platform-minio: spec.selector: port 'api' is scraped twice")
               for m in out), out


def test_minio_metrics_need_public_auth(prod_docs):
    docs = prod_docs  # this test's own copy (conftest)
    container = find(docs, "StatefulSet", "dpp-platform-minio")["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [v for v in container["env"] if v["name"] != "MINIO_PROMETHEUS_AUTH_TYPE"]
    assert any(m.startswith("StatefulSet/dpp-platform-minio: spec.template.spec.containers[minio]"
                            ".env[MINIO_PROMETHEUS_AUTH_TYPE]: must be \"public\"")
               for m in messages(metrics.check_metrics(docs, "production")))


def test_metrics_port_must_exist(prod_docs):
    docs = prod_docs  # this test's own copy (conftest)
    find(docs, "ServiceMonitor", "dpp-platform-opa")["spec"]["endpoints"][0]["port"] = "http-metrics"
    assert any(m.startswith("ServiceMonitor/dpp-platform-opa: spec.endpoints[0].port: 'http-metrics' is a port of none")
               for m in messages(metrics.check_metrics(docs, "production")))


def test_an_empty_servicemonitor_selector_selects_every_service(prod_docs):
    """prometheus-operator reads `selector: {}` as every Service of the namespace: the OPA
    monitor then finds its port on no other Service but scrapes through all of them."""
    docs = prod_docs  # this test's own copy (conftest)
    find(docs, "ServiceMonitor", "dpp-platform-opa")["spec"]["selector"] = {}
    out = messages(metrics.check_metrics(docs, "production"))
    assert not any("ServiceMonitor/dpp-platform-opa: spec.selector: selects no Service" in m for m in out), out
    assert any(m.startswith("ServiceMonitor/dpp-platform-opa: spec.endpoints[0].port") or
               m.startswith("ServiceMonitor/dpp-platform-opa: spec.selector: port") for m in out), out


def test_a_service_without_a_selector_backs_no_pods(prod_docs):
    """A Service without spec.selector has no endpoints: its port targets no container."""
    docs = prod_docs  # this test's own copy (conftest)
    del find(docs, "Service", "dpp-platform-opa")["spec"]["selector"]
    out = messages(metrics.check_metrics(docs, "production"))
    assert any(m.startswith("ServiceMonitor/dpp-platform-opa: spec.endpoints[0].port: Service/dpp-platform-opa")
               and "which no container of its pods declares" in m for m in out), out
