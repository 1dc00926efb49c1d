"""The checksums rule: pods that read a ConfigMap or Secret roll when it changes (a sha256
checksum annotation of it)."""

from __future__ import annotations

import re

from pipeline.checks.chart.render import finding
from pipeline.checks.problem import Problem
from pipeline.model.kube import containers, is_hook, of_kind, rid, workloads

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _references(pod: dict) -> tuple[set[str], set[str]]:
    """(ConfigMap names, Secret names) a pod spec reads."""
    configmaps: set[str] = set()
    secrets: set[str] = set()
    for container, _ in containers(pod, ""):
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                configmaps.add(source["configMapRef"]["name"])
            if "secretRef" in source:
                secrets.add(source["secretRef"]["name"])
        for var in container.get("env") or []:
            ref = var.get("valueFrom") or {}
            if "configMapKeyRef" in ref:
                configmaps.add(ref["configMapKeyRef"]["name"])
            if "secretKeyRef" in ref:
                secrets.add(ref["secretKeyRef"]["name"])
    for volume in pod.get("volumes") or []:
        if "configMap" in volume:
            configmaps.add(volume["configMap"]["name"])
        if "secret" in volume:
            secrets.add(volume["secret"]["secretName"])
    return configmaps, secrets


def check_checksums(docs: list[dict], env: str) -> list[Problem]:
    """Pods that read a ConfigMap or Secret carry a sha256 checksum annotation of it."""
    problems = []
    rendered_cms = {(d.get("metadata") or {}).get("name") for d in of_kind(docs, "ConfigMap")}
    for doc, template, base in workloads(docs):
        if is_hook(doc):
            continue
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        checksums = {k: v for k, v in annotations.items() if k.startswith("checksum/")}
        field = f"{base.removesuffix('.spec')}.metadata.annotations"
        for key, value in checksums.items():
            if not HEX64.match(str(value)):
                problems.append(finding("checksums", rid(doc), f"{field}.{key}",
                                        f"{value!r} is not a sha256 hex digest"))
        configmaps, secrets = _references(template.get("spec") or {})
        if configmaps & rendered_cms and not any(k.startswith("checksum/config") for k in checksums):
            problems.append(finding("checksums", rid(doc), f"{field}.checksum/config",
                                    f"missing (the pods read ConfigMap {sorted(configmaps & rendered_cms)})"))
        if secrets and not any(k.startswith("checksum/secret") for k in checksums):
            problems.append(finding("checksums", rid(doc), f"{field}.checksum/secret-*",
                                    f"missing (the pods read Secret {sorted(secrets)})"))
    return problems
