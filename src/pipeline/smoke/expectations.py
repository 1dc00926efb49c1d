"""What the running stack must show, computed from the repository's files.

Rule groups and rules from the rule files the compose Prometheus loads, receivers and
routing from alertmanager.yml (model.prometheus's route tree), timings from prometheus.yml
and the routes, the contract series the fake target serves, dashboards and the datasource
from the Grafana provisioning files.

A file we cannot read here raises LoadError naming the file and the field: the probes then
report that one cause instead of comparing the stack with an empty expectation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import layout
from pipeline.checks.files import load_json, load_yaml
from pipeline.checks.problem import LoadError
from pipeline.model import prometheus
from pipeline.smoke import stack

SERIES_SUFFIX = {"histogram": "_count", "summary": "_count"}  # one series name per metric
CRITICAL_ALERT = "SmokeTestCritical"
DEFAULT_INTERVAL = 60.0  # Prometheus' global scrape and evaluation interval


@dataclass
class Expectations:
    rule_files: list[str]
    rule_groups: int
    rules: int
    evaluation_interval: float
    scrape_interval: float
    receivers: list[str]
    redirected: dict[str, str]  # receiver -> how it reaches the sink
    watchdog_labels: dict[str, str]
    watchdog_routes: list[prometheus.RouteEnd]
    watchdog_interval: float  # evaluation interval of the Watchdog's group
    critical_labels: dict[str, str]
    critical_routes: list[prometheus.RouteEnd]
    jobs: dict[str, list[str]]  # scrape job -> compose targets
    # job -> series names the fake target serves for it (the contract's metrics of that job)
    served: dict[str, list[str]] = field(default_factory=dict)
    dashboards: list[str] = field(default_factory=list)
    datasource_uid: str = ""
    grafana_user: str = "admin"
    grafana_password: str = ""


@contextmanager
def in_file(path: str) -> Iterator[None]:
    """A ConfigError (a field of the wrong shape) as a LoadError naming the file too."""
    try:
        yield
    except prometheus.ConfigError as error:
        raise LoadError(f"{path}: {error}") from error


def _mapping(value: Any, path: str, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LoadError(f"{path}: {where}: expected a mapping, got {type(value).__name__}")
    return value


def _list(value: Any, path: str, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise LoadError(f"{path}: {where}: expected a list, got {type(value).__name__}")
    return value


def _document(root: Path, path: str) -> dict:
    return _mapping(load_yaml(root / path), path, "(top level)")


def compose_rule_files(root: Path, compose_config: str) -> list[str]:
    """The rule files (model.prometheus.rule_files) the compose Prometheus must load: all but
    those only the Kubernetes config lists (kube-state-metrics rules have no series here)."""
    folder = root / layout.RULES_DIR
    listing = [p.relative_to(root).as_posix() for p in folder.iterdir()] if folder.is_dir() else []
    kubernetes_only: set[str] = set()
    if (root / layout.PROMETHEUS_K8S).is_file():
        with in_file(layout.PROMETHEUS_K8S):
            kubernetes = prometheus.listed_rule_files(_document(root, layout.PROMETHEUS_K8S),
                                                      layout.PROMETHEUS_K8S)
        with in_file(compose_config):
            compose = prometheus.listed_rule_files(_document(root, compose_config), compose_config)
        kubernetes_only = kubernetes - compose
    return [f for f in prometheus.rule_files(listing) if f not in kubernetes_only]


def _labels(value: Any, path: str, where: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in _mapping(value, path, where).items()}


def served_series(root: Path, jobs: dict[str, list[str]]) -> dict[str, list[str]]:
    """The contract's series of each scrape job the fake target answers for."""
    path = layout.METRICS_CONTRACT
    contract = _mapping(_document(root, path).get("jobs"), path, "jobs")
    found = {}
    for job in stack.FAKE_TARGET_JOBS:
        if not jobs.get(job) or job not in contract:
            continue
        metrics = _mapping(_mapping(contract[job], path, f"jobs.{job}").get("metrics"), path,
                           f"jobs.{job}.metrics")
        found[job] = sorted(name + SERIES_SUFFIX.get(str(_mapping(
            metric, path, f"jobs.{job}.metrics.{name}").get("type")), "")
                            for name, metric in metrics.items())
    return found


