"""The pure-Python monitoring and compose checks, run from the plan on a repo copy.

Each bad-input test breaks one thing in a copy of the real files and asserts
that the plan's check fails, naming the file and the problem.
"""

from __future__ import annotations

import json

import pytest

from pipeline.executors import FAILED, PASSED
from tests.monitoring.helpers import ALERTMANAGER, CONTRACT, DASHBOARDS, PROMETHEUS, RULES, edit, run


@pytest.mark.parametrize("check_id", [
    "monitoring/rules-coverage", "monitoring/dashboards", "monitoring/metrics-contract",
    "monitoring/alertmanager-secrets", "compose/docker-compose-prod",
])
def test_the_real_files_pass(root, check_id):
    status, output = run(root, check_id)
    assert status == PASSED, output
    assert ": OK" in output


def test_the_real_counts(root):
    _, output = run(root, "monitoring/rules-coverage")
    assert "18 alerts in 5 rule files" in output
    _, output = run(root, "monitoring/dashboards")
    assert "4 dashboards" in output


# One edit in one file; the check must fail with each expected text in its output.
# (case, check, file, old, new, expected)
EDITS = [
    # rules
    ("alert-without-severity", "monitoring/rules-coverage", f"{RULES}/edc.yml",
     "          severity: critical\n", "          team: edc\n",
     [f"{RULES}/edc.yml: group 'dpp-edc-agent', alert EdcControlPlaneDown: no `severity` label"]),
    ("alert-without-runbook-url", "monitoring/rules-coverage", f"{RULES}/audit.yml",
     "          runbook_url: https://runbooks.dpp-platform.example/monitoring/"
     "AuditHashChainVerificationFailed\n", "",
     [f"{RULES}/audit.yml: group 'dpp-audit', alert AuditHashChainVerificationFailed: no `runbook_url`"]),
    ("alert-tested-only-firing", "monitoring/rules-coverage", f"{RULES}/tests/audit_test.yml",
     "      - eval_time: 2m\n        alertname: AuditHashChainVerificationFailed\n"
     "        exp_alerts: []\n", "",
     [f"{RULES}/audit.yml: alert AuditHashChainVerificationFailed: no promtool test case where it must "
      "not fire"]),
    # a quiet case over input series the alert does not read proves nothing
    ("quiet-case-without-the-alerts-series", "monitoring/rules-coverage",
     f"{RULES}/tests/audit_test.yml",
     "      - series: 'dpp_audit_hash_chain_valid{job=\"backend\",instance=\"backend:8000\"}'",
     "      - series: 'dpp_audit_events_total{job=\"backend\",instance=\"backend:8000\"}'",
     [f"{RULES}/audit.yml: alert AuditHashChainVerificationFailed: no promtool test case where it must "
      "not fire (alert_rule_test with empty exp_alerts, in a test whose input_series hold one of "
      "dpp_audit_hash_chain_valid)"]),
    ("test-loading-a-missing-rule-file", "monitoring/rules-coverage", f"{RULES}/tests/audit_test.yml",
     "  - ../audit.yml", "  - audit.yml",
     [f"{RULES}/tests/audit_test.yml: rule_files entry 'audit.yml' resolves to {RULES}/tests/audit.yml, "
      "which does not exist"]),
    # metrics contract
    ("rule-on-a-metric-outside-the-contract", "monitoring/metrics-contract", f"{RULES}/platform.yml",
     "instance:dpp_db_pool_utilisation:ratio > 0.9", "dpp_db_pool_saturation_ratio > 0.9",
     [f"{RULES}/platform.yml: group 'dpp-platform', alert DBConnectionPoolExhaustion: metric "
      f"dpp_db_pool_saturation_ratio is not in {CONTRACT}"]),
    ("default-instrumentator-buckets", "monitoring/metrics-contract", CONTRACT,
     "buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10]", "buckets: [0.1, 0.5, 1]",
     [f"{RULES}/platform.yml: alert HighLatency: threshold 2 is not below the highest finite bucket 1 "
      "of http_request_duration_seconds"]),
    ("contract-job-not-scraped", "monitoring/metrics-contract", PROMETHEUS,
     '"edc-exporter:9560"', '"edc-exporter:9561"',
     [f"{PROMETHEUS}: job edc-exporter: targets ['edc-exporter:9561'] lack ['edc-exporter:9560']"]),
    # a contract metric no software produces (the dpp-edc-exporter defect)
    ("contract-metric-with-no-producer", "monitoring/metrics-contract",
     "infra/monitoring/query-exporter/config.yaml",
     "    metrics: [edc_assets]\n", "    metrics: []\n",
     [f"{CONTRACT}: metric edc_assets (job edc-exporter) has no producer: no query of "
      "infra/monitoring/query-exporter/config.yaml updates a metric of that name"]),
    ("contract-labels-differ-from-the-producer", "monitoring/metrics-contract", CONTRACT,
     "labels: {database: edc, state: COMPLETED}", "labels: {database: edc, state: COMPLETED, type: CONSUMER}",
     [f"{CONTRACT}: metric edc_transfer_processes (job edc-exporter): labels ['database', 'state', "
      "'type'], but infra/monitoring/query-exporter/config.yaml produces ['database', 'state']"]),
    # dashboards
    ("dashboard-outside-every-provider", "monitoring/dashboards", f"{DASHBOARDS}/dashboards.yaml",
     "path: /etc/grafana/provisioning/dashboards", "path: /var/lib/grafana/dashboards",
     [f"{DASHBOARDS}/dashboards.yaml: provider 'dpp-platform': options.path "
      "'/var/lib/grafana/dashboards' is not under /etc/grafana/provisioning",
      f"{DASHBOARDS}/audit-trail.json: no file provider in"]),
    ("overlapping-panels", "monitoring/dashboards", f"{DASHBOARDS}/audit-trail.json",
     '"x": 8,', '"x": 4,',
     [f"{DASHBOARDS}/audit-trail.json: panel 2 'Since last verification': gridPos "
      "{'x': 4, 'y': 0, 'w': 8, 'h': 4} overlaps panel 1 'Hash chain valid'"]),
    # alertmanager
    ("inline-webhook-url", "monitoring/alertmanager-secrets", ALERTMANAGER,
     "url_file: /etc/alertmanager/secrets/webhook-url", "url: https://hooks.example/T0/secret",
     [f"{ALERTMANAGER}: receiver 'webhook', webhook_configs[0]: url is written inline; use url_file"]),
    ("inline-basic-auth-password", "monitoring/alertmanager-secrets", ALERTMANAGER,
     "        send_resolved: false\n",
     "        send_resolved: false\n        http_config:\n          basic_auth: {username: a, password: b}\n",
     [f"{ALERTMANAGER}: receiver 'deadmansswitch', webhook_configs[0]: http_config.basic_auth.password "
      "is written inline; use password_file"]),
    ("relative-secret-file", "monitoring/alertmanager-secrets", ALERTMANAGER,
     "api_url_file: /etc/alertmanager/secrets/slack-api-url", "api_url_file: secrets/slack-api-url",
     [f"{ALERTMANAGER}: receiver 'warning', slack_configs[0]: api_url_file: secrets/slack-api-url must "
      "be an absolute path"]),
    ("no-critical-inhibits-warning", "monitoring/alertmanager-secrets", ALERTMANAGER,
     "    equal: [alertname, namespace]", "    equal: [namespace]",
     [f"{ALERTMANAGER}: inhibit_rules: no rule lets a critical alert inhibit the warning of the same "
      "alert"]),
    # compose
    ("rule-file-outside-the-container", "compose/docker-compose-prod", PROMETHEUS,
     "  - ../alertmanager/rules/edc.yml", "  - rules/edc.yml",
     [f"{PROMETHEUS}: rule_files entry 'rules/edc.yml' is /etc/prometheus/rules/edc.yml in the "
      "prometheus container"]),
    ("relative-secret-file-in-compose", "compose/docker-compose-prod", ALERTMANAGER,
     "url_file: /etc/alertmanager/secrets/webhook-url", "url_file: secrets/webhook-url",
     [f"{ALERTMANAGER}: url_file: secrets/webhook-url must be an absolute path"]),
    ("scrape-target-no-service", "compose/docker-compose-prod", PROMETHEUS,
     '"backend:8000"', '"api:8000"',
     [f"{PROMETHEUS}: job backend: target api:8000 is not a service of docker-compose.prod.yml"]),
]


