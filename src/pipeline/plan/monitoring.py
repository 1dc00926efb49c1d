"""Checks of the monitoring group: Prometheus, Alertmanager, Grafana, the metrics contract.

Everything is built from the file list, so a new rule file, test file,
Prometheus config or dashboard gets its checks without touching this module. The
promtool checks of one subcommand run as one promtool process over their files, each
check still getting its own file's text and verdict (executors/batch_promtool.py):

- promtool-config-<name>   promtool check config, per infra/monitoring/prometheus/*.yml
- promtool-rules-<name>    promtool check rules, per rule file
- promtool-test-<name>     promtool test rules, per rules/tests/*_test.yml
- rules-coverage           every alert fires and stays quiet in some promtool test,
                           severity/summary/description/runbook_url (checks/monitoring/rules.py)
- pint                     pint --offline, failing on any reported problem (.pint.hcl)
- amtool-config            amtool check-config
- alertmanager-secrets     secrets only via absolute *_file paths, critical->warning inhibition
                           (checks/monitoring/alertmanager.py)
- amtool-route-<case>      amtool config routes test, one per ROUTE_CASES entry
- dashboards               Grafana 10.4 dashboard and provisioning rules (checks/monitoring/dashboards.py)
- dashboards-promql        every panel query parsed by promtool (checks/monitoring/panel_queries.py
                           pipes them in as a rule file)
- metrics-contract         rules and panels against metrics-contract.yaml (checks/monitoring/metrics.py)
- query-exporter-config    query-exporter --check-only: the EDC exporter's config loads in the
                           pinned release (metric, query and database definitions)
"""

from __future__ import annotations

from pathlib import PurePosixPath

from pipeline.model import prometheus
from pipeline.layout import (ALERTMANAGER_CONFIG, DASHBOARDS_DIR, GRAFANA, METRICS_CONTRACT,
                             PINT_CONFIG, PROMETHEUS_COMPOSE, PROMETHEUS_DIR, QUERY_EXPORTER_CONFIG,
                             RULES_DIR)
from pipeline.plan.model import Check, Step, Tree, check_modules, python_check

alertmanager, dashboards_check, metrics, panel_queries, rules_check = check_modules(
    "pipeline.checks.monitoring", "alertmanager", "dashboards", "metrics", "panel_queries",
    "rules")

GROUP = "monitoring"
PROMETHEUS_CONFIGS = f"{PROMETHEUS_DIR}/*.yml"
DASHBOARDS = f"{DASHBOARDS_DIR}/*.json"

# `amtool config routes test` cases: (name, labels, receivers the alert must reach, in order).
ROUTE_CASES = (
    ("critical", {"alertname": "HighErrorRate", "severity": "critical", "namespace": "dpp"},
     ("webhook", "critical")),
    ("warning", {"alertname": "HighLatency", "severity": "warning", "namespace": "dpp"},
     ("webhook", "warning")),
    ("info", {"alertname": "SomethingToLookAt", "severity": "info"}, ("blackhole",)),
    ("watchdog", {"alertname": "Watchdog", "severity": "none"}, ("deadmansswitch",)),
    ("no-severity", {"alertname": "UnlabelledAlert"}, ("webhook",)),
)


