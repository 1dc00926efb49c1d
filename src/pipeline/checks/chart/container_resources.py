"""The resources rule: every container requests and limits CPU and memory (the budget of
all requests together is checks/chart/resources.py)."""

from __future__ import annotations

from pipeline.checks.chart.render import finding
from pipeline.checks.problem import Problem
from pipeline.model.kube import containers, rid, workloads


def check_resources(docs: list[dict], env: str) -> list[Problem]:
    """Every container requests and limits CPU and memory."""
    problems = []
    for doc, template, base in workloads(docs):
        for container, path in containers(template.get("spec") or {}, base):
            resources = container.get("resources") or {}
            for kind in ("requests", "limits"):
                for name in ("cpu", "memory"):
                    if name not in (resources.get(kind) or {}):
                        problems.append(finding("resources", rid(doc), f"{path}.resources.{kind}.{name}",
                                                "missing"))
    return problems
