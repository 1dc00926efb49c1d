"""The dashboards' panel queries as a Prometheus rule file, for promtool to parse.

    python -m pipeline.checks.monitoring.panel_queries DASHBOARD.json... | promtool check rules

One recording rule per panel target (Grafana variables substituted): the
monitoring/dashboards-promql check pipes it into `promtool check rules` (which reads
stdin when given no file), so PromQL is parsed by Prometheus' own parser, and the
group name names the dashboard file, panel and target of an expression that does not
parse. A dashboard that does not load is reported on stderr and fails the step.
"""

from __future__ import annotations

import sys
from typing import IO

import yaml

from pipeline.checks.files import load_each, load_json
from pipeline.checks.monitoring.documents import panel_label, panels_of
from pipeline.checks.monitoring.promql import substitute_grafana_variables
from pipeline.checks.problem import Problem, render


def rule_file(boards: dict[str, object]) -> dict:
    """A rule file with each panel target's expression as a recording rule, a group each."""
    groups = []
    for path, board in boards.items():
        for panel in panels_of(board):
            for target in panel.get("targets") or []:
                expr = target.get("expr") if isinstance(target, dict) else None
                if not isinstance(expr, str) or not expr.strip():
                    continue
                groups.append({
                    "name": f"{path} {panel_label(panel)} target {target.get('refId')}",
                    "rules": [{"record": "dashboard_panel_query",
                               "expr": substitute_grafana_variables(expr)}],
                })
    return {"groups": groups}


def emit(paths: list[str], out: IO[str], errors: IO[str]) -> int:
    """Write the rule file of `paths` to `out`; 1 when a dashboard did not load."""
    problems: list[Problem] = []
    boards = load_each(paths, load_json, problems)
    if problems:
        print(render(problems), file=errors)
    yaml.safe_dump(rule_file(boards), out, sort_keys=False, width=10_000)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(emit(sys.argv[1:], sys.stdout, sys.stderr))
