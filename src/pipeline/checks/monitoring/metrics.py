"""The metrics contract against the rules, the dashboards and prometheus.yml.

    python -m pipeline.checks.monitoring.metrics --contract metrics-contract.yaml \
        --rules RULES.yml... --dashboards DASHBOARD.json... [--prometheus-config prometheus.yml]

Fails when
- the contract is malformed (unknown type, counter without `_total`, histogram
  without sorted `buckets`, gauge without a `healthy` value, job without
  `exporter`, a metric listed twice);
- a rule or panel names a metric that is neither in the contract (a job's
  metric, whether ours or a named standard exporter's, or a series Prometheus
  synthesises such as `up`) nor recorded by a recording rule;
- a contract metric or a recording rule is used by no rule and no panel;
- an alert compares a histogram_quantile() over a contract histogram with a
  threshold at or above its highest finite bucket: histogram_quantile never
  returns more than that bound, so the alert could never fire;
- (with --prometheus-config) a contract job with targets is not scraped by a
  job of that name at those targets and path;
- a job's `config` (a query-exporter configuration in this repo) does not produce
  exactly the job's metrics with their labels (query-exporter adds `database`): a
  contract metric nothing produces, or a produced metric the contract lacks.
"""

from __future__ import annotations

import argparse
import re
from typing import Callable

from pipeline.checks.cli import run_check
from pipeline.checks.files import load_each, load_json, load_yaml
from pipeline.checks.monitoring.documents import panel_label, panels_of, rules_of
from pipeline.checks.monitoring.promql import PromQLTokenError, expand_recorded, metric_names
from pipeline.checks.problem import Problem, collector
from pipeline.model.prometheus import static_targets

TYPES = ("counter", "gauge", "histogram", "summary")
METRIC_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
THRESHOLD = re.compile(r">=?\s*([0-9]+(?:\.[0-9]+)?)\s*$")


class Contract:
    """The contract's metrics, keyed by name, and the series each one exposes."""

    def __init__(self, path: str, doc: object, problems: list[Problem]) -> None:
        add = collector(problems, "contract-shape")
        self.path = path
        self.metrics: dict[str, dict] = {}  # name -> spec (with "_job")
        self.jobs: dict[str, dict] = {}
        if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), dict):
            add(path, "the contract needs a `jobs:` mapping")
            return
        for name, spec in (doc.get("synthetic") or {}).items():
            self._add(name, spec, "(synthetic)", add)
        for job, spec in doc["jobs"].items():
            if not isinstance(spec, dict):
                add(path, f"job {job}: must be a mapping")
                continue
            self.jobs[job] = spec
            if not str(spec.get("exporter") or "").strip():
                add(path, f"job {job}: name its `exporter` (a standard exporter or ours)")
            if not isinstance(spec.get("standard"), bool):
                add(path, f"job {job}: `standard` must be true (a standard exporter) or false (ours)")
            for name, metric in (spec.get("metrics") or {}).items():
                self._add(name, metric, job, add)

    def _add(self, name: str, spec: object, job: str, add: Callable[..., None]) -> None:
        where = f"metric {name} (job {job})"
        if name in self.metrics:
            add(self.path, f"{where}: listed twice (also job {self.metrics[name]['_job']})")
            return
        if not isinstance(spec, dict):
            add(self.path, f"{where}: must be a mapping with type and labels")
            return
        kind = spec.get("type")
        if kind not in TYPES:
            add(self.path, f"{where}: type {kind!r} is not one of {', '.join(TYPES)}")
        if not METRIC_NAME.match(name) and job != "(synthetic)":
            add(self.path, f"{where}: not a valid exported metric name (colons are for recording rules)")
        if kind == "counter" and not name.endswith("_total"):
            add(self.path, f"{where}: counters end in _total")
        if kind != "counter" and name.endswith("_total"):
            add(self.path, f"{where}: only counters end in _total")
        if not isinstance(spec.get("labels"), dict):
            add(self.path, f"{where}: `labels` must map each label to an example value ({{}} if none)")
        if kind == "histogram":
            buckets = spec.get("buckets")
            if (not isinstance(buckets, list) or not buckets
                    or not all(isinstance(b, (int, float)) for b in buckets)
                    or sorted(buckets) != buckets or len(set(buckets)) != len(buckets)):
                add(self.path, f"{where}: histograms need `buckets`, the finite upper bounds "
                               "in ascending order")
        if kind == "gauge" and job != "(synthetic)" and "healthy" not in spec:
            add(self.path, f"{where}: gauges need a `healthy` example value (a number or now)")
        self.metrics[name] = {**spec, "_job": job}

    def resolve(self, series: str) -> str | None:
        """The contract metric a series name belongs to (`x_bucket` -> histogram `x`)."""
        if series in self.metrics:
            return series
        for name, spec in self.metrics.items():
            for suffix in SUFFIXES.get(spec.get("type"), ()):
                if series == name + suffix:
                    return name
        return None


