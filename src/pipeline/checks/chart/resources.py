"""Sum the resource requests of a render and check them against a budget.

    helm template ... -f values-dev.yaml | python -m pipeline.checks.chart.resources --env dev \
        [--max-cpu 4] [--max-memory 8Gi]

Per workload: pods (the HPA's minReplicas, else replicas) times the pod's
effective request (max of the largest init container and the sum of the app
containers, as the scheduler counts it). Helm test hooks are not counted (they
run on demand). Reports each workload's share (info) and fails when the total exceeds the budget.
"""

from __future__ import annotations

import argparse
import re

from pipeline.checks.chart.render import read_render, render_arguments
from pipeline.checks.chart.scaling import hpas_by_target
from pipeline.checks.chart.tier import tier
from pipeline.checks.cli import run_check
from pipeline.checks.problem import LoadError, Problem, Severity
from pipeline.model.kube import is_hook, rid, workloads

RULE = "resources"
REQUESTS = "spec.template.spec.containers[*].resources.requests"

_UNITS = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
          "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4, "m": 1e-3}
# Kubernetes' quantity grammar (apimachinery resource.Quantity): a decimal, then a binary or
# decimal SI suffix, or a decimal exponent (1e3, 2E-3).
_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def quantity(value: object) -> float:
    """A Kubernetes quantity ("250m", "1Gi", 2) as a float (cores or bytes)."""
    match = _QUANTITY.match(str(value).strip())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"not a quantity: {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _pod_requests(pod: dict) -> tuple[float, float]:
    def total(containers: list) -> tuple[float, float]:
        cpu = sum(quantity(((c.get("resources") or {}).get("requests") or {}).get("cpu", 0)) for c in containers)
        mem = sum(quantity(((c.get("resources") or {}).get("requests") or {}).get("memory", 0)) for c in containers)
        return cpu, mem
    app_cpu, app_mem = total(pod.get("containers") or [])
    inits = [total([c]) for c in pod.get("initContainers") or []]
    init_cpu = max((c for c, _ in inits), default=0.0)
    init_mem = max((m for _, m in inits), default=0.0)
    return max(app_cpu, init_cpu), max(app_mem, init_mem)


def summary(docs: list[dict]) -> list[tuple[str, int, float, float]]:
    """(workload, pods, cpu cores, memory bytes) per workload."""
    hpas = {target: int(hpa["spec"].get("minReplicas", 1)) for target, hpa in hpas_by_target(docs).items()}
    rows = []
    for doc, template, _ in workloads(docs):
        if is_hook(doc):
            continue
        key = (doc["kind"], doc["metadata"]["name"])
        pods = hpas.get(key, int((doc.get("spec") or {}).get("replicas", 1))) if doc["kind"] != "Pod" else 1
        try:
            cpu, mem = _pod_requests(template.get("spec") or {})
        except ValueError as error:  # a request that is not a Kubernetes quantity
            raise LoadError(f"{rid(doc)}: {REQUESTS}: {error}") from error
        rows.append((rid(doc), pods, cpu * pods, mem * pods))
    return rows


# The local cluster every developer runs a development-tier environment on.
TIER_BUDGETS = {"development": ("4", "8Gi")}


def _mebibytes(value: float) -> str:
    return f"{value / 1024 ** 2:.0f}Mi"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, help="the environment's name (for messages)")
    parser.add_argument("--values", action="append", metavar="FILE",
                        help="the values files of the render: their tier (global.environment) "
                             "picks the budget of TIER_BUDGETS")
    parser.add_argument("--max-cpu", help="budget in cores, e.g. 4 (default: the tier's)")
    parser.add_argument("--max-memory", help="budget as a quantity, e.g. 8Gi (default: the tier's)")
    render_arguments(parser)


def check(args: argparse.Namespace) -> tuple[list[Problem], str]:
    max_cpu, max_memory = args.max_cpu, args.max_memory
    if args.values:
        budget = TIER_BUDGETS.get(tier(args.values), (None, None))
        max_cpu, max_memory = max_cpu or budget[0], max_memory or budget[1]
    render = read_render(args.file)
    rows = summary(render.docs)
    if not rows:
        raise LoadError(f"{args.env}: no workloads on input")
    shares = [Problem(path="", resource=name, rule=RULE, severity=Severity.INFO,
                      message=f"{pods} pod(s) request {cpu:.2f} CPU, {_mebibytes(mem)}")
              for name, pods, cpu, mem in sorted(rows)]
    cpu, mem = sum(r[2] for r in rows), sum(r[3] for r in rows)
    total = f"{sum(r[1] for r in rows)} pod(s) request {cpu:.2f} CPU, {_mebibytes(mem)} at minimum scale"
    shares.append(Problem(path="", resource="total", message=total, rule=RULE, severity=Severity.INFO))
    over = []
    if max_cpu and cpu > quantity(max_cpu):
        over.append(f"CPU requests {cpu:.2f} cores exceed the budget of {max_cpu} cores")
    if max_memory and mem > quantity(max_memory):
        over.append(f"memory requests {mem / 1024 ** 3:.2f}Gi exceed the budget of {max_memory}")
    problems = render.located(shares, args.chart) + [
        Problem(path="", resource=args.env, field=REQUESTS, message=message, rule=RULE) for message in over]
    fits = f"fits the budget ({max_cpu or '-'} CPU, {max_memory or '-'})" if max_cpu or max_memory \
        else "no budget for its tier"
    return problems, f"{args.env}: {total}; {fits}"


if __name__ == "__main__":
    raise SystemExit(run_check("resources", __doc__, arguments, check))
