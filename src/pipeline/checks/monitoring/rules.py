"""Rule conventions and unit-test coverage of the Prometheus rule files.

    python -m pipeline.checks.monitoring.rules --rules RULE.yml... --tests TEST.yml...

Fails when
- an alert lacks a `severity` label (critical | warning | info | none), or a
  `summary`, `description` or `runbook_url` annotation, or is not CamelCase;
- a recording rule is not named level:metric:operations;
- a rule file is loaded by no promtool test file, or a test file loads a rule
  file that does not exist (promtool resolves rule_files against the test
  file's directory and only warns about a glob matching nothing);
- an alert (per severity) has no `alert_rule_test` case where it fires with
  its labels and annotations, or no case where it must not fire in a test
  whose input_series hold a metric it reads (directly or through recording
  rules): a quiet case over no data proves nothing. An alert whose expression
  is `vector(1)`, the Watchdog, cannot have one;
- a recording rule is read by no `promql_expr_test`.
Which check runs promtool itself: monitoring/promtool-test-* (plan/monitoring.py).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path, PurePosixPath

from pipeline.checks.cli import run_check
from pipeline.checks.files import load_each, load_yaml, normpath
from pipeline.checks.monitoring.documents import rules_of
from pipeline.checks.monitoring.promql import PromQLTokenError, expand_recorded, metric_names
from pipeline.checks.problem import Problem, collector

SEVERITIES = ("critical", "warning", "info", "none")
ANNOTATIONS = ("summary", "description", "runbook_url")
ALERT_NAME = re.compile(r"^[A-Z][a-z0-9]*(?:[A-Z][a-z0-9]*)*$|^[A-Z][A-Za-z0-9]*$")
RECORD_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_]+$")
ALWAYS_FIRING = {"vector(1)"}


def check_conventions(path: str, document: object) -> list[Problem]:
    """Names, severity and annotations of every rule of one rule file."""
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        return [Problem(path, "not a Prometheus rule file (no `groups:` list)", rule="conventions")]
    problems: list[Problem] = []
    add = collector(problems, "conventions")
    for group, rule in rules_of(document):
        if "alert" in rule:
            name = str(rule["alert"])
            where = f"group {group!r}, alert {name}"
            if not ALERT_NAME.match(name):
                add(path, "alert names are CamelCase (e.g. HighErrorRate)", where)
            labels = rule.get("labels") or {}
            severity = labels.get("severity")
            if severity is None:
                add(path, f"no `severity` label (one of {', '.join(SEVERITIES)})", where)
            elif severity not in SEVERITIES:
                add(path, f"severity {severity!r} is not one of {', '.join(SEVERITIES)}", where)
            annotations = rule.get("annotations") or {}
            for key in ANNOTATIONS:
                if not str(annotations.get(key) or "").strip():
                    add(path, f"no `{key}` annotation", where)
            url = str(annotations.get("runbook_url") or "")
            if url and not url.startswith("https://"):
                add(path, f"runbook_url {url!r} is not an https:// URL", where)
        elif "record" in rule:
            if not RECORD_NAME.match(str(rule["record"])):
                add(path, resource=f"group {group!r}, record {rule['record']}",
                    message="recording rules are named level:metric:operations")
        else:
            add(path, resource=f"group {group!r}", message="a rule with neither `alert` nor `record`")
    return problems


def _alert_reads(rule_docs: dict[str, object]) -> dict[str, set[str]]:
    """Alert name -> the stored metrics its expression reads, through recording rules."""
    recorded = {str(rule["record"]): str(rule.get("expr", ""))
                for doc in rule_docs.values() for _, rule in rules_of(doc) if "record" in rule}
    reads: dict[str, set[str]] = {}
    for doc in rule_docs.values():
        for _, rule in rules_of(doc):
            if "alert" not in rule:
                continue
            try:
                parts = expand_recorded(str(rule.get("expr", "")), recorded)
                names = set().union(*(metric_names(part) for part in parts)) - set(recorded)
            except PromQLTokenError:
                names = set()  # promtool check rules reports the expression
            reads.setdefault(str(rule["alert"]), set()).update(names)
    return reads


def check_coverage(rule_docs: dict[str, object], test_docs: dict[str, object],
                   problems: list[Problem]) -> dict[str, int]:
    """Each alert (per severity) fires and stays quiet in some test; returns cases per alert."""
    add = collector(problems, "test-coverage")
    loaded_by: dict[str, list[str]] = {path: [] for path in rule_docs}
    fires: dict[tuple[str, str], int] = {}
    quiet: dict[str, int] = {}
    expr_reads: set[str] = set()
    known = {normpath(p): p for p in rule_docs}
    reads = _alert_reads(rule_docs)

    for test_path, doc in test_docs.items():
        if not isinstance(doc, dict):
            add(test_path, "not a promtool test file (expected a mapping)")
            continue
        base = PurePosixPath(normpath(test_path)).parent
        files = doc.get("rule_files") or []
        if not files:
            add(test_path, "no `rule_files`")
        scope: set[str] = set()
        for entry in files:
            resolved = normpath(base / str(entry))
            if resolved not in known:
                if not Path(resolved).is_file():
                    add(test_path, f"rule_files entry {entry!r} resolves to {resolved}, "
                                   "which does not exist (paths are relative to the test file)")
                else:
                    add(test_path, f"rule_files entry {entry!r} ({resolved}) is not one of "
                                   "the rule files under check")
                continue
            loaded_by[known[resolved]].append(test_path)
            scope.add(known[resolved])
        alerts_in_scope = {str(rule["alert"]) for path in scope
                           for _, rule in rules_of(rule_docs[path]) if "alert" in rule}
        for index, test in enumerate(doc.get("tests") or []):
            if not isinstance(test, dict):
                continue
            inputs: set[str] = set()
            for series in test.get("input_series") or []:
                try:
                    inputs |= metric_names(str((series or {}).get("series", "")))
                except PromQLTokenError as error:
                    add(test_path, f"test {index + 1}: cannot read input series: {error}")
            for case in test.get("alert_rule_test") or []:
                name = str(case.get("alertname"))
                if name not in alerts_in_scope:
                    add(test_path, f"test {index + 1}: alert_rule_test for {name!r}, which no "
                                   "rule file loaded by this test defines")
                    continue
                expected = case.get("exp_alerts") or []
                if not expected and reads.get(name, set()) & inputs:
                    quiet[name] = quiet.get(name, 0) + 1
                for alert in expected:
                    labels = alert.get("exp_labels") or {}
                    annotations = alert.get("exp_annotations") or {}
                    missing = [k for k in ANNOTATIONS if k not in annotations]
                    if "severity" not in labels or missing:
                        add(test_path, f"test {index + 1}: firing case of {name} at "
                                       f"{case.get('eval_time')} must state severity and all "
                                       f"annotations (missing: {', '.join(missing) or 'severity'})")
                        continue
                    key = (name, str(labels["severity"]))
                    fires[key] = fires.get(key, 0) + 1
            for case in test.get("promql_expr_test") or []:
                try:
                    expr_reads |= metric_names(str(case.get("expr", "")))
                except PromQLTokenError as error:
                    add(test_path, f"test {index + 1}: cannot read expr: {error}")

    cases: dict[str, int] = {}
    for path, doc in rule_docs.items():
        if not loaded_by[path]:
            add(path, "no promtool test file loads this rule file "
                      "(add tests/<name>_test.yml with it in rule_files)")
            continue
        for group, rule in rules_of(doc):
            if "record" in rule and str(rule["record"]) not in expr_reads:
                add(path, f"group {group!r}, record {rule['record']}: no promql_expr_test "
                          "evaluates it")
            if "alert" not in rule:
                continue
            name = str(rule["alert"])
            severity = str((rule.get("labels") or {}).get("severity"))
            if not fires.get((name, severity)):
                add(path, f"alert {name} (severity {severity}): no promtool test case where it "
                          "fires with its labels and annotations (alert_rule_test with exp_alerts)")
            if not quiet.get(name) and str(rule.get("expr", "")).strip() not in ALWAYS_FIRING:
                add(path, f"alert {name}: no promtool test case where it must not fire "
                          "(alert_rule_test with empty exp_alerts, in a test whose input_series "
                          f"hold one of {', '.join(sorted(reads.get(name, ()))) or 'its metrics'})")
            cases[name] = sum(v for (n, _), v in fires.items() if n == name) + quiet.get(name, 0)
    return cases


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", nargs="+", required=True, help="rule files")
    parser.add_argument("--tests", nargs="*", default=[], help="promtool test files")


def check(args: argparse.Namespace) -> tuple[list[Problem], str]:
    problems: list[Problem] = []
    rule_docs = load_each(args.rules, load_yaml, problems)
    for path, doc in rule_docs.items():
        problems += check_conventions(path, doc)
    test_docs = load_each(args.tests, load_yaml, problems)
    cases = check_coverage(rule_docs, test_docs, problems)
    return problems, (f"{len(cases)} alerts in {len(rule_docs)} rule files, "
                      f"{sum(cases.values())} alert test cases in {len(test_docs)} test files")


if __name__ == "__main__":
    raise SystemExit(run_check("rules", __doc__, arguments, check))
