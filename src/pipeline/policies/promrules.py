"""The rendered PrometheusRule is scoped to its environment.

    helm template ... --namespace NS | python -m pipeline.policies.promrules --env ENV --namespace NS

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
import sys

from pipeline.contracts.promql import PromQLTokenError, label_matcher, selectors
from pipeline.policies.manifests import load, of_kind, report, workloads

EDC_GROUP_PREFIX = "dpp-edc"
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
EDC_COMPONENT = "edc-controlplane"


def check(docs: list[dict], namespace: str) -> tuple[list[str], str]:
    problems: list[str] = []
    wanted = f'namespace="{namespace}"'
    rules = of_kind(docs, "PrometheusRule")
    if of_kind(docs, "ServiceMonitor") and not rules:
        problems.append("the render has ServiceMonitors but no PrometheusRule")
    edc = any(((t.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component")
              == EDC_COMPONENT for _, t, _ in workloads(docs))
    groups = [(r["metadata"]["name"], g) for r in rules for g in (r.get("spec") or {}).get("groups") or []]
    edc_groups = [g.get("name") for _, g in groups if str(g.get("name", "")).startswith(EDC_GROUP_PREFIX)]
    if edc_groups and not edc:
        problems.append(f"rule groups {', '.join(edc_groups)} are rendered without the EDC (edc.enabled=false): "
                        "their absent() guards would fire forever")
    if rules and edc and not edc_groups:
        problems.append(f"the EDC is rendered but no {EDC_GROUP_PREFIX}* rule group")
    count = 0
    scraped = monitored_jobs(docs)
    for resource, group in groups:
        for rule in group.get("rules") or []:
            count += 1
            kind = "alert" if "alert" in rule else "record"
            where = f"PrometheusRule/{resource}: group {group.get('name')!r}, {kind} {rule.get(kind)}"
            try:
                found = selectors(str(rule.get("expr", "")))
            except PromQLTokenError as error:
                problems.append(f"{where}: cannot read the expression: {error}")
                continue
            for selector in found:
                job = JOB.search(selector.matchers)
                if (selector.name == "up" and job and ABSENT.search(str(rule["expr"])[:selector.start])
                        and job.group(1) not in scraped):
                    problems.append(f"{where}: absent(up{{job=\"{job.group(1)}\"}}) guards a job no rendered "
                                    "ServiceMonitor scrapes: it would fire forever")
                matcher = label_matcher(selector, "namespace")
                if matcher != wanted:
                    text = str(rule["expr"])[selector.start:(selector.braces or (0, selector.name_end))[1]]
                    problems.append(f"{where}: selector {text} is not scoped to the release namespace "
                                    f"({wanted}{', found ' + matcher if matcher else ''})")
    return problems, (f"{count} rules in {len(groups)} groups scoped to {wanted}"
                      f"{'' if edc else ', no EDC groups'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.policies.promrules", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True)
    parser.add_argument("--namespace", required=True, help="the release namespace of the render")
    parser.add_argument("file", nargs="?", default="-")
    args = parser.parse_args(argv)
    text = sys.stdin.read() if args.file == "-" else open(args.file, encoding="utf-8").read()
    problems, summary = check(load(text), args.namespace)
    return report("promrules", [f"{args.env}: {p}" for p in problems], f"{args.env}: {summary}")


if __name__ == "__main__":
    sys.exit(main())
