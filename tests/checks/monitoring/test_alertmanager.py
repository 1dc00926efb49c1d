"""checks/monitoring/alertmanager: secrets only in absolute *_file paths, a critical alert
inhibits the warning of the same alert (plan-level cases: tests/checks/monitoring/test_config_edits.py)."""

from __future__ import annotations

import sys

import pytest

from pipeline import layout
from pipeline.checks.files import load_yaml
from pipeline.checks.monitoring import alertmanager
from tests.support import warmchecks
from tests.support.repo import REPO

CONFIG = load_yaml(REPO / layout.ALERTMANAGER_CONFIG)  # libyaml: at every collection
PATH = layout.ALERTMANAGER_CONFIG


def problems(config) -> list[str]:
    return [str(p) for p in alertmanager.problems_of(PATH, config)]


def inhibiting(**rule) -> dict:
    return {**CONFIG, "inhibit_rules": [{"equal": ["alertname"], **rule}]}


def test_the_repo_config_passes():
    assert problems(CONFIG) == []


def test_the_command_line_prints_the_verdict():
    done = warmchecks.run([sys.executable, "-m", "pipeline.checks.monitoring.alertmanager", PATH],
                          REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().startswith("alertmanager: OK - ")


def test_a_missing_file_is_a_problem_naming_it(tmp_path):
    missing = tmp_path / "nowhere.yml"
    done = warmchecks.run([sys.executable, "-m", "pipeline.checks.monitoring.alertmanager",
                           str(missing)])
    assert done.returncode == 1
    assert f"ERROR {missing}: cannot read" in done.stdout


def test_an_inline_global_secret_names_the_field():
    config = {**CONFIG, "global": {"slack_api_url": "https://hooks.example/secret"}}
    assert problems(config) == [f"{PATH}: global: slack_api_url is written inline; use "
                                "slack_api_url_file [inline-secret]"]


@pytest.mark.parametrize("rule", [
    {"source_matchers": ['severity="critical"'], "target_matchers": ["severity = warning"]},
    {"source_matchers": ["{severity=critical}"], "target_matchers": ['severity="warning"']},
    {"source_match": {"severity": "critical"}, "target_match": {"severity": "warning"}},
])
def test_every_matcher_syntax_alertmanager_reads_counts(rule):
    assert problems(inhibiting(**rule)) == []


@pytest.mark.parametrize("rule", [
    {"source_matchers": ['severity=~"critical"'], "target_matchers": ['severity="warning"']},
    {"source_matchers": ['severity="warning"'], "target_matchers": ['severity="critical"']},
])
def test_other_inhibitions_do_not_count(rule):
    assert [p for p in problems(inhibiting(**rule)) if "[inhibition]" in p]


def test_a_matcher_alertmanager_refuses_names_the_rule_and_field():
    found = problems(inhibiting(source_matchers=['severity="critical'],
                                target_matchers=['severity="warning"']))
    assert found == [f"{PATH}: inhibit_rules[0]: source_matchers[0]: matcher value contains "
                     "unescaped double quote: \"critical [inhibition]"]
