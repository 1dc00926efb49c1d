"""Policies over a render of the dpp-platform chart (`helm template ... | python -m ...`).

    helm template dpp-platform infra/helm/dpp-platform -f values-prod.yaml ... \
      | python -m pipeline.policies.chart --env prod --values values.yaml --values values-prod.yaml

The tier (development, staging, production) that some rules depend on is read from the
values files (global.environment), so a new values-<env>.yaml needs no code change.

One function per rule; each returns Problems naming the resource (kind/name) and
the field. Rules (see RULES): labels, pod-security, resources, probes,
service-accounts, checksums, image-tags, hpa-replicas, pdb, topology-spread,
secrets, ingress, keycloak, metrics.
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
from typing import Callable

from pipeline.policies.tier import TierError, tier
from pipeline.policies.manifests import (Problem, component, containers, effective_env, load,
                                         of_kind, report, rid, template_sources, workloads)

STANDARD_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                   "app.kubernetes.io/managed-by", "helm.sh/chart", "app.kubernetes.io/part-of")
SELECTOR_KEYS = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}
SLOW_STARTERS = {"keycloak", "edc-controlplane", "edc-dataplane"}
RESTRICTED_VOLUMES = {"configMap", "downwardAPI", "emptyDir", "projected", "secret", "csi",
                      "persistentVolumeClaim", "ephemeral", "image"}
SECRET_WORDS = {"PASSWORD", "PASSWD", "PASS", "SECRET", "TOKEN", "CREDENTIAL", "CREDENTIALS",
                "APIKEY", "PRIVATEKEY"}
KEY_QUALIFIERS = {"API", "AUTH", "ACCESS", "SECRET", "PRIVATE", "SIGNING", "ENCRYPTION"}
NOT_A_SECRET_SUFFIXES = {"ALIAS", "FILE", "NAME", "REF", "PATH", "URL", "ID", "ENDPOINT"}
HEX64 = re.compile(r"^[0-9a-f]{64}$")
# The upstream image, as shipped: not built with the chart's build-time options.
STOCK_KEYCLOAK = "keycloak/keycloak"


def is_secret_name(name: str) -> bool:
    """Whether a variable/key name says it holds a secret (EDC_API_AUTH_KEY, DB_PASSWORD, ...).

    Names that only point at a secret (..._ALIAS, ..._FILE, ..._SECRET_NAME) are not secrets.
    """
    words = [w for w in re.split(r"[^A-Za-z0-9]+", name.upper()) if w]
    if not words or words[-1] in NOT_A_SECRET_SUFFIXES:
        return False
    if any(w in SECRET_WORDS for w in words):
        return True
    return any(w == "KEY" and i > 0 and words[i - 1] in KEY_QUALIFIERS for i, w in enumerate(words))

# A rule gets the rendered documents and the environment's tier (global.environment).
Rule = Callable[[list[dict], str], list[Problem]]


def _labels(doc: dict) -> dict:
    return (doc.get("metadata") or {}).get("labels") or {}


def _annotations(doc: dict) -> dict:
    return (doc.get("metadata") or {}).get("annotations") or {}


def _is_hook(doc: dict) -> bool:
    return "helm.sh/hook" in _annotations(doc)


# ----------------------------------------------------------------- labels

def check_labels(docs: list[dict], env: str) -> list[Problem]:
    """Standard labels everywhere; selectors use only name, instance and component."""
    problems = []
    for doc in docs:
        labels = _labels(doc)
        for key in STANDARD_LABELS:
            if key not in labels:
                problems.append(Problem("labels", rid(doc), f"metadata.labels.{key}", "missing"))
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
                problems.append(Problem("labels", rid(doc), field,
                                        f"selector keys {extra} are not allowed (only name, instance, component)"))
            for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance"):
                if key not in selector:
                    problems.append(Problem("labels", rid(doc), f"{field}.{key}", "missing from the selector"))
        if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet"):
            selector = (spec.get("selector") or {}).get("matchLabels") or {}
            pod_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            for key, value in selector.items():
                if pod_labels.get(key) != value:
                    problems.append(Problem("labels", rid(doc), f"spec.template.metadata.labels.{key}",
                                            f"must equal the selector's {value!r}"))
    return problems


# ----------------------------------------------------------------- pod security

def check_pod_security(docs: list[dict], env: str) -> list[Problem]:
    """Pod Security Standard "restricted", plus a read-only root filesystem."""
    problems = []
    for doc, template, base in workloads(docs):
        pod = template.get("spec") or {}
        psc = pod.get("securityContext") or {}
        res = rid(doc)
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(key):
                problems.append(Problem("pod-security", res, f"{base}.{key}", "host namespaces are forbidden"))
        for volume in pod.get("volumes") or []:
            kinds = set(volume) - {"name"}
            if not kinds <= RESTRICTED_VOLUMES:
                problems.append(Problem("pod-security", res, f"{base}.volumes[{volume.get('name')}]",
                                        f"volume type {sorted(kinds - RESTRICTED_VOLUMES)} is not allowed"))
        if psc.get("runAsUser") == 0:
            problems.append(Problem("pod-security", res, f"{base}.securityContext.runAsUser", "must not be 0"))
        pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
        for container, path in containers(pod, base):
            sc = container.get("securityContext") or {}
            field = f"{path}.securityContext"
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(Problem("pod-security", res, f"{field}.allowPrivilegeEscalation", "must be false"))
            if sc.get("privileged"):
                problems.append(Problem("pod-security", res, f"{field}.privileged", "must not be true"))
            if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
                problems.append(Problem("pod-security", res, f"{field}.runAsNonRoot",
                                        "must be true (here or in the pod securityContext)"))
            if sc.get("runAsUser", psc.get("runAsUser")) == 0:
                problems.append(Problem("pod-security", res, f"{field}.runAsUser", "must not be 0"))
            seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
            if seccomp not in ("RuntimeDefault", "Localhost"):
                problems.append(Problem("pod-security", res, f"{field}.seccompProfile.type",
                                        f"must be RuntimeDefault or Localhost, not {seccomp!r}"))
            caps = sc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []):
                problems.append(Problem("pod-security", res, f"{field}.capabilities.drop", "must include ALL"))
            added = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
            if added:
                problems.append(Problem("pod-security", res, f"{field}.capabilities.add",
                                        f"{sorted(added)} not allowed (only NET_BIND_SERVICE)"))
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(Problem("pod-security", res, f"{field}.readOnlyRootFilesystem",
                                        "must be true (mount an emptyDir where writes are needed)"))
            for port in container.get("ports") or []:
                if port.get("hostPort"):
                    problems.append(Problem("pod-security", res, f"{path}.ports[{port.get('name')}].hostPort",
                                            "host ports are forbidden"))
    return problems


# ----------------------------------------------------------------- resources, probes

def check_resources(docs: list[dict], env: str) -> list[Problem]:
    """Every container requests and limits CPU and memory."""
    problems = []
    for doc, template, base in workloads(docs):
        for container, path in containers(template.get("spec") or {}, base):
            resources = container.get("resources") or {}
            for kind in ("requests", "limits"):
                for name in ("cpu", "memory"):
                    if name not in (resources.get(kind) or {}):
                        problems.append(Problem("resources", rid(doc), f"{path}.resources.{kind}.{name}",
                                                "missing"))
    return problems


def check_probes(docs: list[dict], env: str) -> list[Problem]:
    """Readiness and liveness on every long-running container; startup on slow starters."""
    problems = []
    for doc, template, base in workloads(docs):
        if _is_hook(doc) or doc.get("kind") in ("Job", "CronJob"):
            continue
        slow = component(doc) in SLOW_STARTERS
        for container in (template.get("spec") or {}).get("containers") or []:
            path = f"{base}.containers[{container.get('name')}]"
            wanted = ["readinessProbe", "livenessProbe"]
            if slow and container.get("name") not in ("exporter",):
                wanted.append("startupProbe")
            for probe in wanted:
                if not container.get(probe):
                    problems.append(Problem("probes", rid(doc), f"{path}.{probe}", "missing"))
            ports = container.get("ports") or []
            declared = {p.get("name") for p in ports} | {p.get("containerPort") for p in ports}
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                for handler in ("httpGet", "tcpSocket", "grpc"):
                    target = ((container.get(probe) or {}).get(handler) or {}).get("port")
                    if target is not None and target not in declared:
                        problems.append(Problem("probes", rid(doc), f"{path}.{probe}.{handler}.port",
                                                f"{target!r} is not a port of the container "
                                                f"({', '.join(str(p.get('name') or p.get('containerPort')) for p in ports) or 'none'})"))
    return problems


# ----------------------------------------------------------------- service accounts

def check_service_accounts(docs: list[dict], env: str) -> list[Problem]:
    """Each workload has its own ServiceAccount, and the API token is not mounted."""
    problems = []
    accounts = {(d.get("metadata") or {}).get("name"): d for d in of_kind(docs, "ServiceAccount")}
    users: dict[str, list[str]] = {}
    for doc, template, base in workloads(docs):
        pod = template.get("spec") or {}
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(Problem("service-accounts", rid(doc), f"{base}.automountServiceAccountToken",
                                    "must be false (no workload of the platform calls the Kubernetes API)"))
        if _is_hook(doc):
            continue
        name = pod.get("serviceAccountName")
        if not name or name == "default":
            problems.append(Problem("service-accounts", rid(doc), f"{base}.serviceAccountName",
                                    "must name the workload's own ServiceAccount"))
            continue
        users.setdefault(name, []).append(rid(doc))
        account = accounts.get(name)
        if account is None:
            problems.append(Problem("service-accounts", rid(doc), f"{base}.serviceAccountName",
                                    f"ServiceAccount {name!r} is not part of the release"))
        elif account.get("automountServiceAccountToken") is not False:
            problems.append(Problem("service-accounts", rid(account), "automountServiceAccountToken",
                                    "must be false"))
    for name, owners in users.items():
        if len(owners) > 1:
            for owner in owners:
                problems.append(Problem("service-accounts", owner, "spec.template.spec.serviceAccountName",
                                        f"ServiceAccount {name!r} is shared by {', '.join(owners)}"))
    return problems


# ----------------------------------------------------------------- checksums

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
        if _is_hook(doc):
            continue
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        checksums = {k: v for k, v in annotations.items() if k.startswith("checksum/")}
        field = f"{base.removesuffix('.spec')}.metadata.annotations"
        for key, value in checksums.items():
            if not HEX64.match(str(value)):
                problems.append(Problem("checksums", rid(doc), f"{field}.{key}",
                                        f"{value!r} is not a sha256 hex digest"))
        configmaps, secrets = _references(template.get("spec") or {})
        if configmaps & rendered_cms and not any(k.startswith("checksum/config") for k in checksums):
            problems.append(Problem("checksums", rid(doc), f"{field}.checksum/config",
                                    f"missing (the pods read ConfigMap {sorted(configmaps & rendered_cms)})"))
        if secrets and not any(k.startswith("checksum/secret") for k in checksums):
            problems.append(Problem("checksums", rid(doc), f"{field}.checksum/secret-*",
                                    f"missing (the pods read Secret {sorted(secrets)})"))
    return problems


# ----------------------------------------------------------------- images

def check_image_tags(docs: list[dict], env: str) -> list[Problem]:
    """Outside development, every image is pinned (a tag other than `latest`, or a digest)."""
    if env == "development":
        return []
    problems = []
    for doc, template, base in workloads(docs):
        for container, path in containers(template.get("spec") or {}, base):
            image = str(container.get("image", ""))
            if "@sha256:" in image:
                continue
            name = image.rsplit("/", 1)[-1]
            tag = name.split(":", 1)[1] if ":" in name else ""
            if tag in ("", "latest"):
                problems.append(Problem("image-tags", rid(doc), f"{path}.image",
                                        f"{image!r}: `latest` or no tag is allowed in development only"))
    return problems


# ----------------------------------------------------------------- HPA, PDB, spread

def _workload_index(docs: list[dict]) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs
            if d.get("kind") in ("Deployment", "StatefulSet")}


def _hpas_by_target(docs: list[dict]) -> dict[tuple[str, str], dict]:
    out = {}
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        out[(ref.get("kind"), ref.get("name"))] = hpa
    return out


def check_hpa_replicas(docs: list[dict], env: str) -> list[Problem]:
    """An HPA is autoscaling/v2 and targets a workload that leaves `replicas` out."""
    problems = []
    index = _workload_index(docs)
    for target, hpa in _hpas_by_target(docs).items():
        if hpa.get("apiVersion") != "autoscaling/v2":
            problems.append(Problem("hpa-replicas", rid(hpa), "apiVersion", "must be autoscaling/v2"))
        workload = index.get(target)
        if workload is None:
            problems.append(Problem("hpa-replicas", rid(hpa), "spec.scaleTargetRef",
                                    f"{target[0]}/{target[1]} is not part of the release"))
        elif "replicas" in (workload.get("spec") or {}):
            problems.append(Problem("hpa-replicas", rid(workload), "spec.replicas",
                                    f"must be left out: {rid(hpa)} manages it (ArgoCD would fight the HPA)"))
    return problems


def _selects(selector: dict, labels: dict, expressions: list | None = None) -> bool:
    """matchLabels (non-empty) and matchExpressions, as the API server evaluates them."""
    if not selector or not all(labels.get(k) == v for k, v in selector.items()):
        return False
    for expr in expressions or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels) \
                or (op == "In" and labels.get(key) not in values) \
                or (op == "NotIn" and key in labels and labels[key] in values):
            return False
    return True


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
    hpas = _hpas_by_target(docs)
    index = _workload_index(docs)
    for pdb in of_kind(docs, "PodDisruptionBudget"):
        spec = pdb.get("spec") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        targets = [w for w in index.values()
                   if _selects(selector, ((w["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {})]
        if not targets:
            problems.append(Problem("pdb", rid(pdb), "spec.selector", "selects no workload of the release"))
            continue
        pods = sum(_min_pods(w, hpas) for w in targets)
        if pods < 2:
            problems.append(Problem("pdb", rid(pdb), "spec.selector",
                                    f"covers {pods} pod(s) of {', '.join(rid(w) for w in targets)}: "
                                    "a PDB over a single replica blocks every drain (skip it below 2)"))
        if "maxUnavailable" in spec and _count(spec["maxUnavailable"], pods) < 1:
            problems.append(Problem("pdb", rid(pdb), "spec.maxUnavailable",
                                    f"{spec['maxUnavailable']!r} allows no eviction: drains hang"))
        if "minAvailable" in spec and _count(spec["minAvailable"], pods) >= pods:
            problems.append(Problem("pdb", rid(pdb), "spec.minAvailable",
                                    f"{spec['minAvailable']!r} of {pods} pod(s) allows no eviction: drains hang"))
        if "unhealthyPodEvictionPolicy" not in spec:
            problems.append(Problem("pdb", rid(pdb), "spec.unhealthyPodEvictionPolicy",
                                    "missing (AlwaysAllow lets drains evict crash-looping pods)"))
    return problems


def check_topology_spread(docs: list[dict], env: str) -> list[Problem]:
    """In production, every Deployment and StatefulSet spreads its pods (zone and node)."""
    if env != "production":
        return []
    problems = []
    for doc in of_kind(docs, "Deployment", "StatefulSet"):
        template = doc["spec"].get("template") or {}
        pod_labels = (template.get("metadata") or {}).get("labels") or {}
        constraints = (template.get("spec") or {}).get("topologySpreadConstraints") or []
        field = "spec.template.spec.topologySpreadConstraints"
        if not constraints:
            problems.append(Problem("topology-spread", rid(doc), field, "missing in production"))
            continue
        keys = {c.get("topologyKey") for c in constraints}
        if "topology.kubernetes.io/zone" not in keys:
            problems.append(Problem("topology-spread", rid(doc), field, "no constraint over topology.kubernetes.io/zone"))
        for i, constraint in enumerate(constraints):
            selector = (constraint.get("labelSelector") or {}).get("matchLabels") or {}
            if not _selects(selector, pod_labels):
                problems.append(Problem("topology-spread", rid(doc), f"{field}[{i}].labelSelector",
                                        "does not select the workload's own pods"))
    return problems


# ----------------------------------------------------------------- secrets

def _secret_values(docs: list[dict]) -> dict[str, str]:
    """{secret value: Secret/name.key} of every Secret rendered (values of >= 6 characters)."""
    out = {}
    for secret in of_kind(docs, "Secret"):
        for key, value in (secret.get("data") or {}).items():
            try:
                text = base64.b64decode(str(value)).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                continue
            if len(text) >= 6:
                out[text] = f"{rid(secret)}.data.{key}"
        for key, value in (secret.get("stringData") or {}).items():
            if len(str(value)) >= 6:
                out[str(value)] = f"{rid(secret)}.stringData.{key}"
    return out


def _leaks(text: str, values: dict[str, str]) -> list[str]:
    return [origin for value, origin in values.items() if value in text]


def check_secrets(docs: list[dict], env: str) -> list[Problem]:
    """No secret in a ConfigMap, an env literal, an argument or an annotation."""
    problems = []
    values = _secret_values(docs)
    for cm in of_kind(docs, "ConfigMap"):
        for key, value in (cm.get("data") or {}).items():
            if is_secret_name(str(key)):
                problems.append(Problem("secrets", rid(cm), f"data.{key}",
                                        "looks like a secret: put it in a Secret"))
            for origin in _leaks(str(value), values):
                problems.append(Problem("secrets", rid(cm), f"data.{key}", f"contains the value of {origin}"))
    for doc in docs:
        for key, value in _annotations(doc).items():
            for origin in _leaks(str(value), values):
                problems.append(Problem("secrets", rid(doc), f"metadata.annotations.{key}",
                                        f"contains the value of {origin}"))
    for doc, template, base in workloads(docs):
        for key, value in ((template.get("metadata") or {}).get("annotations") or {}).items():
            for origin in _leaks(str(value), values):
                problems.append(Problem("secrets", rid(doc), f"{base.removesuffix('.spec')}.metadata.annotations.{key}",
                                        f"contains the value of {origin}"))
        for container, path in containers(template.get("spec") or {}, base):
            for var in container.get("env") or []:
                if "value" not in var:
                    continue
                field = f"{path}.env[{var.get('name')}].value"
                if is_secret_name(var.get("name", "")):
                    problems.append(Problem("secrets", rid(doc), field,
                                            "a secret as a literal: use valueFrom.secretKeyRef"))
                for origin in _leaks(str(var.get("value")), values):
                    problems.append(Problem("secrets", rid(doc), field, f"contains the value of {origin}"))
            for key in ("command", "args"):
                for i, arg in enumerate(container.get(key) or []):
                    for origin in _leaks(str(arg), values):
                        problems.append(Problem("secrets", rid(doc), f"{path}.{key}[{i}]",
                                                f"contains the value of {origin}"))
    return problems


# ----------------------------------------------------------------- ingress, keycloak

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
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        expressions = (spec.get("selector") or {}).get("matchExpressions") or []
        for service in services:
            if _selects(selector, _labels(service), expressions):
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
            problems.append(Problem("ingress", rid(ingress), "spec.ingressClassName", "missing"))
        for rule in spec.get("rules") or []:
            for i, path in enumerate((rule.get("http") or {}).get("paths") or []):
                service = ((path.get("backend") or {}).get("service") or {})
                port = service.get("port") or {}
                hidden = internal.get((service.get("name"), str(port.get("name", port.get("number")))), set())
                route = str(path.get("path", "/"))
                exposed = sorted(t for t in hidden  # the route covers the endpoint, or lies under it
                                 if _covers(route, path.get("pathType", "Prefix"), t) or _covers(t, "Prefix", route))
                if exposed:
                    problems.append(Problem(
                        "ingress", rid(ingress), f"spec.rules[{rule.get('host')}].http.paths[{i}].path",
                        f"{path.get('path')!r} publishes {', '.join(exposed)} of Service/{service.get('name')}"))
        if env != "development":
            tls_hosts = {h for t in spec.get("tls") or [] for h in t.get("hosts") or []}
            for rule in spec.get("rules") or []:
                if rule.get("host") not in tls_hosts:
                    problems.append(Problem("ingress", rid(ingress), "spec.tls",
                                            f"host {rule.get('host')!r} is served without TLS"))
    return problems


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
                problems.append(Problem("keycloak", rid(doc), f"{path}.args",
                                        f"{args}: must run the production `start`"))
            image = str(container.get("image", ""))
            stock = image.split("@")[0].rsplit(":", 1)[0].endswith(STOCK_KEYCLOAK)
            builds = any("kc.sh build" in " ".join([*(c.get("command") or []), *(c.get("args") or [])])
                         for c in (template.get("spec") or {}).get("initContainers") or [])
            if "--optimized" in args and stock and not builds:
                problems.append(Problem("keycloak", rid(doc), f"{path}.args",
                                        f"`start --optimized` on the stock image {image!r} without a `kc.sh build` "
                                        "init container: the build-time options (KC_DB, KC_HEALTH_ENABLED, "
                                        "KC_METRICS_ENABLED) are ignored, so health probes 404"))
            readonly = (container.get("securityContext") or {}).get("readOnlyRootFilesystem") is True
            if "start" in args and "--optimized" not in args and readonly:
                problems.append(Problem("keycloak", rid(doc), f"{path}.args",
                                        "`start` without --optimized rebuilds at boot, which fails on a "
                                        "read-only root filesystem (build first, then start --optimized)"))
            env_vars = {v.get("name"): v.get("value") for v in container.get("env") or []}
            for name in ("KC_HEALTH_ENABLED", "KC_METRICS_ENABLED"):
                if env_vars.get(name) != "true":
                    problems.append(Problem("keycloak", rid(doc), f"{path}.env[{name}]", "must be \"true\""))
            envfrom = [s["configMapRef"]["name"] for s in container.get("envFrom") or [] if "configMapRef" in s]
            config = {}
            for cm in of_kind(docs, "ConfigMap"):
                if cm["metadata"]["name"] in envfrom:
                    config.update(cm.get("data") or {})
            config.update({k: v for k, v in env_vars.items() if v is not None})
            for name in ("KC_HOSTNAME", "KC_PROXY_HEADERS", "KC_DB_URL"):
                if not config.get(name):
                    problems.append(Problem("keycloak", rid(doc), f"{path}.env[{name}]", "missing"))
    return problems


# ----------------------------------------------------------------- metrics

def check_metrics(docs: list[dict], env: str) -> list[Problem]:
    """Every ServiceMonitor scrapes what its pods really serve: the Service port exists and
    targets a container port; the EDC's port only exists with its OpenTelemetry agent on, and
    MinIO's cluster metrics need MINIO_PROMETHEUS_AUTH_TYPE=public (else 403)."""
    problems = []
    services = of_kind(docs, "Service")
    pods = list(workloads(docs))
    for monitor in of_kind(docs, "ServiceMonitor"):
        spec = monitor.get("spec") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        expressions = (spec.get("selector") or {}).get("matchExpressions") or []
        selected = [s for s in services if _selects(selector, _labels(s), expressions)]
        if not selected:
            problems.append(Problem("metrics", rid(monitor), "spec.selector", "selects no Service of the release"))
        for i, endpoint in enumerate(spec.get("endpoints") or []):
            field = f"spec.endpoints[{i}]"
            exposing = [(service, port) for service in selected
                        for port in (service.get("spec") or {}).get("ports") or []
                        if port.get("name") == endpoint.get("port")]
            if selected and not exposing:
                problems.append(Problem("metrics", rid(monitor), f"{field}.port",
                                        f"{endpoint.get('port')!r} is a port of none of "
                                        f"{', '.join(rid(s) for s in selected)}"))
            if len(exposing) > 1:
                problems.append(Problem("metrics", rid(monitor), "spec.selector",
                                        f"port {endpoint.get('port')!r} is scraped twice, through "
                                        f"{', '.join(rid(s) for s, _ in exposing)} (duplicate series)"))
            for service, port in exposing:
                target = port.get("targetPort", port.get("port"))
                backing = [(doc, c) for doc, template, _ in pods
                           if _selects((service.get("spec") or {}).get("selector") or {},
                                       (template.get("metadata") or {}).get("labels") or {})
                           for c in (template.get("spec") or {}).get("containers") or []]
                serving = [(doc, c) for doc, c in backing
                           if any(target in (p.get("name"), p.get("containerPort")) for p in c.get("ports") or [])]
                if not serving:
                    problems.append(Problem("metrics", rid(monitor), f"{field}.port",
                                            f"{rid(service)} port {port.get('name')!r} targets {target!r}, "
                                            "which no container of its pods declares"))
                for doc, container in serving:
                    values = effective_env(container, docs)
                    where = f"spec.template.spec.containers[{container.get('name')}].env"
                    if component(doc) in ("edc-controlplane", "edc-dataplane") and \
                            str(values.get("OTEL_JAVAAGENT_ENABLED")) != "true":
                        problems.append(Problem("metrics", rid(doc), f"{where}[OTEL_JAVAAGENT_ENABLED]",
                                                f"must be \"true\": {rid(monitor)} scrapes the OpenTelemetry "
                                                "agent's Prometheus exporter, which only runs with the agent"))
                    if str(endpoint.get("path", "")).startswith("/minio/v2/metrics") and \
                            values.get("MINIO_PROMETHEUS_AUTH_TYPE") != "public":
                        problems.append(Problem("metrics", rid(doc), f"{where}[MINIO_PROMETHEUS_AUTH_TYPE]",
                                                f"must be \"public\": {rid(monitor)} sends no bearer token"))
    return problems


