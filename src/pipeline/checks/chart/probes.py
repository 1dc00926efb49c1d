"""The probes rule: readiness and liveness on every long-running container, startup on slow
starters, each probing a port its container declares."""

from __future__ import annotations

from pipeline.checks.chart.render import finding
from pipeline.checks.problem import Problem
from pipeline.model.kube import component, is_hook, rid, workloads

SLOW_STARTERS = {"keycloak", "edc-controlplane", "edc-dataplane"}


def check_probes(docs: list[dict], env: str) -> list[Problem]:
    """Readiness and liveness on every long-running container; startup on slow starters."""
    problems = []
    for doc, template, base in workloads(docs):
        if is_hook(doc) or doc.get("kind") in ("Job", "CronJob"):
            continue
        slow = component(doc) in SLOW_STARTERS
        for container in (template.get("spec") or {}).get("containers") or []:
            path = f"{base}.containers[{container.get('name')}]"
            wanted = ["readinessProbe", "livenessProbe"]
            if slow and container.get("name") not in ("exporter",):
                wanted.append("startupProbe")
            for probe in wanted:
                if not container.get(probe):
                    problems.append(finding("probes", rid(doc), f"{path}.{probe}", "missing"))
            ports = container.get("ports") or []
            declared = {p.get("name") for p in ports} | {p.get("containerPort") for p in ports}
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                for handler in ("httpGet", "tcpSocket", "grpc"):
                    target = ((container.get(probe) or {}).get(handler) or {}).get("port")
                    if target is not None and target not in declared:
                        problems.append(finding("probes", rid(doc), f"{path}.{probe}.{handler}.port",
                                                f"{target!r} is not a port of the container "
                                                f"({', '.join(str(p.get('name') or p.get('containerPort')) for p in ports) or 'none'})"))
    return problems
