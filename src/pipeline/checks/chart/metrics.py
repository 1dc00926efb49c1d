"""The metrics rule: every ServiceMonitor scrapes what its pods really serve."""

from __future__ import annotations

from pipeline.checks.chart.render import finding
from pipeline.checks.problem import Problem
from pipeline.model.kube import (component, effective_env, label_selector_matches, labels_of, of_kind,
                                 rid, service_selects, workloads)


def check_metrics(docs: list[dict], env: str) -> list[Problem]:
    """Every ServiceMonitor scrapes what its pods really serve: the Service port exists and
    targets a container port; the EDC's port only exists with its OpenTelemetry agent on, and
    MinIO's cluster metrics need MINIO_PROMETHEUS_AUTH_TYPE=public (else 403)."""
    problems = []
    services = of_kind(docs, "Service")
    pods = list(workloads(docs))
    for monitor in of_kind(docs, "ServiceMonitor"):
        spec = monitor.get("spec") or {}
        selector = spec.get("selector") or {}  # a struct: absent is {}, which selects every Service
        selected = [s for s in services if label_selector_matches(selector, labels_of(s))]
        if not selected:
            problems.append(finding("metrics", rid(monitor), "spec.selector", "selects no Service of the release"))
        for i, endpoint in enumerate(spec.get("endpoints") or []):
            field = f"spec.endpoints[{i}]"
            exposing = [(service, port) for service in selected
                        for port in (service.get("spec") or {}).get("ports") or []
                        if port.get("name") == endpoint.get("port")]
            if selected and not exposing:
                problems.append(finding("metrics", rid(monitor), f"{field}.port",
                                        f"{endpoint.get('port')!r} is a port of none of "
                                        f"{', '.join(rid(s) for s in selected)}"))
            if len(exposing) > 1:
                problems.append(finding("metrics", rid(monitor), "spec.selector",
                                        f"port {endpoint.get('port')!r} is scraped twice, through "
                                        f"{', '.join(rid(s) for s, _ in exposing)} (duplicate series)"))
            for service, port in exposing:
                target = port.get("targetPort", port.get("port"))
                backing = [(doc, c) for doc, template, _ in pods
                           if service_selects((service.get("spec") or {}).get("selector"), labels_of(template))
                           for c in (template.get("spec") or {}).get("containers") or []]
                serving = [(doc, c) for doc, c in backing
                           if any(target in (p.get("name"), p.get("containerPort")) for p in c.get("ports") or [])]
                if not serving:
                    problems.append(finding("metrics", rid(monitor), f"{field}.port",
                                            f"{rid(service)} port {port.get('name')!r} targets {target!r}, "
                                            "which no container of its pods declares"))
                for doc, container in serving:
                    values = effective_env(container, docs)
                    where = f"spec.template.spec.containers[{container.get('name')}].env"
                    if component(doc) in ("edc-controlplane", "edc-dataplane") and \
                            str(values.get("OTEL_JAVAAGENT_ENABLED")) != "true":
                        problems.append(finding("metrics", rid(doc), f"{where}[OTEL_JAVAAGENT_ENABLED]",
                                                f"must be \"true\": {rid(monitor)} scrapes the OpenTelemetry "
                                                "agent's Prometheus exporter, which only runs with the agent"))
                    if str(endpoint.get("path", "")).startswith("/minio/v2/metrics") and \
                            values.get("MINIO_PROMETHEUS_AUTH_TYPE") != "public":
                        problems.append(finding("metrics", rid(doc), f"{where}[MINIO_PROMETHEUS_AUTH_TYPE]",
                                                f"must be \"public\": {rid(monitor)} sends no bearer token"))
    return problems
