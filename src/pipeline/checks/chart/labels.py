"""The labels rule: standard labels everywhere; selectors use only name, instance and component."""

from __future__ import annotations

from pipeline.checks.chart.render import finding
from pipeline.checks.problem import Problem
from pipeline.model.kube import labels_of, rid

STANDARD_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                   "app.kubernetes.io/managed-by", "helm.sh/chart", "app.kubernetes.io/part-of")
SELECTOR_KEYS = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}


def check_labels(docs: list[dict], env: str) -> list[Problem]:
    """Standard labels everywhere; selectors use only name, instance and component."""
    problems = []
    for doc in docs:
        labels = labels_of(doc)
        for key in STANDARD_LABELS:
            if key not in labels:
                problems.append(finding("labels", rid(doc), f"metadata.labels.{key}", "missing"))
        selectors = []
        spec = doc.get("spec") or {}
        if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "PodDisruptionBudget"):
            selectors.append(("spec.selector.matchLabels", (spec.get("selector") or {}).get("matchLabels") or {}))
        if doc.get("kind") == "Service" and spec.get("selector"):
            selectors.append(("spec.selector", spec["selector"]))
        if doc.get("kind") == "NetworkPolicy":
            selectors.append(("spec.podSelector.matchLabels", (spec.get("podSelector") or {}).get("matchLabels") or {}))
        for field, selector in selectors:
            extra = sorted(set(selector) - SELECTOR_KEYS)
            if extra:
                problems.append(finding("labels", rid(doc), field,
                                        f"selector keys {extra} are not allowed (only name, instance, component)"))
            for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance"):
                if key not in selector:
                    problems.append(finding("labels", rid(doc), f"{field}.{key}", "missing from the selector"))
        if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet"):
            selector = (spec.get("selector") or {}).get("matchLabels") or {}
            pod_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            for key, value in selector.items():
                if pod_labels.get(key) != value:
                    problems.append(finding("labels", rid(doc), f"spec.template.metadata.labels.{key}",
                                            f"must equal the selector's {value!r}"))
    return problems