@pytest.mark.parametrize(("check_id", "path", "old", "new", "expected"),
                         [case[1:] for case in EDITS], ids=[case[0] for case in EDITS])
def test_one_bad_edit_fails_its_check(root, check_id, path, old, new, expected):
    edit(root / path, old, new)
    status, output = run(root, check_id)
    assert status == FAILED, output
    for line in expected:
        assert line in output, output


# --- rules ---------------------------------------------------------------------------

def test_an_alert_with_no_promtool_test_fails(root):
    rules = root / RULES / "platform.yml"
    rules.write_text(rules.read_text() + """
  - name: dpp-extra
    rules:
      - alert: UntestedAlert
        expr: up == 0
        labels:
          severity: warning
        annotations:
          summary: Untested.
          description: Untested.
          runbook_url: https://runbooks.dpp-platform.example/monitoring/UntestedAlert
""")
    status, output = run(root, "monitoring/rules-coverage")
    assert status == FAILED
    assert (f"{RULES}/platform.yml: alert UntestedAlert (severity warning): no promtool test case "
            "where it fires") in output
    assert f"{RULES}/platform.yml: alert UntestedAlert: no promtool test case where it must not fire" \
        in output


def test_a_rule_file_no_test_loads_fails(root):
    (root / RULES / "tests" / "edc_test.yml").unlink()
    status, output = run(root, "monitoring/rules-coverage")
    assert status == FAILED
    assert f"{RULES}/edc.yml: no promtool test file loads this rule file" in output


