"""monitoring/dashboards (checks/monitoring/dashboards.py): Grafana 10.4 dashboards and provisioning.

Each bad-input test breaks one thing in a copy of the real files and asserts
that the plan's check fails, naming the file and the problem.
"""

from __future__ import annotations

import json

from pipeline.executors import FAILED
from tests.support.monitoring import DASHBOARDS, edit_cases, fails_after_edit, passes, run

CHECK = "monitoring/dashboards"


def test_the_real_files_pass(root):
    assert "4 dashboards" in passes(root, CHECK)


# One edit in one file: the check fails with each expected line in its output.
# (case, file, old, new, expected)
EDITS = [
    ("dashboard-outside-every-provider", f"{DASHBOARDS}/dashboards.yaml",
     "path: /etc/grafana/provisioning/dashboards", "path: /var/lib/grafana/dashboards",
     [f"{DASHBOARDS}/dashboards.yaml: provider 'dpp-platform': options.path "
      "'/var/lib/grafana/dashboards' is not under /etc/grafana/provisioning",
      f"{DASHBOARDS}/audit-trail.json: no file provider in"]),
    ("overlapping-panels", f"{DASHBOARDS}/audit-trail.json",
     '"x": 8,', '"x": 4,',
     [f"{DASHBOARDS}/audit-trail.json: panel 2 'Since last verification': gridPos "
      "{'x': 4, 'y': 0, 'w': 8, 'h': 4} overlaps panel 1 'Hash chain valid'"]),
]


@edit_cases(EDITS)
def test_one_bad_edit_fails_the_check(root, path, old, new, expected):
    output = fails_after_edit(root, CHECK, path, old, new)
    for line in expected:
        assert line in output, output


def _dashboard(root, name):
    path = root / DASHBOARDS / name
    return path, json.loads(path.read_text())


def test_a_duplicate_dashboard_uid_fails(root):
    path, board = _dashboard(root, "audit-trail.json")
    board["uid"] = "dpp-platform-overview"
    path.write_text(json.dumps(board))
    status, output = run(root, CHECK)
    assert status == FAILED
    assert (f"duplicate dashboard uid 'dpp-platform-overview' (also in {DASHBOARDS}/") in output
    assert f"{DASHBOARDS}/" in output and ".json: duplicate dashboard uid" in output


def test_a_panel_without_unit_or_datasource_variable_fails(root):
    path, board = _dashboard(root, "backend-performance.json")
    del board["panels"][0]["fieldConfig"]["defaults"]["unit"]
    board["panels"][1]["datasource"] = {"type": "prometheus", "uid": "prometheus"}
    path.write_text(json.dumps(board))
    status, output = run(root, CHECK)
    assert status == FAILED
    assert f"{DASHBOARDS}/backend-performance.json: panel 1 'p95 latency': no unit" in output
    assert (f"{DASHBOARDS}/backend-performance.json: panel 2 'Latency by handler (p50 / p99)': "
            "datasource must be") in output


def test_a_fixed_rate_window_and_a_wide_panel_fail(root):
    path, board = _dashboard(root, "audit-trail.json")
    board["panels"][3]["targets"][0]["expr"] = "sum(rate(dpp_audit_events_total[5m]))"
    board["panels"][4]["gridPos"]["w"] = 25
    path.write_text(json.dumps(board))
    status, output = run(root, CHECK)
    assert status == FAILED
    assert "panel 4 'Audit events by type', target A: range [5m] in a rate/irate/increase query" in output
    assert "panel 5 'Merkle root publications': gridPos" in output


def test_an_old_schema_and_missing_datasource_variable_fail(root):
    path, board = _dashboard(root, "edc-connector.json")
    board["schemaVersion"] = 27
    board["templating"]["list"] = []
    path.write_text(json.dumps(board))
    status, output = run(root, CHECK)
    assert status == FAILED
    assert f"{DASHBOARDS}/edc-connector.json: schemaVersion 27, expected 39" in output
    assert f"{DASHBOARDS}/edc-connector.json: templating needs exactly one datasource variable" in output


def test_a_panel_query_ignoring_the_namespace_variable_fails(root):
    """One Prometheus serves every environment: a panel without the variable adds them up."""
    path, board = _dashboard(root, "edc-connector.json")
    board["panels"][3]["targets"][0]["expr"] = "sum(edc_assets)"
    board["panels"][4]["targets"][0]["expr"] = 'sum by (state) (edc_contract_negotiations{namespace!~"$namespace"})'
    path.write_text(json.dumps(board))
    status, output = run(root, CHECK)
    assert status == FAILED
    assert (f"{DASHBOARDS}/edc-connector.json: panel 4 'Assets', target A: selector edc_assets ignores "
            'the namespace variable (add namespace=~"$namespace")') in output
    assert ("panel 5 'Negotiations by state', target A: selector "
            'edc_contract_negotiations{namespace!~"$namespace"} ignores the namespace variable') in output


def test_a_dashboard_without_the_namespace_variable_fails(root):
    path, board = _dashboard(root, "audit-trail.json")
    board["templating"]["list"] = [v for v in board["templating"]["list"] if v["name"] != "namespace"]
    path.write_text(json.dumps(board))
    status, output = run(root, CHECK)
    assert status == FAILED
    assert (f"{DASHBOARDS}/audit-trail.json: templating needs one query variable named `namespace`"
            in output)
