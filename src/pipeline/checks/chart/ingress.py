"""The ingress rule: every Ingress names its class, publishes no metrics or health endpoint,
and outside development terminates TLS for all its hosts."""

from __future__ import annotations

from pipeline.checks.chart.render import finding
from pipeline.checks.problem import Problem
from pipeline.model.kube import component, label_selector_matches, labels_of, of_kind, rid


def _covers(path: str, path_type: str, target: str) -> bool:
    """Whether an Ingress path (Prefix: element-wise, as Kubernetes matches) routes `target`."""
    if path_type == "Exact":
        return path == target
    prefix = path.rstrip("/")
    return prefix == "" or target == prefix or target.startswith(prefix + "/")


def _internal_endpoints(docs: list[dict]) -> dict[tuple[str, str], set[str]]:
    """{(Service name, port name): paths never to publish}: what ServiceMonitors scrape there,
    and Keycloak's /health and /metrics (Keycloak 24 serves them on its HTTP port)."""
    out: dict[tuple[str, str], set[str]] = {}
    services = of_kind(docs, "Service")
    for monitor in of_kind(docs, "ServiceMonitor"):
        spec = monitor.get("spec") or {}
        selector = spec.get("selector") or {}  # a struct: absent is {}, which selects every Service
        for service in services:
            if label_selector_matches(selector, labels_of(service)):
                for endpoint in spec.get("endpoints") or []:
                    out.setdefault((service["metadata"]["name"], str(endpoint.get("port"))), set()).add(
                        endpoint.get("path") or "/metrics")
    for service in services:
        if component(service) == "keycloak":
            for port in (service.get("spec") or {}).get("ports") or []:
                out.setdefault((service["metadata"]["name"], str(port.get("name"))), set()).update(
                    {"/health", "/metrics"})
    return out


def check_ingress(docs: list[dict], env: str) -> list[Problem]:
    """Every Ingress names its class and publishes no metrics or health endpoint; outside
    development it terminates TLS for all its hosts."""
    problems = []
    internal = _internal_endpoints(docs)
    for ingress in of_kind(docs, "Ingress"):
        spec = ingress.get("spec") or {}
        if not spec.get("ingressClassName"):
            problems.append(finding("ingress", rid(ingress), "spec.ingressClassName", "missing"))
        for rule in spec.get("rules") or []:
            for i, path in enumerate((rule.get("http") or {}).get("paths") or []):
                service = ((path.get("backend") or {}).get("service") or {})
                port = service.get("port") or {}
                hidden = internal.get((service.get("name"), str(port.get("name", port.get("number")))), set())
                route = str(path.get("path", "/"))
                exposed = sorted(t for t in hidden  # the route covers the endpoint, or lies under it
                                 if _covers(route, path.get("pathType", "Prefix"), t) or _covers(t, "Prefix", route))
                if exposed:
                    problems.append(finding(
                        "ingress", rid(ingress), f"spec.rules[{rule.get('host')}].http.paths[{i}].path",
                        f"{path.get('path')!r} publishes {', '.join(exposed)} of Service/{service.get('name')}"))
        if env != "development":
            tls_hosts = {h for t in spec.get("tls") or [] for h in t.get("hosts") or []}
            for rule in spec.get("rules") or []:
                if rule.get("host") not in tls_hosts:
                    problems.append(finding("ingress", rid(ingress), "spec.tls",
                                            f"host {rule.get('host')!r} is served without TLS"))
    return problems
