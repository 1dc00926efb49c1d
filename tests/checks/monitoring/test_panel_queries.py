"""checks/monitoring/panel_queries.py: the rule file monitoring/dashboards-promql pipes into promtool."""

from __future__ import annotations

import io
import json

import yaml

from pipeline.checks.monitoring.panel_queries import emit
from tests.conftest import REPO
from tests.support.monitoring import DASHBOARDS


def test_each_panel_target_is_a_group_named_by_file_panel_and_target(tmp_path):
    board = json.loads((REPO / DASHBOARDS / "audit-trail.json").read_text())
    board["panels"][0]["targets"][0]["expr"] = 'sum(rate(x_total{namespace=~"$namespace"}[$__rate_interval]))'
    path = tmp_path / "board.json"
    path.write_text(json.dumps(board))
    out, errors = io.StringIO(), io.StringIO()
    assert emit([str(path)], out, errors) == 0
    groups = yaml.safe_load(out.getvalue())["groups"]
    first = board["panels"][0]
    assert groups[0] == {
        "name": f"{path} panel {first['id']!r} {first['title']!r} target {first['targets'][0]['refId']}",
        "rules": [{"record": "dashboard_panel_query",
                   "expr": 'sum(rate(x_total{namespace=~"placeholder"}[5m]))'}]}
    assert errors.getvalue() == ""


def test_a_dashboard_that_does_not_load_fails_naming_it_and_the_others_are_still_emitted(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    good = str(REPO / DASHBOARDS / "audit-trail.json")
    out, errors = io.StringIO(), io.StringIO()
    assert emit([str(broken), good], out, errors) == 1
    assert f"ERROR {broken}: not valid JSON" in errors.getvalue()
    assert all(g["name"].startswith(good) for g in yaml.safe_load(out.getvalue())["groups"])
