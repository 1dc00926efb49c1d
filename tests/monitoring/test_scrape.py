"""Scrape targets that exist: relabel semantics, and the chart/scrape-<env> check.

The relabel cases marked "upstream" are taken from prometheus/prometheus v2.51.0
`model/relabel/relabel_test.go` (inputs and expected outputs unchanged).
"""

from __future__ import annotations

import pytest

from pipeline.contracts.relabel import RelabelError, parse_rules, populate, process
from pipeline.policies.manifests import load
from pipeline.policies.scrape import check
from tests.chart.helpers import REPO, output, run_check
from tests.monitoring.helpers import edited_chart, run_check_on_chart


def relabel(labels, *rules):
    return process(labels, parse_rules(list(rules)))


# --- relabel semantics ----------------------------------------------------------------

def test_upstream_replace_with_braced_groups():
    out = relabel({"a": "foo", "b": "bar", "c": "baz"},
                  {"source_labels": ["a"], "regex": "f(.*)", "target_label": "d",
                   "replacement": "ch${1}-ch${1}"})
    assert out == {"a": "foo", "b": "bar", "c": "baz", "d": "choo-choo"}


def test_upstream_replace_chain_with_separator():
    out = relabel({"a": "foo", "b": "bar", "c": "baz"},
                  {"source_labels": ["a", "b"], "regex": "f(.*);(.*)r", "target_label": "a",
                   "replacement": "b${1}${2}m"},
                  {"source_labels": ["c", "a"], "regex": "(b).*b(.*)ba(.*)", "target_label": "d",
                   "replacement": "$1$2$2$3"})
    assert out == {"a": "boobam", "b": "bar", "c": "baz", "d": "boooom"}


def test_upstream_hashmod():
    assert relabel({"c": "baz"}, {"source_labels": ["c"], "target_label": "d", "action": "hashmod",
                                  "modulus": 1000})["d"] == "976"
    assert relabel({"a": "foo\nbar"}, {"source_labels": ["a"], "target_label": "b",
                                       "action": "hashmod", "modulus": 1000})["b"] == "734"


def test_regexes_are_anchored():
    # `.*-controlplane` matches a whole value only: "x-controlplane-y" is not kept.
    rule = {"source_labels": ["n"], "regex": ".*-controlplane", "action": "keep"}
    assert relabel({"n": "dpp-edc-controlplane"}, rule) is not None
    assert relabel({"n": "dpp-edc-controlplane-y"}, rule) is None
    # a trailing newline does not satisfy Go's `$` (Python's `$` would accept it)
    assert relabel({"n": "a\n"}, {"source_labels": ["n"], "regex": "a", "action": "keep"}) is None


def test_missing_source_labels_join_as_empty_strings():
    rule = {"source_labels": ["a", "missing", "b"], "regex": "x;;y", "action": "keep"}
    assert relabel({"a": "x", "b": "y"}, rule) is not None


def test_go_expansion_names_and_empty_result_deletes():
    # `$1x` is the group named "1x", which does not exist: it expands to "".
    assert relabel({"a": "foo"}, {"source_labels": ["a"], "regex": "(f)oo", "target_label": "b",
                                  "replacement": "$1x"}) == {"a": "foo"}
    # an empty replacement deletes the target label; `$$` is a literal dollar
    assert relabel({"a": "foo", "b": "old"}, {"source_labels": ["a"], "target_label": "b",
                                              "replacement": ""}) == {"a": "foo"}
    assert relabel({"a": "foo"}, {"source_labels": ["a"], "target_label": "b",
                                  "replacement": "$$1"})["b"] == "$1"


def test_labelmap_labeldrop_keepequal():
    labels = {"__meta_kubernetes_pod_label_app": "api", "__meta_kubernetes_pod_label_tier": "web",
              "job": "x"}
    out = relabel(labels, {"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"})
    assert out["app"] == "api" and out["tier"] == "web"
    out = relabel(out, {"action": "labeldrop", "regex": "tier"})
    assert "tier" not in out
    assert relabel({"a": "1", "b": "1"}, {"source_labels": ["a"], "target_label": "b",
                                          "action": "keepequal"}) is not None
    assert relabel({"a": "1", "b": "2"}, {"source_labels": ["a"], "target_label": "b",
                                          "action": "keepequal"}) is None


