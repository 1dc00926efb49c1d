"""chart/scrape-<env> (checks/chart/scrape.py): every scrape job and ServiceMonitor keeps the
render's targets, every contract component is scraped.
"""

from __future__ import annotations

import subprocess

import pytest

from pipeline.checks.chart.scrape import check_render
from pipeline.checks.problem import Problem
from pipeline.model.kube import load
from tests.support.repo import REPO, native, output, plan_check, produced, run_check
from tests.support import warmchecks
from tests.support.monitoring import edited_chart, run_check_on_chart

pytestmark_tools = pytest.mark.tools
K8S = "infra/monitoring/prometheus/prometheus.k8s.yml"


@pytest.fixture(scope="session")
def scrape():
    """Run chart/scrape-<env> as the plan does (extra check arguments appended), over the
    session's one `helm template` of each environment (`produced`, shared with the other
    readers of that render)."""
    def run(env: str, *check_args: str) -> subprocess.CompletedProcess:
        check = plan_check(f"chart/scrape-{env}")
        made = produced(native(check.stdin_from.argv, check.stdin_from.tool))
        assert made.returncode == 0, made.stderr
        return warmchecks.run([*native(check.argv, check.tool), *check_args], REPO,
                              input=made.stdout, timeout=300)
    return run


@pytestmark_tools
@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_job_keeps_targets_in_every_environment(scrape, env):
    result = scrape(env)
    assert result.returncode == 0, output(result)
    assert "ServiceMonitors" in result.stdout


@pytestmark_tools
def test_the_old_annotation_selectors_keep_nothing(scrape, tmp_path):
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
    result = scrape("staging", "--prometheus-config", str(old))
    text = output(result)
    assert result.returncode == 1, text
    assert f"ERROR {old}: scrape job kubernetes-pods: keeps no target of the render" in text
    assert (f"{old}: scrape job edc-controlplane: keeps no target of the render, although "
            "component edc-controlplane is rendered") in text
    assert f"{old}: contract job backend (component backend) is scraped by no job" in text


@pytestmark_tools
def test_a_job_whose_selector_matches_nothing_fails(scrape, tmp_path):
    config = tmp_path / "prometheus.k8s.yml"
    config.write_text((REPO / K8S).read_text().replace("regex: dpp-platform;backend;http",
                                                       "regex: dpp-platform;api;http"))
    result = scrape("dev", "--prometheus-config", str(config))
    text = output(result)
    assert result.returncode == 1, text
    assert (f"{config}: scrape job backend: keeps no target of the render, although component "
            "backend is rendered") in text


@pytestmark_tools
def test_a_servicemonitor_with_another_job_name_leaves_the_contract_job_unscraped():
    result = run_check("chart/scrape-dev", "--set", "backend.metrics.job=api")
    text = output(result)
    assert result.returncode == 1, text
    assert "ERROR ServiceMonitors: contract job backend (component backend) is scraped by no job" in text


@pytestmark_tools
def test_a_servicemonitor_port_name_the_service_lacks_fails(tmp_path):
    chart = edited_chart(tmp_path, ("templates/monitoring/servicemonitor-backend.yaml", '"port" "http"',
                                    '"port" "web"'))
    result = run_check_on_chart("chart/scrape-dev", chart)
    text = output(result)
    assert result.returncode == 1, text
    assert ("ERROR infra/helm/dpp-platform/templates/monitoring/servicemonitor-backend.yaml: "
            "ServiceMonitor/dpp-platform-backend: spec.endpoints[0].port: 'web' is not a port of Service "
            "dpp-platform-backend (ports: http)") in text
    assert ("ServiceMonitor/dpp-platform-backend: spec.endpoints[0]: keeps no target "
            "[servicemonitor-targets]") in text


@pytestmark_tools
def test_a_cluster_file_that_is_not_yaml_fails_naming_it(scrape, tmp_path):
    broken = tmp_path / "cluster-objects.yaml"
    broken.write_text("kind: [\n")
    result = scrape("dev", "--cluster", str(broken))
    text = output(result)
    assert result.returncode == 1, text
    assert f"ERROR {broken}: not valid YAML" in text
    assert "scrape: FAILED - 1 problem(s)" in text


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
    problems, _ = check_render(docs, {"scrape_configs": []}, {"jobs": {}}, [], "dpp", "p.yml")
    assert problems == [Problem("", "{'matchLabels': {'app.kubernetes.io/component': 'frontend'}} "
                                    "matches no Service", resource="ServiceMonitor/api",
                                field="spec.selector", rule="servicemonitor-targets")]