def _watchdog(root: Path, files: list[str], external: dict[str, str],
              evaluation: float) -> tuple[int, int, dict[str, str], float]:
    """(groups, rules, the Watchdog's labels, its group's interval) over the rule files."""
    groups = rules = 0
    labels, interval = {}, evaluation
    for path in files:
        for index, group in enumerate(_list(_document(root, path).get("groups"), path, "groups")):
            where = f"groups[{index}]"
            group = _mapping(group, path, where)
            entries = _list(group.get("rules"), path, f"{where}.rules")
            groups, rules = groups + 1, rules + len(entries)
            for position, rule in enumerate(entries):
                rule = _mapping(rule, path, f"{where}.rules[{position}]")
                if rule.get("alert") == "Watchdog":
                    labels = {**external, "alertname": "Watchdog",
                              **_labels(rule.get("labels"), path, f"{where}.rules[{position}]"
                                                                  ".labels")}
                    with in_file(path):
                        interval = prometheus.duration_field(group, "interval", evaluation,
                                                             f"{where}.")
    return groups, rules, labels, interval


def expectations(root: Path, specs: dict[str, stack.ServiceSpec]) -> Expectations:
    """Everything the probes compare the stack with; LoadError naming file and field."""
    prom_path = stack.config_source(specs["prometheus"])
    am_path = stack.config_source(specs["alertmanager"])
    prom, am = _document(root, prom_path), _document(root, am_path)
    settings = _mapping(prom.get("global"), prom_path, "global")
    with in_file(prom_path):
        evaluation = prometheus.duration_field(settings, "evaluation_interval",
                                               DEFAULT_INTERVAL, "global.")
        scrape = prometheus.duration_field(settings, "scrape_interval", DEFAULT_INTERVAL,
                                           "global.")
        jobs = prometheus.scrape_targets(prom)
    external = _labels(settings.get("external_labels"), prom_path, "global.external_labels")
    files = compose_rule_files(root, prom_path)
    groups, rules, watchdog, watchdog_interval = _watchdog(root, files, external, evaluation)
    critical = {"alertname": CRITICAL_ALERT, "severity": "critical", "namespace": "smoke-test"}
    with in_file(am_path):
        receivers = [str(r.get("name")) for r in prometheus.receivers(am)]
        watchdog_routes = prometheus.routes_for(am, watchdog) if watchdog else []
        critical_routes = prometheus.routes_for(am, critical)
    found = Expectations(
        rule_files=files, rule_groups=groups, rules=rules, evaluation_interval=evaluation,
        scrape_interval=scrape, receivers=receivers,
        redirected=stack.receiver_overrides(am, "http://sink")[2], watchdog_labels=watchdog,
        watchdog_routes=watchdog_routes, watchdog_interval=watchdog_interval,
        critical_labels=critical, critical_routes=critical_routes, jobs=jobs,
        served=served_series(root, jobs))
    if "grafana" in specs:
        grafana_expectations(root, specs["grafana"], found)
    return found


def read_expectations(root: Path, specs: dict[str, stack.ServiceSpec]
                      ) -> tuple[Expectations | None, str]:
    """(the expectations, "") or (None, the file, field and cause we could not read)."""
    try:
        return expectations(root, specs), ""
    except (LoadError, stack.StackError) as error:
        return None, str(error)


def grafana_expectations(root: Path, spec: stack.ServiceSpec, found: Expectations) -> None:
    """Dashboard uids and the Prometheus datasource uid from the provisioning files."""
    provisioning = spec.environment.get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning")
    source = spec.source_of(provisioning)
    if source is None:
        return
    for file in sorted((root / source / "datasources").glob("*.y*ml")):
        path = file.relative_to(root).as_posix()
        for index, ds in enumerate(_list(_document(root, path).get("datasources"), path,
                                         "datasources")):
            ds = _mapping(ds, path, f"datasources[{index}]")
            if ds.get("type") == "prometheus" and not found.datasource_uid:
                found.datasource_uid = str(ds.get("uid", ""))
    for file in sorted((root / source / "dashboards").glob("*.y*ml")):
        path = file.relative_to(root).as_posix()
        for index, provider in enumerate(_list(_document(root, path).get("providers"), path,
                                               "providers")):
            options = _mapping(_mapping(provider, path, f"providers[{index}]").get("options"),
                               path, f"providers[{index}].options")
            folder = spec.source_of(str(options.get("path", "")))
            for board in sorted((root / folder).rglob("*.json")) if folder else []:
                uid = _mapping(load_json(board), board.relative_to(root).as_posix(),
                               "(top level)").get("uid")
                if uid and uid not in found.dashboards:
                    found.dashboards.append(uid)
    found.grafana_user = spec.environment.get("GF_SECURITY_ADMIN_USER", "admin")
    found.grafana_password = spec.environment.get("GF_SECURITY_ADMIN_PASSWORD", "admin")