def test_populate_seeds_job_drops_meta_and_defaults_instance():
    out = populate({"__address__": "10.0.0.1", "__meta_x": "y"}, {"job_name": "backend"}, [])
    assert out == {"__address__": "10.0.0.1:80", "instance": "10.0.0.1:80", "job": "backend",
                   "__metrics_path__": "/metrics", "__scheme__": "http",
                   "__scrape_interval__": "1m", "__scrape_timeout__": "10s"}


def test_invalid_configs_are_errors():
    with pytest.raises(RelabelError, match="requires 'target_label'"):
        parse_rules([{"source_labels": ["a"], "action": "replace"}])
    with pytest.raises(RelabelError, match="unknown relabel action"):
        parse_rules([{"action": "keepall"}])
    with pytest.raises(RelabelError, match="does not compile"):
        parse_rules([{"source_labels": ["a"], "regex": "(", "action": "keep"}])


# --- the lint check over the chart's renders --------------------------------------------

pytestmark_tools = pytest.mark.tools
K8S = "infra/monitoring/prometheus/prometheus.k8s.yml"


@pytestmark_tools
@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_job_keeps_targets_in_every_environment(env):
    result = run_check(f"chart/scrape-{env}")
    assert result.returncode == 0, output(result)
    assert "ServiceMonitors" in result.stdout


@pytestmark_tools
def test_the_old_annotation_selectors_keep_nothing(tmp_path):
    """The config before issue 10: kept zero targets of the chart (the defect)."""
    old = tmp_path / "prometheus.k8s.yml"
    old.write_text("""
scrape_configs:
  - job_name: kubernetes-pods
    kubernetes_sd_configs: [{role: pod}]
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        regex: "true"
        action: keep
  - job_name: edc-controlplane
    kubernetes_sd_configs: [{role: pod}]
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_name]
        regex: .*-controlplane
        action: keep
""")
    result = run_check("chart/scrape-staging", check_args=("--prometheus-config", str(old)))
    text = output(result)
    assert result.returncode == 1, text
    assert f"staging: {old}: scrape job kubernetes-pods keeps no target of the render" in text
    assert (f"staging: {old}: scrape job edc-controlplane keeps no target of the render, although "
            "component edc-controlplane is rendered") in text
    assert f"staging: {old}: contract job backend (component backend) is scraped by no job" in text


@pytestmark_tools
def test_a_job_whose_selector_matches_nothing_fails(tmp_path):
    config = tmp_path / "prometheus.k8s.yml"
    config.write_text((REPO / K8S).read_text().replace("regex: dpp-platform;backend;http",
                                                       "regex: dpp-platform;api;http"))
    result = run_check("chart/scrape-dev", check_args=("--prometheus-config", str(config)))
    text = output(result)
    assert result.returncode == 1, text
    assert (f"dev: {config}: scrape job backend keeps no target of the render, although component "
            "backend is rendered") in text


@pytestmark_tools
def test_a_servicemonitor_with_another_job_name_leaves_the_contract_job_unscraped():
    result = run_check("chart/scrape-dev", "--set", "backend.metrics.job=api")
    text = output(result)
    assert result.returncode == 1, text
    assert "dev: ServiceMonitors: contract job backend (component backend) is scraped by no job" in text


@pytestmark_tools
def test_a_servicemonitor_port_name_the_service_lacks_fails(tmp_path):
    chart = edited_chart(tmp_path, ("templates/monitoring/servicemonitor-backend.yaml", '"port" "http"',
                                    '"port" "web"'))
    result = run_check_on_chart("chart/scrape-dev", chart)
    text = output(result)
    assert result.returncode == 1, text
    assert ("dev: ServiceMonitor dpp-platform-backend: endpoints[0].port 'web' is not a port of Service "
            "dpp-platform-backend (ports: http)") in text
    assert "dev: ServiceMonitor dpp-platform-backend: endpoints[0] keeps no target" in text


def test_a_servicemonitor_selecting_no_service_fails():
    docs = load("""
apiVersion: v1
kind: Service
metadata: {name: api, labels: {app.kubernetes.io/component: backend}}
spec: {selector: {app: api}, ports: [{name: http, port: 80}]}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: api}
spec:
  selector: {matchLabels: {app.kubernetes.io/component: frontend}}
  endpoints: [{port: http}]
""")
    problems, _ = check(docs, {"scrape_configs": []}, {"jobs": {}}, [], "dpp", "p.yml")
    assert problems == ["ServiceMonitor api: its selector {'matchLabels': "
                        "{'app.kubernetes.io/component': 'frontend'}} matches no Service"]