def _stem(path: str) -> str:
    name = PurePosixPath(path).name
    for suffix in ("_test.yml", ".test.yml", ".yml", ".yaml", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def rule_files(tree: Tree) -> list[str]:
    """Rule files: the one definition (model.prometheus.rule_files) over the tree."""
    return prometheus.rule_files(tree.files)


def test_files(tree: Tree) -> list[str]:
    return [f for f in tree.glob(f"{RULES_DIR}/tests/*.yml")
            if f.endswith(("_test.yml", ".test.yml"))]


def checks(tree: Tree) -> list[Check]:
    found: list[Check] = []
    rules = rule_files(tree)
    tests = test_files(tree)
    dashboards = tree.glob(DASHBOARDS)

    for config in tree.glob(PROMETHEUS_CONFIGS):
        found.append(Check(
            name=f"promtool-config-{_stem(config).replace('.', '-')}", group=GROUP, tool="promtool",
            argv=("promtool", "check", "config", "--lint=all", "--lint-fatal", config),
            reads=(config, *rules), batch="promtool-check-config",
            description=f"Prometheus config {config} and the rule files it loads"))
    for rule in rules:
        found.append(Check(
            name=f"promtool-rules-{_stem(rule)}", group=GROUP, tool="promtool",
            argv=("promtool", "check", "rules", "--lint=all", "--lint-fatal", rule),
            reads=(rule,), batch="promtool-check-rules",
            description=f"PromQL and templates of {rule}"))
    for test in tests:
        found.append(Check(
            name=f"promtool-test-{_stem(test)}", group=GROUP, tool="promtool",
            argv=("promtool", "test", "rules", test),
            reads=(test, *rules), batch="promtool-test-rules",
            description=f"promtool unit tests {test} (rule_files relative to the test file)"))
    if rules:
        found.append(python_check(
            "rules-coverage", GROUP, rules_check,
            ["--rules", *rules, "--tests", *tests], [*rules, *tests],
            description="every alert has severity, summary, description, runbook_url and a "
                        "promtool test where it fires and one where it does not"))
        if tree.is_file(PINT_CONFIG):
            found.append(Check(
                name="pint", group=GROUP, tool="pint",
                argv=("pint", "--offline", "--no-color", "--log-level=WARN", "--config", PINT_CONFIG,
                      "lint", "--min-severity=info", "--fail-on=info", *rules),
                reads=(PINT_CONFIG, *rules),
                description="pint offline checks; any reported problem fails"))

    if tree.is_file(ALERTMANAGER_CONFIG):
        found.append(Check(
            name="amtool-config", group=GROUP, tool="amtool",
            argv=("amtool", "check-config", ALERTMANAGER_CONFIG), reads=(ALERTMANAGER_CONFIG,),
            description="Alertmanager configuration, receivers and templates"))
        found.append(python_check(
            "alertmanager-secrets", GROUP, alertmanager, [ALERTMANAGER_CONFIG],
            [ALERTMANAGER_CONFIG],
            description="no inline secret, every *_file path absolute, a critical inhibits the "
                        "warning of the same alert"))
        for case, labels, receivers in ROUTE_CASES:
            found.append(Check(
                name=f"amtool-route-{case}", group=GROUP, tool="amtool",
                argv=("amtool", "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}",
                      f"--verify.receivers={','.join(receivers)}",
                      *(f"{k}={v}" for k, v in labels.items())),
                reads=(ALERTMANAGER_CONFIG,),
                description=f"an alert with {labels} reaches {', '.join(receivers)}"))

    if dashboards:
        found.append(python_check(
            "dashboards", GROUP, dashboards_check,
            ["--provisioning", GRAFANA, *dashboards], [GRAFANA],
            description="Grafana 10.4 dashboard JSON, unique uids/titles, datasource variable, "
                        "units, $__rate_interval, provisioning layout"))
        found.append(Check(
            name="dashboards-promql", group=GROUP, tool="promtool",
            argv=("promtool", "check", "rules", "--lint=none"),
            reads=tuple(dashboards),
            stdin_from=Step("python", ("python", "-m", panel_queries.__name__, *dashboards)),
            description="every panel query parses as PromQL (promtool reads the queries as a rule "
                        "file on stdin)"))

    if tree.is_file(QUERY_EXPORTER_CONFIG):
        found.append(Check(
            name="query-exporter-config", group=GROUP, tool="query-exporter",
            argv=("query-exporter", "--check-only", "--config", QUERY_EXPORTER_CONFIG),
            reads=(QUERY_EXPORTER_CONFIG,),
            description="query-exporter 5.0.2 loads the EDC exporter's metrics, queries and databases"))

    if tree.is_file(METRICS_CONTRACT):
        compose_config = PROMETHEUS_COMPOSE
        extra = ["--prometheus-config", compose_config] if tree.is_file(compose_config) else []
        found.append(python_check(
            "metrics-contract", GROUP, metrics,
            ["--contract", METRICS_CONTRACT, "--rules", *rules, "--dashboards", *dashboards, *extra],
            [METRICS_CONTRACT, *rules, *dashboards, *([compose_config] if extra else []),
             *([QUERY_EXPORTER_CONFIG] if tree.is_file(QUERY_EXPORTER_CONFIG) else [])],
            description="every metric of a rule or panel is in the contract; every contract "
                        "metric is used; quantile alerts below the highest bucket"))
    return found
