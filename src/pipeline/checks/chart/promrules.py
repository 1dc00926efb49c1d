"""The rendered PrometheusRule is scoped to its environment.

    helm template ... --namespace NS | python -m pipeline.checks.chart.promrules --env ENV --namespace NS

One Prometheus evaluates the PrometheusRule of every environment. Fails when
- a vector selector of a rendered rule lacks `namespace="NS"` (the release namespace):
  the rule would read every environment's series, and its absent() guard would be
  masked by another environment's targets;
- the EDC's rule groups (dpp-edc*) are rendered without the EDC (a permanent alert for a
  component that is not deployed), or missing with it;
- an `absent(up{job="X"})` guard names a job no rendered ServiceMonitor scrapes: it would
  fire forever (e.g. EDC agent rules with edc.metrics.enabled=false);
- the render has ServiceMonitors (monitoring enabled) but no PrometheusRule.
"""

from __future__ import annotations

import argparse
import re

from pipeline import layout
from pipeline.checks.chart.render import render_arguments
from pipeline.checks.cli import run_check
from pipeline.checks.files import load_stream
from pipeline.checks.monitoring.promql import PromQLTokenError, label_matcher, selectors
from pipeline.checks.problem import Problem
from pipeline.model.kube import of_kind, rid, template_sources, workloads

EDC_GROUP_PREFIX = "dpp-edc"
EDC_COMPONENT = "edc-controlplane"
ABSENT = re.compile(r"absent\s*\(\s*$")
JOB = re.compile(r'(?:^|[,\s])job\s*=\s*"([^"]*)"')


def monitored_jobs(docs: list[dict]) -> set[str]:
    """The `job` labels the rendered ServiceMonitors give their targets (relabelled, else the
    Service name prometheus-operator uses)."""
    jobs = set()
    for monitor in of_kind(docs, "ServiceMonitor"):
        for endpoint in (monitor.get("spec") or {}).get("endpoints") or []:
            for relabel in endpoint.get("relabelings") or []:
                if relabel.get("targetLabel") == "job" and relabel.get("replacement"):
                    jobs.add(str(relabel["replacement"]))
    return jobs


def check_render(docs: list[dict], namespace: str,
                 sources: dict[str, str] | None = None) -> tuple[list[Problem], str]:
    """The problems of one render (`sources`: kind/name -> its chart template) and a summary."""
    sources = sources or {}
    problems: list[Problem] = []
    wanted = f'namespace="{namespace}"'
    rules = of_kind(docs, "PrometheusRule")
    if of_kind(docs, "ServiceMonitor") and not rules:
        problems.append(Problem("", "the render has ServiceMonitors but no PrometheusRule",
                                rule="rules-rendered"))
    edc = any(((t.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component")
              == EDC_COMPONENT for _, t, _ in workloads(docs))
    groups = [(r, g) for r in rules for g in (r.get("spec") or {}).get("groups") or []]
    edc_groups = [(r, g.get("name")) for r, g in groups
                  if str(g.get("name", "")).startswith(EDC_GROUP_PREFIX)]
    if edc_groups and not edc:
        resource = rid(edc_groups[0][0])
        problems.append(Problem(
            sources.get(resource, ""), resource=resource, field="spec.groups", rule="edc-groups",
            message=f"rule groups {', '.join(name for _, name in edc_groups)} are rendered without the "
                    "EDC (edc.enabled=false): their absent() guards would fire forever"))
    if rules and edc and not edc_groups:
        problems.append(Problem(sources.get(rid(rules[0]), ""), resource=rid(rules[0]), field="spec.groups",
                                message=f"the EDC is rendered but no {EDC_GROUP_PREFIX}* rule group",
                                rule="edc-groups"))
    count = 0
    scraped = monitored_jobs(docs)
    for resource, group in groups:
        for rule in group.get("rules") or []:
            count += 1
            problems += _rule_problems(rule, group, resource, sources, wanted, scraped)
    return problems, (f"{count} rules in {len(groups)} groups scoped to {wanted}"
                      f"{'' if edc else ', no EDC groups'}")


def _rule_problems(rule: dict, group: dict, resource: dict, sources: dict[str, str], wanted: str,
                   scraped: set[str]) -> list[Problem]:
    kind = "alert" if "alert" in rule else "record"
    name = rid(resource)

    def problem(message: str, rule_id: str) -> Problem:
        return Problem(sources.get(name, ""), message, resource=name,
                       field=f"group {group.get('name')!r}, {kind} {rule.get(kind)}", rule=rule_id)

    expr = str(rule.get("expr", ""))
    try:
        found = selectors(expr)
    except PromQLTokenError as error:
        return [problem(f"cannot read the expression: {error}", "namespace-scope")]
    problems = []
    for selector in found:
        job = JOB.search(selector.matchers)
        if (selector.name == "up" and job and ABSENT.search(expr[:selector.start])
                and job.group(1) not in scraped):
            problems.append(problem(f"absent(up{{job=\"{job.group(1)}\"}}) guards a job no rendered "
                                    "ServiceMonitor scrapes: it would fire forever", "absent-guard"))
        matcher = label_matcher(selector, "namespace")
        if matcher != wanted:
            text = expr[selector.start:(selector.braces or (0, selector.name_end))[1]]
            problems.append(problem(f"selector {text} is not scoped to the release namespace "
                                    f"({wanted}{', found ' + matcher if matcher else ''})",
                                    "namespace-scope"))
    return problems


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True)
    parser.add_argument("--namespace", required=True, help="the release namespace of the render")
    render_arguments(parser, chart=False)


def check(args: argparse.Namespace) -> tuple[list[Problem], str]:
    docs, text = load_stream(args.file)
    problems, summary = check_render(docs, args.namespace, template_sources(text, layout.CHART))
    return problems, f"{args.env}: {summary}"


if __name__ == "__main__":
    raise SystemExit(run_check("prometheusrule", __doc__, arguments, check))
