"""The monitoring checks that run promtool, amtool and pint, on repo copies.

Needs the native toolchain (scripts/bootstrap). Each bad-input test breaks one
thing and asserts that the plan's check fails with the tool's own message
naming the file and the problem.
"""

from __future__ import annotations

import json

import anyio
import pytest

from pipeline.executors import FAILED, PASSED, native
from pipeline.executors.cache import ResultCache
from tests.support.repo import run_pipeline
from tests.support.monitoring import ALERTMANAGER, CONTRACT, DASHBOARDS, RULES, edit, plan_check, run

pytestmark = pytest.mark.tools


def test_every_monitoring_and_compose_check_passes_on_the_real_files(root):
    done = run_pipeline("lint", "--source", str(root), "--only", "monitoring", "--only", "compose")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checks passed" in done.stdout


def test_the_plan_has_a_promtool_test_per_rule_file(root):
    for name in ("platform", "edc", "audit", "recording"):
        check = plan_check(root, f"monitoring/promtool-test-{name}")
        assert check.argv == ("promtool", "test", "rules", f"{RULES}/tests/{name}_test.yml")
        assert f"{RULES}/{name}.yml" in check.reads


def _panel_expr(root, name, expr):
    path = root / DASHBOARDS / name
    board = json.loads(path.read_text())
    board["panels"][0]["targets"][0]["expr"] = expr
    path.write_text(json.dumps(board))


def _dashboard_uid(root, name, uid):
    path = root / DASHBOARDS / name
    board = json.loads(path.read_text())
    board["uid"] = uid
    path.write_text(json.dumps(board))


# The bad inputs issue 4 names. Each makes `lint` fail, in the named check, with one
# output line naming the file and the problem. `lint` runs that check only: any failing
# check fails the whole run (tests/pipeline/test_native_lint.py), and the other checks'
# outcomes on the bad input are asserted nowhere here.
BAD_INPUTS = {
    "broken-promql-in-a-rule": (
        lambda root: edit(root / RULES / "platform.yml", "job:http_requests_5xx:ratio_rate5m > 0.05",
                          "job:http_requests_5xx:ratio_rate5m > > 0.05"),
        "monitoring/promtool-rules-platform",
        (f"{RULES}/platform.yml:", '"HighErrorRate": could not parse expression')),
    "broken-promql-in-a-panel": (
        lambda root: _panel_expr(root, "backend-performance.json",
                                 "sum(rate(http_requests_total[$__rate_interval])"),
        "monitoring/dashboards-promql",
        (f"{DASHBOARDS}/backend-performance.json panel 1 'p95 latency' target A",
         "could not parse expression")),
    "alert-without-severity": (
        lambda root: edit(root / RULES / "edc.yml", "          severity: critical\n", "          team: edc\n"),
        "monitoring/rules-coverage",
        (f"{RULES}/edc.yml: group 'dpp-edc-agent', alert EdcControlPlaneDown: no `severity` label",)),
    "rule-on-a-metric-outside-the-contract": (
        lambda root: edit(root / RULES / "platform.yml", "instance:dpp_db_pool_utilisation:ratio > 0.9",
                          "dpp_db_pool_saturation_ratio > 0.9"),
        "monitoring/metrics-contract",
        (f"{RULES}/platform.yml: group 'dpp-platform', alert DBConnectionPoolExhaustion: metric "
         f"dpp_db_pool_saturation_ratio is not in {CONTRACT}",)),
    "duplicate-dashboard-uid": (
        lambda root: _dashboard_uid(root, "audit-trail.json", "dpp-platform-overview"),
        "monitoring/dashboards",
        ("dashboards/", ".json: duplicate dashboard uid 'dpp-platform-overview' (also in "
         f"{DASHBOARDS}/")),
    "route-to-a-missing-receiver": (
        lambda root: edit(root / ALERTMANAGER, "    - receiver: critical\n", "    - receiver: pager\n"),
        "monitoring/amtool-config",
        (ALERTMANAGER, 'FAILED: undefined receiver "pager" used in route')),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_lint_fails_on_each_bad_input_of_the_issue(root, case):
    break_it, check_id, fragments = BAD_INPUTS[case]
    break_it(root)
    done = run_pipeline("lint", "--source", str(root), "--only", check_id)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert f"FAILED {check_id}" in output
    assert any(all(f in line for f in fragments) for line in output.splitlines()), \
        f"no line with {fragments} in:\n{output}"


def test_an_alert_without_severity_fails_pint(root):
    edit(root / RULES / "edc.yml", "          severity: critical\n", "          team: edc\n")
    status, output = run(root, "monitoring/pint")
    assert status == FAILED
    assert f"{RULES}/edc.yml" in output and "EdcControlPlaneDown" in output
    assert "`severity` label is required" in output


def test_a_wrong_severity_value_fails_pint(root):
    edit(root / RULES / "audit.yml", "severity: critical", "severity: page")
    status, output = run(root, "monitoring/pint")
    assert status == FAILED
    assert f"{RULES}/audit.yml" in output and "severity" in output


def test_a_broken_rule_fails_the_prometheus_configs_loading_it(root):
    edit(root / RULES / "platform.yml", "job:http_requests_5xx:ratio_rate5m > 0.05",
         "job:http_requests_5xx:ratio_rate5m > > 0.05")
    for config in ("prometheus", "prometheus-k8s"):
        status, output = run(root, f"monitoring/promtool-config-{config}")
        assert status == FAILED and f"{RULES}/platform.yml" in output


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
    """Through the session's result cache, as `lint` runs them: a stored result is a pass of
    the same tool pin, argv and file contents (the real files, unchanged here), usually from
    test_every_monitoring_and_compose_check_passes_on_the_real_files."""
    checks = [plan_check(root, check_id) for check_id in (
        "monitoring/pint", "monitoring/amtool-config", "monitoring/dashboards-promql",
        "monitoring/promtool-test-platform")]
    results = anyio.run(lambda: native.run_locally(checks, root, 2, cache=ResultCache(root)))
    assert len(results) == len(checks)
    for result in results:
        assert result.status == PASSED, f"{result.check.id}: {result.output}"
