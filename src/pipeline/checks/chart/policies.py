"""Policies over a render of the dpp-platform chart (`helm template ... | python -m ...`).

    helm template dpp-platform infra/helm/dpp-platform -f values-prod.yaml ... \
      | python -m pipeline.checks.chart.policies --env prod --values values.yaml --values values-prod.yaml

The tier (development, staging, production) that some rules depend on is read from the
values files (global.environment), so a new values-<env>.yaml needs no code change.

One module per rule (or a small family) in this package; each rule returns Problems naming
the resource (kind/name) and the field, and this module names the template. Rules (RULES):
labels, pod-security, resources, probes, service-accounts, checksums, image-tags,
hpa-replicas, pdb, topology-spread, secrets, ingress, keycloak, metrics.
"""

from __future__ import annotations

import argparse
from typing import Callable

from pipeline.checks.chart import (checksums, container_resources, image_tags, ingress, keycloak,
                                   labels, metrics, pod_security, probes, scaling, secrets,
                                   service_accounts)
from pipeline.checks.chart.render import read_render, render_arguments
from pipeline.checks.chart.tier import tier
from pipeline.checks.cli import run_check
from pipeline.checks.problem import Problem

# A rule gets the rendered documents and the environment's tier (global.environment).
Rule = Callable[[list[dict], str], list[Problem]]

RULES: dict[str, Rule] = {
    "labels": labels.check_labels,
    "pod-security": pod_security.check_pod_security,
    "resources": container_resources.check_resources,
    "probes": probes.check_probes,
    "service-accounts": service_accounts.check_service_accounts,
    "checksums": checksums.check_checksums,
    "image-tags": image_tags.check_image_tags,
    "hpa-replicas": scaling.check_hpa_replicas,
    "pdb": scaling.check_pdb,
    "topology-spread": scaling.check_topology_spread,
    "secrets": secrets.check_secrets,
    "ingress": ingress.check_ingress,
    "keycloak": keycloak.check_keycloak,
    "metrics": metrics.check_metrics,
}


def violations(docs: list[dict], env: str, rules: list[str] | None = None) -> list[Problem]:
    """The problems `rules` (default: all) find in `docs` for the tier `env`."""
    problems = []
    for name in rules or list(RULES):
        problems += RULES[name](docs, env)
    return problems


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, help="the environment's name (for messages)")
    parser.add_argument("--values", action="append", required=True, metavar="FILE",
                        help="the values files of the render, in helm's order (the tier, "
                             "global.environment, is read from them)")
    render_arguments(parser, rules=RULES)


def check(args: argparse.Namespace) -> tuple[list[Problem], str]:
    level = tier(args.values)
    render = read_render(args.file)
    rules = args.rule or list(RULES)
    return (render.located(violations(render.docs, level, rules), args.chart),
            f"{args.env} ({level}): {len(render.docs)} resources pass {len(rules)} rules "
            f"({', '.join(rules)})")


if __name__ == "__main__":
    raise SystemExit(run_check("chart-policies", __doc__, arguments, check))
