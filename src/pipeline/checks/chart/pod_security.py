"""The pod-security rule: Pod Security Standard "restricted", plus a read-only root filesystem."""

from __future__ import annotations

from pipeline.checks.chart.render import finding
from pipeline.checks.problem import Problem
from pipeline.model.kube import containers, rid, workloads

RESTRICTED_VOLUMES = {"configMap", "downwardAPI", "emptyDir", "projected", "secret", "csi",
                      "persistentVolumeClaim", "ephemeral", "image"}


def check_pod_security(docs: list[dict], env: str) -> list[Problem]:
    """Pod Security Standard "restricted", plus a read-only root filesystem."""
    problems = []
    for doc, template, base in workloads(docs):
        pod = template.get("spec") or {}
        psc = pod.get("securityContext") or {}
        res = rid(doc)
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(key):
                problems.append(finding("pod-security", res, f"{base}.{key}", "host namespaces are forbidden"))
        for volume in pod.get("volumes") or []:
            kinds = set(volume) - {"name"}
            if not kinds <= RESTRICTED_VOLUMES:
                problems.append(finding("pod-security", res, f"{base}.volumes[{volume.get('name')}]",
                                        f"volume type {sorted(kinds - RESTRICTED_VOLUMES)} is not allowed"))
        if psc.get("runAsUser") == 0:
            problems.append(finding("pod-security", res, f"{base}.securityContext.runAsUser", "must not be 0"))
        pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
        for container, path in containers(pod, base):
            sc = container.get("securityContext") or {}
            field = f"{path}.securityContext"
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(finding("pod-security", res, f"{field}.allowPrivilegeEscalation", "must be false"))
            if sc.get("privileged"):
                problems.append(finding("pod-security", res, f"{field}.privileged", "must not be true"))
            if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
                problems.append(finding("pod-security", res, f"{field}.runAsNonRoot",
                                        "must be true (here or in the pod securityContext)"))
            if sc.get("runAsUser", psc.get("runAsUser")) == 0:
                problems.append(finding("pod-security", res, f"{field}.runAsUser", "must not be 0"))
            seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
            if seccomp not in ("RuntimeDefault", "Localhost"):
                problems.append(finding("pod-security", res, f"{field}.seccompProfile.type",
                                        f"must be RuntimeDefault or Localhost, not {seccomp!r}"))
            caps = sc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []):
                problems.append(finding("pod-security", res, f"{field}.capabilities.drop", "must include ALL"))
            added = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
            if added:
                problems.append(finding("pod-security", res, f"{field}.capabilities.add",
                                        f"{sorted(added)} not allowed (only NET_BIND_SERVICE)"))
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(finding("pod-security", res, f"{field}.readOnlyRootFilesystem",
                                        "must be true (mount an emptyDir where writes are needed)"))
            for port in container.get("ports") or []:
                if port.get("hostPort"):
                    problems.append(finding("pod-security", res, f"{path}.ports[{port.get('name')}].hostPort",
                                            "host ports are forbidden"))
    return problems
