"""The monitoring checks that run promtool, amtool and pint, on repo copies.

Needs the native toolchain (scripts/bootstrap). Each bad-input test breaks one
thing and asserts that the plan's check fails with the tool's own message
naming the file and the problem.
"""

from __future__ import annotations

import json

import pytest

from pipeline.executors import FAILED, PASSED
from tests.conftest import run_pipeline
from tests.monitoring.helpers import edit, monitoring_repo, plan_check, run

pytestmark = pytest.mark.tools

RULES = "infra/monitoring/alertmanager/rules"
DASHBOARDS = "infra/monitoring/grafana/dashboards"
ALERTMANAGER = "infra/monitoring/alertmanager/alertmanager.yml"


@pytest.fixture
def root(tmp_path):
    return monitoring_repo(tmp_path)


def test_every_monitoring_and_compose_check_passes_on_the_real_files(root):
    done = run_pipeline("lint", "--source", str(root), "--only", "monitoring", "--only", "compose")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checks passed" in done.stdout


def test_the_plan_has_a_promtool_test_per_rule_file(root):
    for name in ("platform", "edc", "audit", "recording"):
        check = plan_check(root, f"monitoring/promtool-test-{name}")
        assert check.argv == ("promtool", "test", "rules", f"{RULES}/tests/{name}_test.yml")
        assert f"{RULES}/{name}.yml" in check.reads


def test_broken_promql_in_a_rule_fails(root):
    edit(root / RULES / "platform.yml", "job:http_requests_5xx:ratio_rate5m > 0.05",
         "job:http_requests_5xx:ratio_rate5m > > 0.05")
    status, output = run(root, "monitoring/promtool-rules-platform")
    assert status == FAILED
    assert f"{RULES}/platform.yml" in output
    assert "HighErrorRate" in output and "could not parse expression" in output
    # the compose config loads the same file, so its check fails too
    status, output = run(root, "monitoring/promtool-config-prometheus")
    assert status == FAILED and "platform.yml" in output


def test_broken_promql_in_a_panel_fails(root):
    path = root / DASHBOARDS / "backend-performance.json"
    board = json.loads(path.read_text())
    board["panels"][0]["targets"][0]["expr"] = "sum(rate(http_requests_total[$__rate_interval])"
    path.write_text(json.dumps(board))
    status, output = run(root, "monitoring/dashboards-promql")
    assert status == FAILED
    assert f"{DASHBOARDS}/backend-performance.json panel 1 'p95 latency' target A" in output
    assert "could not parse expression" in output


def test_an_alert_without_severity_fails_pint(root):
    edit(root / RULES / "edc.yml", "          severity: critical\n", "          team: edc\n")
    status, output = run(root, "monitoring/pint")
    assert status == FAILED
    assert f"{RULES}/edc.yml" in output and "EdcControlPlaneUnhealthy" in output
    assert "`severity` label is required" in output


def test_a_wrong_severity_value_fails_pint(root):
    edit(root / RULES / "audit.yml", "severity: critical", "severity: page")
    status, output = run(root, "monitoring/pint")
    assert status == FAILED
    assert f"{RULES}/audit.yml" in output and "severity" in output


def test_a_route_to_a_missing_receiver_fails(root):
    edit(root / ALERTMANAGER, "    - receiver: critical\n", "    - receiver: pager\n")
    status, output = run(root, "monitoring/amtool-config")
    assert status == FAILED
    assert ALERTMANAGER in output
    assert 'undefined receiver "pager"' in output


def test_a_misrouted_severity_fails_its_route_test(root):
    edit(root / ALERTMANAGER, """    - receiver: critical
      matchers: ['severity = "critical"']""", """    - receiver: warning
      matchers: ['severity = "critical"']""")
    status, output = run(root, "monitoring/amtool-route-critical")
    assert status == FAILED
    assert "webhook,warning" in output


def test_an_alert_whose_threshold_changed_fails_its_promtool_test(root):
    edit(root / RULES / "platform.yml", "job:http_requests_5xx:ratio_rate5m > 0.05",
         "job:http_requests_5xx:ratio_rate5m > 0.15")
    status, output = run(root, "monitoring/promtool-test-platform")
    assert status == FAILED
    assert "HighErrorRate" in output


def test_a_missing_rule_file_fails_the_prometheus_config_check(root):
    (root / RULES / "audit.yml").unlink()
    status, output = run(root, "monitoring/promtool-config-prometheus-k8s")
    assert status == FAILED
    assert "audit.yml" in output


def test_a_template_error_in_an_annotation_fails(root):
    edit(root / RULES / "audit.yml", "{{ $labels.job }} found", "{{ $labels.job found")
    status, output = run(root, "monitoring/promtool-rules-audit")
    assert status == FAILED
    assert f"{RULES}/audit.yml" in output


def test_the_real_files_pass_each_tool_check(root):
    for check_id in ("monitoring/pint", "monitoring/amtool-config", "monitoring/dashboards-promql",
                     "monitoring/promtool-test-platform"):
        status, output = run(root, check_id)
        assert status == PASSED, f"{check_id}: {output}"
