"""Sum the resource requests of a render and check them against a budget.

    helm template ... -f values-dev.yaml | python -m pipeline.policies.resources --env dev \
        [--max-cpu 4] [--max-memory 8Gi]

Per workload: pods (the HPA's minReplicas, else replicas) times the pod's
effective request (max of the largest init container and the sum of the app
containers, as the scheduler counts it). Helm test hooks are not counted (they
run on demand). Prints the table; exits 1 when the total exceeds the budget.
"""

from __future__ import annotations

import argparse
import re
import sys

from pipeline.policies.tier import TierError, tier
from pipeline.policies.manifests import load, of_kind, rid, workloads

_UNITS = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
          "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4, "m": 1e-3}
_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")


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
    hpas = {}
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        hpas[(ref["kind"], ref["name"])] = int(hpa["spec"].get("minReplicas", 1))
    rows = []
    for doc, template, _ in workloads(docs):
        if "helm.sh/hook" in ((doc.get("metadata") or {}).get("annotations") or {}):
            continue
        key = (doc["kind"], doc["metadata"]["name"])
        pods = hpas.get(key, int((doc.get("spec") or {}).get("replicas", 1))) if doc["kind"] != "Pod" else 1
        cpu, mem = _pod_requests(template.get("spec") or {})
        rows.append((rid(doc), pods, cpu * pods, mem * pods))
    return rows


# The local cluster every developer runs a development-tier environment on.
TIER_BUDGETS = {"development": ("4", "8Gi")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.policies.resources", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, help="the environment's name (for messages)")
    parser.add_argument("--values", action="append", metavar="FILE",
                        help="the values files of the render: their tier (global.environment) "
                             "picks the budget of TIER_BUDGETS")
    parser.add_argument("--max-cpu", help="budget in cores, e.g. 4 (default: the tier's)")
    parser.add_argument("--max-memory", help="budget as a quantity, e.g. 8Gi (default: the tier's)")
    parser.add_argument("file", nargs="?", default="-")
    args = parser.parse_args(argv)
    if args.values:
        try:
            budget = TIER_BUDGETS.get(tier(args.values), (None, None))
        except TierError as error:
            print(f"resources: {args.env}: {error}", file=sys.stderr)
            return 1
        args.max_cpu, args.max_memory = args.max_cpu or budget[0], args.max_memory or budget[1]
    text = sys.stdin.read() if args.file == "-" else open(args.file, encoding="utf-8").read()
    rows = summary(load(text))
    if not rows:
        print(f"resources: {args.env}: no workloads on input", file=sys.stderr)
        return 1
    width = max(len(r[0]) for r in rows)
    print(f"resources: {args.env}: requests at minimum scale")
    print(f"  {'workload':<{width}}  pods     cpu   memory")
    for name, pods, cpu, mem in sorted(rows):
        print(f"  {name:<{width}}  {pods:>4}  {cpu:>6.2f}  {mem / 1024 ** 2:>6.0f}Mi")
    cpu = sum(r[2] for r in rows)
    mem = sum(r[3] for r in rows)
    print(f"  {'total':<{width}}  {sum(r[1] for r in rows):>4}  {cpu:>6.2f}  {mem / 1024 ** 2:>6.0f}Mi")
    problems = []
    if args.max_cpu and cpu > quantity(args.max_cpu):
        problems.append(f"CPU requests {cpu:.2f} cores exceed the budget of {args.max_cpu} cores")
    if args.max_memory and mem > quantity(args.max_memory):
        problems.append(f"memory requests {mem / 1024 ** 3:.2f}Gi exceed the budget of {args.max_memory}")
    for problem in problems:
        print(f"resources: {args.env}: {problem} (spec.template.spec.containers[*].resources.requests)",
              file=sys.stderr)
    if not problems and (args.max_cpu or args.max_memory):
        print(f"resources: {args.env}: fits the budget ({args.max_cpu or '-'} CPU, {args.max_memory or '-'})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