# --- metrics contract ----------------------------------------------------------------

def test_a_panel_on_a_metric_outside_the_contract_fails(root):
    edit(root / DASHBOARDS / "edc-connector.json", "sum(edc_assets{", "sum(edc_asset_count{")
    status, output = run(root, "monitoring/metrics-contract")
    assert status == FAILED
    assert (f"{DASHBOARDS}/edc-connector.json: panel 4 'Assets', target A: metric edc_asset_count "
            f"is not in {CONTRACT}") in output
    # ... and the contract metric it replaced is now unused
    assert f"{CONTRACT}: metric edc_assets (job edc-exporter) is used by no rule and no dashboard" \
        in output


# --- dashboards ----------------------------------------------------------------------

def _dashboard(root, name):
    path = root / DASHBOARDS / name
    return path, json.loads(path.read_text())


def test_a_duplicate_dashboard_uid_fails(root):
    path, board = _dashboard(root, "audit-trail.json")
    board["uid"] = "dpp-platform-overview"
    path.write_text(json.dumps(board))
    status, output = run(root, "monitoring/dashboards")
    assert status == FAILED
    assert (f"duplicate dashboard uid 'dpp-platform-overview' (also in {DASHBOARDS}/") in output
    assert f"{DASHBOARDS}/" in output and ".json: duplicate dashboard uid" in output


def test_a_panel_without_unit_or_datasource_variable_fails(root):
    path, board = _dashboard(root, "backend-performance.json")
    del board["panels"][0]["fieldConfig"]["defaults"]["unit"]
    board["panels"][1]["datasource"] = {"type": "prometheus", "uid": "prometheus"}
    path.write_text(json.dumps(board))
    status, output = run(root, "monitoring/dashboards")
    assert status == FAILED
    assert f"{DASHBOARDS}/backend-performance.json: panel 1 'p95 latency': no unit" in output
    assert (f"{DASHBOARDS}/backend-performance.json: panel 2 'Latency by handler (p50 / p99)': "
            "datasource must be") in output


