"""Kubernetes objects as a render gives them (the stdout of `helm template`): documents, the
chart template each came from, workloads and their pod templates, a container's effective
environment, and the one label-selector evaluator every check uses."""

from __future__ import annotations

import contextlib
import hashlib
import re
from typing import Iterator

import yaml

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")
# libyaml parses a render about twice as fast; PyYAML built without it still works.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# Streams parsed ahead, by content (parse_ahead): empty unless the warm interpreter
# (executors/warm.py) filled it before forking the process that reads them.
AHEAD: dict[bytes, list[dict]] = {}


def load(text: str) -> list[dict]:
    """The non-empty documents of a multi-document YAML stream (yaml.YAMLError if it is not
    YAML); a parse of exactly this text made ahead is taken, once, instead of parsing."""
    if AHEAD:
        ahead = AHEAD.pop(content_key(text), None)
        if ahead is not None:
            return ahead
    return _parse(text)


def parse_ahead(text: str) -> None:
    """Parse `text` now for the next `load` of the same text, in this process or a fork of it.

    The warm interpreter does this once per distinct stdin before it forks the checks that
    read it: 27 checks read the same 3 renders, and each fork inherits the documents instead
    of parsing again (its own copy-on-write pages: a check changing them changes no other
    check's). A stream that does not parse is not kept: `load` parses it and fails as before."""
    key = content_key(text)
    if key not in AHEAD:
        with contextlib.suppress(Exception):  # not YAML, a bad timestamp, too deep: load's to say
            AHEAD[key] = _parse(text)


def content_key(text: str) -> bytes:
    """The SHA-256 of the exact text (its UTF-8, lone surrogates included): never a path."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _parse(text: str) -> list[dict]:
    return [doc for doc in yaml.load_all(text, LOADER) if isinstance(doc, dict) and doc]


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


def rid(doc: dict) -> str:
    """kind/name of a resource."""
    return f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"


def of_kind(docs: list[dict], *kinds: str) -> list[dict]:
    return [d for d in docs if d.get("kind") in kinds]


def labels_of(doc: dict) -> dict:
    return (doc.get("metadata") or {}).get("labels") or {}


def annotations_of(doc: dict) -> dict:
    return (doc.get("metadata") or {}).get("annotations") or {}


def is_hook(doc: dict) -> bool:
    """A Helm hook (a test pod, a migration job): run on demand, not part of the steady state."""
    return "helm.sh/hook" in annotations_of(doc)


def component(doc: dict) -> str:
    """The app.kubernetes.io/component label of a resource ('' if none)."""
    return labels_of(doc).get("app.kubernetes.io/component", "")


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


# ----------------------------------------------------------------- label selectors
#
# Kubernetes has two selector shapes, and "empty" means opposite things:
# - a LabelSelector {matchLabels, matchExpressions} (NetworkPolicy podSelector and
#   namespaceSelector, PDB selector, topology-spread labelSelector, ServiceMonitor selector):
#   apimachinery's LabelSelectorAsSelector turns {} into Everything() and a nil pointer into
#   Nothing(). Where the API field is a struct, not a pointer (NetworkPolicy podSelector,
#   ServiceMonitor selector), an absent field decodes as {}: callers pass `... or {}` there.
# - a Service's spec.selector, a plain map: absent or {} selects no pods (the endpoints
#   controller makes no Endpoints for a Service without a selector).
# Two functions, named for the shape, so no caller has to remember which one it holds.


def label_selector_matches(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) over `labels`, as LabelSelectorAsSelector
    evaluates it: {} selects everything, None (a nil pointer) selects nothing."""
    if selector is None:
        return False
    if not all(labels.get(key) == value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if (op == "In" and labels.get(key) not in values) \
                or (op == "NotIn" and key in labels and labels[key] in values) \
                or (op == "Exists" and key not in labels) \
                or (op == "DoesNotExist" and key in labels):
            return False
    return True


def service_selects(selector: dict | None, labels: dict) -> bool:
    """A Service's spec.selector (a plain label map) over pod `labels`; absent or {} selects none."""
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())