def _uses(add: Callable[..., None], where_file: str, where: str, expr: str) -> set[str]:
    try:
        return metric_names(expr)
    except PromQLTokenError as error:
        add(where_file, f"{where}: cannot read the expression: {error}")
        return set()


def check_contract(contract_path: str, rule_paths: list[str], dashboard_paths: list[str],
                   prometheus_config: str | None, problems: list[Problem]) -> str:
    """The contract against its users and producers: problems go to `problems`; the summary."""
    contract = Contract(contract_path, load_yaml(contract_path), problems)
    add = collector(problems, "contract-usage")

    recorded: dict[str, str] = {}  # record name -> expr
    users: list[tuple[str, str, str]] = []  # (file, where, expr)
    alerts: list[tuple[str, str, str]] = []
    for path, doc in load_each(rule_paths, load_yaml, problems).items():
        for group, rule in rules_of(doc):
            expr = str(rule.get("expr", ""))
            if "record" in rule:
                recorded[str(rule["record"])] = expr
                users.append((path, f"group {group!r}, record {rule['record']}", expr))
            elif "alert" in rule:
                users.append((path, f"group {group!r}, alert {rule['alert']}", expr))
                alerts.append((path, str(rule["alert"]), expr))
    for path, board in load_each(dashboard_paths, load_json, problems).items():
        for panel in panels_of(board):
            for target in panel.get("targets") or []:
                if isinstance(target, dict) and isinstance(target.get("expr"), str):
                    users.append((path, f"{panel_label(panel)}, target {target.get('refId')}",
                                  target["expr"]))

    used_metrics: set[str] = set()
    used_records: set[str] = set()
    for path, where, expr in users:
        for series in sorted(_uses(add, path, where, expr)):
            if series in recorded:
                used_records.add(series)
                continue
            metric = contract.resolve(series)
            if metric is None:
                add(path, f"{where}: metric {series} is not in {contract_path} "
                          "(add it to the job that exposes it) and no recording rule records it")
            else:
                used_metrics.add(metric)
    for name, spec in contract.metrics.items():
        if name not in used_metrics:
            add(contract_path, f"metric {name} (job {spec['_job']}) is used by no rule and no "
                               "dashboard panel: remove it or use it")
    for record in recorded:
        if record not in used_records:
            add(contract_path, f"recording rule {record} is read by no alert, panel or other "
                               "recording rule")

    _check_quantile_thresholds(contract, recorded, alerts, problems)
    _check_producers(contract, problems)
    if prometheus_config:
        _check_scrape_jobs(contract, prometheus_config, problems)
    return (f"{len(contract.metrics)} contract metrics in {len(contract.jobs)} jobs, "
            f"{len(recorded)} recording rules, {len(users)} expressions checked")


