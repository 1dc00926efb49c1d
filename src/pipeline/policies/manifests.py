"""Reading rendered manifests (the stdout of `helm template`) and walking their pods."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Iterator

import yaml

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")


@dataclass(frozen=True)
class Problem:
    """One policy violation: the resource (kind/name), the field and why."""

    rule: str
    resource: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.field}: {self.message} [{self.rule}]"


def load(text: str) -> list[dict]:
    """The non-empty documents of a multi-document YAML stream."""
    return [doc for doc in yaml.load_all(text, yaml.CSafeLoader) if isinstance(doc, dict) and doc]


def template_sources(text: str, chart_dir: str | None = None) -> dict[str, str]:
    """kind/name -> the chart template it came from, from helm's `# Source:` comments
    (`<chart>/templates/...`; with `chart_dir`, the repo path of that file)."""
    out = {}
    for chunk in re.split(r"^---\s*$", text, flags=re.MULTILINE):
        source = re.search(r"^# Source: (\S+)", chunk, re.MULTILINE)
        kind = re.search(r"^kind:\s*(\S+)", chunk, re.MULTILINE)
        name = re.search(r"^metadata:\s*\n(?:[ \t]+.*\n)*?[ \t]+name:\s*[\"']?([^\"'\s]+)",
                         chunk, re.MULTILINE)
        if source and kind and name:
            path = source[1]
            out[f"{kind[1]}/{name[1]}"] = f"{chart_dir}/{path.split('/', 1)[1]}" \
                if chart_dir and "/" in path else path
    return out


def read(path: str) -> list[dict]:
    text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    return load(text)


def rid(doc: dict) -> str:
    """kind/name of a resource."""
    return f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"


def of_kind(docs: list[dict], *kinds: str) -> list[dict]:
    return [d for d in docs if d.get("kind") in kinds]


def pod_template(doc: dict) -> tuple[dict, str] | None:
    """(pod template {metadata, spec}, its field path) of a workload, or None."""
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return {"metadata": doc.get("metadata") or {}, "spec": spec}, ""
    if kind == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}, \
            "spec.jobTemplate.spec.template."
    if kind in WORKLOAD_KINDS:
        return spec.get("template") or {}, "spec.template."
    return None


def workloads(docs: list[dict]) -> Iterator[tuple[dict, dict, str]]:
    """(resource, pod template, path prefix of the pod spec) for every workload."""
    for doc in docs:
        found = pod_template(doc)
        if found is not None:
            template, prefix = found
            yield doc, template, prefix + "spec"


def containers(pod_spec: dict, base: str) -> Iterator[tuple[dict, str]]:
    """(container, field path) for every init and app container of a pod spec."""
    for key in ("initContainers", "containers"):
        for container in pod_spec.get(key) or []:
            yield container, f"{base}.{key}[{container.get('name', '?')}]"


def component(doc: dict) -> str:
    """The app.kubernetes.io/component label of a resource ('' if none)."""
    return ((doc.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component", "")


def effective_env(container: dict, docs: list[dict]) -> dict[str, object]:
    """A container's environment as the kubelet builds it: envFrom ConfigMaps, then env (env
    wins); {name: value, or the valueFrom mapping}."""
    out: dict[str, object] = {}
    configmaps = {cm["metadata"]["name"]: cm.get("data") or {} for cm in of_kind(docs, "ConfigMap")}
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            out.update(configmaps.get(source["configMapRef"]["name"], {}))
    for var in container.get("env") or []:
        out[var.get("name")] = var.get("value") if "value" in var else var.get("valueFrom")
    return out


def report(tool: str, problems: list, ok_message: str) -> int:
    """Print problems (stderr) or the ok line (stdout); the exit status."""
    for problem in problems:
        print(f"{tool}: {problem}", file=sys.stderr)
    if problems:
        print(f"{tool}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{tool}: {ok_message}")
    return 0
