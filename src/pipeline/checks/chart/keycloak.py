"""The keycloak rule: Keycloak runs the production `start` with health, metrics and proxy headers."""

from __future__ import annotations

from pipeline.checks.chart.render import finding
from pipeline.checks.problem import Problem
from pipeline.model.kube import component, effective_env, rid, workloads

# The upstream image, as shipped: not built with the chart's build-time options.
STOCK_KEYCLOAK = "keycloak/keycloak"


def check_keycloak(docs: list[dict], env: str) -> list[Problem]:
    """Keycloak runs the production `start` with health, metrics and proxy headers."""
    problems = []
    for doc, template, base in workloads(docs):
        if component(doc) != "keycloak":
            continue
        for container in (template.get("spec") or {}).get("containers") or []:
            if container.get("name") != "keycloak":
                continue
            path = f"{base}.containers[keycloak]"
            args = [*(container.get("command") or []), *(container.get("args") or [])]
            if "start" not in args or "start-dev" in args:
                problems.append(finding("keycloak", rid(doc), f"{path}.args",
                                        f"{args}: must run the production `start`"))
            image = str(container.get("image", ""))
            stock = image.split("@")[0].rsplit(":", 1)[0].endswith(STOCK_KEYCLOAK)
            builds = any("kc.sh build" in " ".join([*(c.get("command") or []), *(c.get("args") or [])])
                         for c in (template.get("spec") or {}).get("initContainers") or [])
            if "--optimized" in args and stock and not builds:
                problems.append(finding("keycloak", rid(doc), f"{path}.args",
                                        f"`start --optimized` on the stock image {image!r} without a `kc.sh build` "
                                        "init container: the build-time options (KC_DB, KC_HEALTH_ENABLED, "
                                        "KC_METRICS_ENABLED) are ignored, so health probes 404"))
            readonly = (container.get("securityContext") or {}).get("readOnlyRootFilesystem") is True
            if "start" in args and "--optimized" not in args and readonly:
                problems.append(finding("keycloak", rid(doc), f"{path}.args",
                                        "`start` without --optimized rebuilds at boot, which fails on a "
                                        "read-only root filesystem (build first, then start --optimized)"))
            env_vars = {v.get("name"): v.get("value") for v in container.get("env") or []}
            for name in ("KC_HEALTH_ENABLED", "KC_METRICS_ENABLED"):
                if env_vars.get(name) != "true":
                    problems.append(finding("keycloak", rid(doc), f"{path}.env[{name}]", "must be \"true\""))
            config = effective_env(container, docs)
            for name in ("KC_HOSTNAME", "KC_PROXY_HEADERS", "KC_DB_URL"):
                if not config.get(name):
                    problems.append(finding("keycloak", rid(doc), f"{path}.env[{name}]", "missing"))
    return problems