def _check_quantile_thresholds(contract: Contract, recorded: dict[str, str],
                               alerts: list[tuple[str, str, str]], problems: list[Problem]) -> None:
    add = collector(problems, "quantile-threshold")
    for path, alert, expr in alerts:
        match = THRESHOLD.search(expr.strip())
        if not match:
            continue
        try:
            expanded = expand_recorded(expr, recorded)
        except PromQLTokenError:
            continue
        if not any("histogram_quantile" in e for e in expanded):
            continue
        threshold = float(match.group(1))
        for part in expanded:
            for series in metric_names(part):
                metric = contract.resolve(series)
                spec = contract.metrics.get(metric or "")
                if not spec or spec.get("type") != "histogram" or not spec.get("buckets"):
                    continue
                highest = max(spec["buckets"])
                if threshold >= highest:
                    add(path, f"alert {alert}: threshold {match.group(1)} is not below the highest "
                              f"finite bucket {highest} of {metric} in {contract.path}; "
                              "histogram_quantile() never exceeds it, so the alert can never fire")


def _check_producers(contract: Contract, problems: list[Problem]) -> None:
    """Metrics of a job whose producer is a query-exporter config are the ones it defines."""
    add = collector(problems, "contract-producer")
    for job, spec in contract.jobs.items():
        config_path = spec.get("config")
        if not config_path:
            continue
        loaded = load_each([config_path], load_yaml, problems)
        if config_path not in loaded:
            continue
        config = loaded[config_path]
        databases = sorted((config or {}).get("databases") or {})
        produced = {}
        for name, metric in ((config or {}).get("metrics") or {}).items():
            used = any(name in (q or {}).get("metrics", []) for q in ((config or {}).get("queries") or {}).values())
            if used:
                produced[name] = {*((metric or {}).get("labels") or []), *(["database"] if databases else [])}
        wanted = {name: set((m.get("labels") or {})) for name, m in (spec.get("metrics") or {}).items()}
        for name in sorted(set(wanted) - set(produced)):
            add(contract.path, f"metric {name} (job {job}) has no producer: no query of "
                               f"{config_path} updates a metric of that name")
        for name in sorted(set(produced) - set(wanted)):
            add(contract.path, f"job {job}: {config_path} produces {name}, which the contract lacks")
        for name in sorted(set(wanted) & set(produced)):
            if wanted[name] != produced[name]:
                add(contract.path, f"metric {name} (job {job}): labels {sorted(wanted[name])}, but "
                                   f"{config_path} produces {sorted(produced[name])}")


def _check_scrape_jobs(contract: Contract, config_path: str, problems: list[Problem]) -> None:
    add = collector(problems, "contract-scrape")
    loaded = load_each([config_path], load_yaml, problems)
    if config_path not in loaded:
        return
    config = loaded[config_path]
    paths = {str(job.get("job_name")): job.get("metrics_path", "/metrics")
             for job in (config or {}).get("scrape_configs") or [] if isinstance(job, dict)}
    scraped = {name: (set(targets), paths[name]) for name, targets in static_targets(config).items()
               if name in paths}
    for name, spec in contract.jobs.items():
        wanted = set(spec.get("targets") or [])
        if not wanted:
            continue
        if name not in scraped:
            add(config_path, f"no scrape job {name!r}, which {contract.path} says exposes "
                             f"{', '.join(sorted(wanted))}")
            continue
        targets, path = scraped[name]
        if not wanted <= targets:
            add(config_path, f"job {name}: targets {sorted(targets)} lack "
                             f"{sorted(wanted - targets)} from {contract.path}")
        if path != spec.get("path", "/metrics"):
            add(config_path, f"job {name}: metrics_path {path!r}, but {contract.path} "
                             f"says {spec.get('path')!r}")


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--contract", required=True)
    parser.add_argument("--rules", nargs="*", default=[])
    parser.add_argument("--dashboards", nargs="*", default=[])
    parser.add_argument("--prometheus-config")


def check(args: argparse.Namespace) -> tuple[list[Problem], str]:
    problems: list[Problem] = []
    summary = check_contract(args.contract, args.rules, args.dashboards, args.prometheus_config,
                             problems)
    return problems, summary


if __name__ == "__main__":
    raise SystemExit(run_check("metrics-contract", __doc__, arguments, check))
