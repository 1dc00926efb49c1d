"""monitoring/rules-coverage (checks/monitoring/rules.py): rule conventions and promtool test coverage.

Each bad-input test breaks one thing in a copy of the real files and asserts
that the plan's check fails, naming the file and the problem.
"""

from __future__ import annotations

from pipeline.executors import FAILED
from tests.support.monitoring import RULES, edit_cases, fails_after_edit, passes, run

CHECK = "monitoring/rules-coverage"


def test_the_real_files_pass(root):
    assert "18 alerts in 5 rule files" in passes(root, CHECK)


# One edit in one file: the check fails with each expected line in its output.
# (case, file, old, new, expected)
EDITS = [
    ("alert-without-severity", f"{RULES}/edc.yml",
     "          severity: critical\n", "          team: edc\n",
     [f"{RULES}/edc.yml: group 'dpp-edc-agent', alert EdcControlPlaneDown: no `severity` label"]),
    ("alert-without-runbook-url", f"{RULES}/audit.yml",
     "          runbook_url: https://runbooks.dpp-platform.example/monitoring/"
     "AuditHashChainVerificationFailed\n", "",
     [f"{RULES}/audit.yml: group 'dpp-audit', alert AuditHashChainVerificationFailed: no `runbook_url`"]),
    ("alert-tested-only-firing", f"{RULES}/tests/audit_test.yml",
     "      - eval_time: 2m\n        alertname: AuditHashChainVerificationFailed\n"
     "        exp_alerts: []\n", "",
     [f"{RULES}/audit.yml: alert AuditHashChainVerificationFailed: no promtool test case where it must "
      "not fire"]),
    # a quiet case over input series the alert does not read proves nothing
    ("quiet-case-without-the-alerts-series",
     f"{RULES}/tests/audit_test.yml",
     "      - series: 'dpp_audit_hash_chain_valid{job=\"backend\",instance=\"backend:8000\"}'",
     "      - series: 'dpp_audit_events_total{job=\"backend\",instance=\"backend:8000\"}'",
     [f"{RULES}/audit.yml: alert AuditHashChainVerificationFailed: no promtool test case where it must "
      "not fire (alert_rule_test with empty exp_alerts, in a test whose input_series hold one of "
      "dpp_audit_hash_chain_valid)"]),
    ("test-loading-a-missing-rule-file", f"{RULES}/tests/audit_test.yml",
     "  - ../audit.yml", "  - audit.yml",
     [f"{RULES}/tests/audit_test.yml: rule_files entry 'audit.yml' resolves to {RULES}/tests/audit.yml, "
      "which does not exist"]),
]


@edit_cases(EDITS)
def test_one_bad_edit_fails_the_check(root, path, old, new, expected):
    output = fails_after_edit(root, CHECK, path, old, new)
    for line in expected:
        assert line in output, output


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
    status, output = run(root, CHECK)
    assert status == FAILED
    assert (f"{RULES}/platform.yml: alert UntestedAlert (severity warning): no promtool test case "
            "where it fires") in output
    assert f"{RULES}/platform.yml: alert UntestedAlert: no promtool test case where it must not fire" \
        in output


def test_a_rule_file_no_test_loads_fails(root):
    (root / RULES / "tests" / "edc_test.yml").unlink()
    status, output = run(root, CHECK)
    assert status == FAILED
    assert f"{RULES}/edc.yml: no promtool test file loads this rule file" in output