RULES: dict[str, Rule] = {
    "labels": check_labels,
    "pod-security": check_pod_security,
    "resources": check_resources,
    "probes": check_probes,
    "service-accounts": check_service_accounts,
    "checksums": check_checksums,
    "image-tags": check_image_tags,
    "hpa-replicas": check_hpa_replicas,
    "pdb": check_pdb,
    "topology-spread": check_topology_spread,
    "secrets": check_secrets,
    "ingress": check_ingress,
    "keycloak": check_keycloak,
    "metrics": check_metrics,
}


def run(docs: list[dict], env: str, rules: list[str] | None = None) -> list[Problem]:
    problems = []
    for name in rules or list(RULES):
        problems += RULES[name](docs, env)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.policies.chart", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, help="the environment's name (for messages)")
    parser.add_argument("--values", action="append", required=True, metavar="FILE",
                        help="the values files of the render, in helm's order (the tier, "
                             "global.environment, is read from them)")
    parser.add_argument("--rule", action="append", choices=sorted(RULES), help="only these rules")
    parser.add_argument("--chart", help="the chart directory, to name each resource's template")
    parser.add_argument("file", nargs="?", default="-", help="rendered manifests (default: stdin)")
    args = parser.parse_args(argv)
    try:
        level = tier(args.values)
    except TierError as error:
        print(f"chart-policies: {args.env}: {error}", file=sys.stderr)
        return 1
    text = sys.stdin.read() if args.file == "-" else open(args.file, encoding="utf-8").read()
    docs = load(text)
    if not docs:
        print("chart-policies: no manifests on input", file=sys.stderr)
        return 1
    sources = template_sources(text, args.chart)
    problems = [f"{p} ({sources[p.resource]})" if p.resource in sources else str(p)
                for p in run(docs, level, args.rule)]
    rules = args.rule or list(RULES)
    return report("chart-policies", problems,
                  f"{args.env} ({level}): {len(docs)} resources pass {len(rules)} rules "
                  f"({', '.join(rules)})")


if __name__ == "__main__":
    sys.exit(main())
