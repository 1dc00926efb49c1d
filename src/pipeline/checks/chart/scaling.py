"""The scaling rules: hpa-replicas (an HPA owns `replicas`), pdb (a PodDisruptionBudget never
blocks a drain) and topology-spread (production pods spread over zones and nodes)."""

from __future__ import annotations

from pipeline.checks.chart.render import finding
from pipeline.checks.problem import Problem
from pipeline.model.kube import label_selector_matches, labels_of, of_kind, rid


def _workload_index(docs: list[dict]) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs
            if d.get("kind") in ("Deployment", "StatefulSet")}


def _pod_labels(workload: dict) -> dict:
    return labels_of((workload.get("spec") or {}).get("template") or {})


def hpas_by_target(docs: list[dict]) -> dict[tuple[str, str], dict]:
    """{(kind, name) of the scaled workload: its HorizontalPodAutoscaler}."""
    out = {}
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        out[(ref.get("kind"), ref.get("name"))] = hpa
    return out


def check_hpa_replicas(docs: list[dict], env: str) -> list[Problem]:
    """An HPA is autoscaling/v2 and targets a workload that leaves `replicas` out."""
    problems = []
    index = _workload_index(docs)
    for target, hpa in hpas_by_target(docs).items():
        if hpa.get("apiVersion") != "autoscaling/v2":
            problems.append(finding("hpa-replicas", rid(hpa), "apiVersion", "must be autoscaling/v2"))
        workload = index.get(target)
        if workload is None:
            problems.append(finding("hpa-replicas", rid(hpa), "spec.scaleTargetRef",
                                    f"{target[0]}/{target[1]} is not part of the release"))
        elif "replicas" in (workload.get("spec") or {}):
            problems.append(finding("hpa-replicas", rid(workload), "spec.replicas",
                                    f"must be left out: {rid(hpa)} manages it (ArgoCD would fight the HPA)"))
    return problems


def _min_pods(workload: dict, hpas: dict) -> int:
    hpa = hpas.get((workload["kind"], workload["metadata"]["name"]))
    if hpa is not None:
        return int((hpa.get("spec") or {}).get("minReplicas", 1))
    return int((workload.get("spec") or {}).get("replicas", 1))


def _count(value: object, pods: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return -(-pods * int(value[:-1]) // 100)  # ceil, as the disruption controller does
    return int(value)


def check_pdb(docs: list[dict], env: str) -> list[Problem]:
    """A PDB never blocks a node drain: it covers >= 2 pods and always allows one eviction."""
    problems = []
    hpas = hpas_by_target(docs)
    index = _workload_index(docs)
    for pdb in of_kind(docs, "PodDisruptionBudget"):
        spec = pdb.get("spec") or {}
        targets = [w for w in index.values()
                   if label_selector_matches(spec.get("selector"), _pod_labels(w))]
        if not targets:
            problems.append(finding("pdb", rid(pdb), "spec.selector", "selects no workload of the release"))
            continue
        pods = sum(_min_pods(w, hpas) for w in targets)
        if pods < 2:
            problems.append(finding("pdb", rid(pdb), "spec.selector",
                                    f"covers {pods} pod(s) of {', '.join(rid(w) for w in targets)}: "
                                    "a PDB over a single replica blocks every drain (skip it below 2)"))
        if "maxUnavailable" in spec and _count(spec["maxUnavailable"], pods) < 1:
            problems.append(finding("pdb", rid(pdb), "spec.maxUnavailable",
                                    f"{spec['maxUnavailable']!r} allows no eviction: drains hang"))
        if "minAvailable" in spec and _count(spec["minAvailable"], pods) >= pods:
            problems.append(finding("pdb", rid(pdb), "spec.minAvailable",
                                    f"{spec['minAvailable']!r} of {pods} pod(s) allows no eviction: drains hang"))
        if "unhealthyPodEvictionPolicy" not in spec:
            problems.append(finding("pdb", rid(pdb), "spec.unhealthyPodEvictionPolicy",
                                    "missing (AlwaysAllow lets drains evict crash-looping pods)"))
    return problems


def check_topology_spread(docs: list[dict], env: str) -> list[Problem]:
    """In production, every Deployment and StatefulSet spreads its pods (zone and node)."""
    if env != "production":
        return []
    problems = []
    for doc in of_kind(docs, "Deployment", "StatefulSet"):
        pod_labels = _pod_labels(doc)
        constraints = ((doc["spec"].get("template") or {}).get("spec") or {}).get("topologySpreadConstraints") or []
        field = "spec.template.spec.topologySpreadConstraints"
        if not constraints:
            problems.append(finding("topology-spread", rid(doc), field, "missing in production"))
            continue
        keys = {c.get("topologyKey") for c in constraints}
        if "topology.kubernetes.io/zone" not in keys:
            problems.append(finding("topology-spread", rid(doc), field, "no constraint over topology.kubernetes.io/zone"))
        for i, constraint in enumerate(constraints):
            if not label_selector_matches(constraint.get("labelSelector"), pod_labels):
                problems.append(finding("topology-spread", rid(doc), f"{field}[{i}].labelSelector",
                                        "does not select the workload's own pods"))
    return problems