def test_a_fixed_rate_window_and_a_wide_panel_fail(root):
    path, board = _dashboard(root, "audit-trail.json")
    board["panels"][3]["targets"][0]["expr"] = "sum(rate(dpp_audit_events_total[5m]))"
    board["panels"][4]["gridPos"]["w"] = 25
    path.write_text(json.dumps(board))
    status, output = run(root, "monitoring/dashboards")
    assert status == FAILED
    assert "panel 4 'Audit events by type', target A: range [5m] in a rate/irate/increase query" in output
    assert "panel 5 'Merkle root publications': gridPos" in output


def test_an_old_schema_and_missing_datasource_variable_fail(root):
    path, board = _dashboard(root, "edc-connector.json")
    board["schemaVersion"] = 27
    board["templating"]["list"] = []
    path.write_text(json.dumps(board))
    status, output = run(root, "monitoring/dashboards")
    assert status == FAILED
    assert f"{DASHBOARDS}/edc-connector.json: schemaVersion 27, expected 39" in output
    assert f"{DASHBOARDS}/edc-connector.json: templating needs exactly one datasource variable" in output


def test_a_panel_query_ignoring_the_namespace_variable_fails(root):
    """One Prometheus serves every environment: a panel without the variable adds them up."""
    path, board = _dashboard(root, "edc-connector.json")
    board["panels"][3]["targets"][0]["expr"] = "sum(edc_assets)"
    board["panels"][4]["targets"][0]["expr"] = 'sum by (state) (edc_contract_negotiations{namespace!~"$namespace"})'
    path.write_text(json.dumps(board))
    status, output = run(root, "monitoring/dashboards")
    assert status == FAILED
    assert (f"{DASHBOARDS}/edc-connector.json: panel 4 'Assets', target A: selector edc_assets ignores "
            'the namespace variable (add namespace=~"$namespace")') in output
    assert ("panel 5 'Negotiations by state', target A: selector "
            'edc_contract_negotiations{namespace!~"$namespace"} ignores the namespace variable') in output


def test_a_dashboard_without_the_namespace_variable_fails(root):
    path, board = _dashboard(root, "audit-trail.json")
    board["templating"]["list"] = [v for v in board["templating"]["list"] if v["name"] != "namespace"]
    path.write_text(json.dumps(board))
    status, output = run(root, "monitoring/dashboards")
    assert status == FAILED
    assert (f"{DASHBOARDS}/audit-trail.json: templating needs one query variable named `namespace`"
            in output)


# --- compose -------------------------------------------------------------------------

def test_a_mounted_file_that_does_not_exist_fails(root):
    (root / "infra/monitoring/alertmanager/alertmanager.yml").rename(
        root / "infra/monitoring/alertmanager/am.yml")
    status, output = run(root, "compose/docker-compose-prod")
    assert status == FAILED
    assert ("docker-compose.prod.yml: service alertmanager: mounts "
            "./infra/monitoring/alertmanager/alertmanager.yml at /etc/alertmanager/alertmanager.yml, "
            "which does not exist in the repo") in output


def test_wrong_images_ports_and_password_fail(root):
    compose = root / "docker-compose.prod.yml"
    edit(compose, "image: grafana/grafana:10.4.0", "image: grafana/grafana:latest")
    edit(compose, 'ports: ["${ALERTMANAGER_BIND:-127.0.0.1}:9093:9093"]', 'ports: ["9093:9093"]')
    edit(compose, "      - --storage.path=/alertmanager\n", "      - --storage.path=/alertmanager\n")
    edit(compose, "      - --storage.tsdb.path=/prometheus\n",
         "      - --storage.tsdb.path=/prometheus\n      - --web.enable-lifecycle\n")
    edit(compose, "${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD}", "admin")
    status, output = run(root, "compose/docker-compose-prod")
    assert status == FAILED
    assert "service grafana: image 'grafana/grafana:latest' must be pinned" in output
    assert ("service alertmanager: must publish 127.0.0.1:9093:9093 (by default; found 9093:9093)"
            in output)
    assert "service prometheus: --web.enable-lifecycle opens an unauthenticated write API" in output
    assert "GF_SECURITY_ADMIN_PASSWORD must come from ${GRAFANA_ADMIN_PASSWORD}" in output


