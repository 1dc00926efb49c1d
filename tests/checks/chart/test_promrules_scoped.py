"""One Prometheus, three environments: an outage in one is not masked by another.

The chart is rendered for staging and prod into their own namespaces (as the
ApplicationSet installs them), the rendered PrometheusRules are loaded together into
promtool, and staging loses its EDC control plane while prod's is healthy. The rendered
(namespace-scoped) rules fire for staging; the same rules unscoped (infra/monitoring as
written) stay silent, which is the masking the scoping removes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline.model import kube
from pipeline.plan.chart import template
from tests.support.repo import REPO, binary, native, output
from tests.support.monitoring import edited_chart, run_check_on_chart

pytestmark = pytest.mark.tools

STAGING, PROD = "dpp-platform-staging", "dpp-platform-prod"
RULES = REPO / "infra/monitoring/alertmanager/rules"


def rendered_rules(env: str, namespace: str, *helm_args: str) -> dict:
    argv = native(template(env, "1.37.0", True).argv, "helm")
    argv[argv.index("--namespace") + 1] = namespace
    made = subprocess.run([*argv, *helm_args], cwd=REPO, capture_output=True, text=True, check=True)
    rules = kube.of_kind(kube.load(made.stdout), "PrometheusRule")  # libyaml: ten times faster
    assert len(rules) == 1, made.stdout[-2000:]
    return {"groups": rules[0]["spec"]["groups"]}


@pytest.fixture(scope="session")
def rules_of_env():
    """rendered_rules(env, namespace) once per session: several tests read the same render."""
    renders: dict[tuple[str, str], dict] = {}

    def get(env: str, namespace: str) -> dict:
        if (env, namespace) not in renders:
            renders[env, namespace] = rendered_rules(env, namespace)
        return renders[env, namespace]
    return get


def series(name: str, namespace: str, values: str, **labels: str) -> dict:
    pairs = ",".join(f'{k}="{v}"' for k, v in {**labels, "namespace": namespace}.items())
    return {"series": f"{name}{{{pairs}}}", "values": values}


def healthy_control_plane(namespace: str) -> list[dict]:
    deployment = {"job": "kube-state-metrics", "deployment": "dpp-platform-edc-controlplane"}
    return [series("up", namespace, "1x20", job="edc-controlplane", instance="10.244.0.7:9090"),
            series("kube_deployment_spec_replicas", namespace, "2x20", **deployment),
            series("kube_deployment_status_replicas_available", namespace, "2x20", **deployment)]


def promtool_test(tmp_path: Path, rule_files: list[str], cases: list[dict]) -> subprocess.CompletedProcess:
    inputs = [*healthy_control_plane(PROD),
              # staging still has its backend, but its control plane is gone
              series("up", STAGING, "1x20", job="backend", instance="10.244.1.3:8000")]
    test = {"rule_files": rule_files, "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": inputs, "alert_rule_test": cases}]}
    path = tmp_path / "isolation_test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    return subprocess.run([binary("promtool"), "test", "rules", str(path)], capture_output=True,
                          text=True, timeout=120)


def test_staging_losing_its_control_plane_is_not_masked_by_prod(tmp_path, rules_of_env):
    for env, namespace in (("staging", STAGING), ("prod", PROD)):
        (tmp_path / f"{env}.yml").write_text(yaml.safe_dump(rules_of_env(env, namespace), sort_keys=False))
    down = [{"exp_labels": {"job": "edc-controlplane", "namespace": STAGING, "severity": "critical"},
             "exp_annotations": {
                 "summary": "The EDC control plane has been unreachable or crash-looping for 5 minutes.",
                 "description": "Prometheus has had no edc-controlplane target for 5 minutes; contract "
                                "negotiations and transfers are stalled.",
                 "runbook_url": "https://runbooks.dpp-platform.example/monitoring/EdcControlPlaneDown"}}]
    unhealthy = [{"exp_labels": {"namespace": STAGING, "severity": "critical"},
                  "exp_annotations": {
                      "summary": "The EDC control plane has fewer ready replicas than it wants.",
                      "description": "kube-state-metrics reports no EDC control plane Deployment for 5 "
                                     "minutes; contract negotiations and transfers are stalled.",
                      "runbook_url": "https://runbooks.dpp-platform.example/monitoring/"
                                     "EdcControlPlaneUnhealthy"}}]
    done = promtool_test(tmp_path, ["staging.yml", "prod.yml"], [
        {"eval_time": "10m", "alertname": "EdcControlPlaneDown", "exp_alerts": down},
        {"eval_time": "10m", "alertname": "EdcControlPlaneUnhealthy", "exp_alerts": unhealthy},
    ])
    assert done.returncode == 0, done.stdout + done.stderr


def test_unscoped_rules_would_mask_the_outage(tmp_path):
    """The defect the scoping fixes: cluster-wide absent() sees prod's control plane."""
    done = promtool_test(tmp_path, [str(RULES / "edc.yml"), str(RULES / "kubernetes.yml")], [
        {"eval_time": "10m", "alertname": "EdcControlPlaneDown", "exp_alerts": []},
        {"eval_time": "10m", "alertname": "EdcControlPlaneUnhealthy", "exp_alerts": []},
    ])
    assert done.returncode == 0, done.stdout + done.stderr


