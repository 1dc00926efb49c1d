"""smoke/expectations: what the stack must show, from the repo's files; a file we cannot read
is one cause naming the file and the field, never an empty expectation."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipeline import layout
from pipeline.model.prometheus import RouteEnd
from pipeline.smoke import stack
from pipeline.smoke.expectations import compose_rule_files, expectations, read_expectations
from tests.support.repo import REPO, copy_repo

PROMETHEUS = "infra/monitoring/prometheus/prometheus.yml"


def test_expectations_count_the_rule_files():
    expect = expectations(REPO, stack.load(REPO))
    documents = [yaml.safe_load((REPO / f).read_text()) for f in expect.rule_files]
    assert expect.rule_files and all("groups" in d for d in documents)
    assert expect.rules == sum(len(g["rules"]) for d in documents for g in d["groups"])
    assert expect.watchdog_labels.get("alertname") == "Watchdog"
    assert expect.watchdog_routes and expect.critical_routes
    assert len(expect.dashboards) == len(list(
        (REPO / "infra/monitoring/grafana/dashboards").glob("*.json")))


def test_the_kubernetes_only_rule_files_are_not_expected_in_compose():
    files = compose_rule_files(REPO, PROMETHEUS)
    assert f"{layout.RULES_DIR}/kubernetes.yml" not in files
    assert f"{layout.RULES_DIR}/platform.yml" in files
    assert all("/tests/" not in f for f in files)


def test_routes_and_timings_come_from_the_configs():
    expect = expectations(REPO, stack.load(REPO))
    assert expect.watchdog_routes == [RouteEnd("deadmansswitch", 0.0)]
    assert [r.receiver for r in expect.critical_routes] == ["webhook", "critical"]
    assert expect.scrape_interval == 15.0 and expect.evaluation_interval == 15.0
    assert expect.jobs["backend"] == ["backend:8000"]


def broken(tmp_path: Path, rel: str, old: str, new: str) -> Path:
    root = copy_repo(tmp_path, layout.COMPOSE_FILE, layout.COMPOSE_LINT_ENV, layout.MONITORING)
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))
    return root


def unreadable(root: Path) -> str:
    expect, why = read_expectations(root, stack.load(root))
    assert expect is None
    return why


def test_a_route_matcher_we_cannot_read_names_file_and_field(tmp_path):
    root = broken(tmp_path, layout.ALERTMANAGER_CONFIG, """matchers: ['severity = "critical"']""",
                  """matchers: ['severity = "critical']""")
    why = unreadable(root)
    assert why.startswith(f"{layout.ALERTMANAGER_CONFIG}: route.routes[2].matchers[0]: ")
    assert "unescaped double quote" in why


def test_a_group_interval_that_is_no_duration_names_file_and_field(tmp_path):
    rel = f"{layout.RULES_DIR}/platform.yml"
    root = broken(tmp_path, rel, "  - name: dpp-meta\n", "  - name: dpp-meta\n    interval: 1.5m\n")
    assert unreadable(root).startswith(f"{rel}: groups[")
    assert "].interval: not a valid duration string: '1.5m'" in unreadable(root)


def test_a_scrape_job_of_the_wrong_shape_names_file_and_field(tmp_path):
    root = broken(tmp_path, PROMETHEUS, '      - targets: ["backend:8000"]\n',
                  '      - targets: "backend:8000"\n')
    config = yaml.safe_load((root / PROMETHEUS).read_text())
    index = [job.get("job_name") for job in config["scrape_configs"]].index("backend")
    assert unreadable(root) == (f"{PROMETHEUS}: scrape_configs[{index}].static_configs[0]."
                                "targets: expected a list, got str")


def test_a_contract_of_the_wrong_shape_names_file_and_field(tmp_path):
    root = copy_repo(tmp_path, layout.COMPOSE_FILE, layout.COMPOSE_LINT_ENV, layout.MONITORING)
    (root / layout.METRICS_CONTRACT).write_text("jobs: [backend]\n")
    assert unreadable(root) == f"{layout.METRICS_CONTRACT}: jobs: expected a mapping, got list"