def test_edc_rules_only_with_the_edc(rules_of_env):
    groups = [g["name"] for g in rules_of_env("dev", "dpp-platform-dev")["groups"]]
    assert not [g for g in groups if g.startswith("dpp-edc")], groups
    assert "dpp-meta" not in groups
    groups = [g["name"] for g in rules_of_env("staging", STAGING)["groups"]]
    assert {"dpp-edc-agent", "dpp-edc-exporter", "dpp-edc-kubernetes"} <= set(groups) and "dpp-meta" not in groups


def test_an_edc_rule_without_namespace_scoping_fails_lint(tmp_path):
    """A chart copy edited by hand (or a transform that missed a selector) fails the render check."""
    chart = edited_chart(tmp_path, (
        "files/rules/edc.yml", 'edc_transfer_processes{namespace="__RELEASE_NAMESPACE__", state="TERMINATED"}',
        'edc_transfer_processes{state="TERMINATED"}'))
    result = run_check_on_chart("chart/prometheusrule-staging", chart)
    text = output(result)
    assert result.returncode == 1, text
    assert ("ERROR infra/helm/dpp-platform/templates/monitoring/prometheusrule.yaml: "
            "PrometheusRule/dpp-platform: group 'dpp-edc-exporter', alert EdcTransferProcessFailures: "
            'selector edc_transfer_processes{state="TERMINATED"} is not scoped to the release namespace '
            '(namespace="dpp-platform")') in text


def test_edc_groups_follow_what_they_need():
    """No absent() over a target nobody deploys: agent rules need its metrics, exporter rules it."""
    groups = [g["name"] for g in rendered_rules("staging", STAGING, "--set", "edc.exporter.enabled=false",
                                                "--set", "edc.metrics.enabled=false")["groups"]]
    assert "dpp-edc-agent" not in groups and "dpp-edc-exporter" not in groups
    assert "dpp-edc-kubernetes" in groups


def test_an_absent_guard_over_an_unscraped_job_fails_lint(tmp_path):
    """A template that kept the agent rules without the agent: absent(up) would fire forever."""
    chart = edited_chart(
        tmp_path,
        ("templates/monitoring/prometheusrule.yaml",
         "{{- else if and (hasKey $needs $group.name) (not (index $needs $group.name)) }}", "{{- else if false }}"),
        ("values-staging.yaml", "edc:\n  enabled: true\n", "edc:\n  enabled: true\n  metrics:\n    enabled: false\n"))
    result = run_check_on_chart("chart/prometheusrule-staging", chart)
    text = output(result)
    assert result.returncode == 1, text
    assert ("PrometheusRule/dpp-platform: group 'dpp-edc-agent', alert EdcControlPlaneDown: "
            'absent(up{job="edc-controlplane"}) guards a job no rendered ServiceMonitor scrapes') in text
