"""Scrape targets that exist: Prometheus' Kubernetes discovery over one environment's render.

    helm template ... | python -m pipeline.checks.chart.scrape --env ENV --namespace NS \
        --prometheus-config prometheus.k8s.yml --contract metrics-contract.yaml \
        --cluster cluster-objects.yaml

The render's workloads become the pods Kubernetes would run (one per workload), their
Services get the Endpoints the endpoints controller would write, and the objects of
`--cluster` (kube-state-metrics, a node: what the cluster provides, not the chart) are
added. Then every scrape job of `--prometheus-config` and every rendered ServiceMonitor
(translated into the scrape config prometheus-operator generates) is discovered and
relabelled with Prometheus' own semantics (model/relabel.py). Fails when

- a scrape job keeps no target, unless it is the contract job of a component this
  environment does not deploy;
- a contract job whose `component` is rendered is scraped by no job (with the contract's
  job name and path) of the config, or by no ServiceMonitor when the render has them;
- a ServiceMonitor selects no Service, names a port a selected Service lacks, or keeps
  no target.

Discovery labels follow prometheus/prometheus v2.51.0 `discovery/kubernetes/{pod,service,
endpoints,node,kubernetes}.go`; the ServiceMonitor translation follows prometheus-operator
`pkg/prometheus/promcfg.go` (generateServiceMonitorConfig: keep on each matchLabels /
matchExpressions entry through `__meta_kubernetes_service_label[present]_*`, keep the
endpoint port name, `job` from the Service name, then the endpoint's relabelings).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from pipeline import layout
from pipeline.checks.chart.render import render_arguments
from pipeline.checks.cli import run_check
from pipeline.checks.files import load_stream, load_yaml
from pipeline.checks.problem import Problem
from pipeline.model.relabel import RelabelError, parse_rules, populate, sanitize_label_name
from pipeline.model.kube import label_selector_matches as selector_matches
from pipeline.model.kube import of_kind, rid, template_sources, workloads

COMPONENT = "app.kubernetes.io/component"
HOOK = "helm.sh/hook"
PROMETHEUS_NAMESPACE = "monitoring"


@dataclass
class Pod:
    name: str
    namespace: str
    ip: str
    labels: dict
    annotations: dict
    containers: list
    controller: tuple[str, str]


@dataclass
class Cluster:
    """The objects Kubernetes discovery would list: pods, services, endpoints, nodes."""

    pods: list[Pod] = field(default_factory=list)
    services: list[dict] = field(default_factory=list)
    nodes: list[dict] = field(default_factory=list)


def _meta(doc: dict) -> dict:
    return doc.get("metadata") or {}


def _object_labels(role: str, meta: dict) -> dict[str, str]:
    """kubernetes.go addObjectMetaLabels: name, label_*, labelpresent_*, annotation_*, ..."""
    out = {f"__meta_kubernetes_{role}_name": str(meta.get("name", ""))}
    for kind, values in (("label", meta.get("labels")), ("annotation", meta.get("annotations"))):
        for key, value in (values or {}).items():
            name = sanitize_label_name(str(key))
            out[f"__meta_kubernetes_{role}_{kind}_{name}"] = str(value)
            out[f"__meta_kubernetes_{role}_{kind}present_{name}"] = "true"
    return out


def _replicas(doc: dict) -> int:
    spec = doc.get("spec") or {}
    if doc.get("kind") == "Pod":
        return 1
    replicas = spec.get("replicas")
    return 1 if replicas is None else int(replicas)  # None: an HPA (minReplicas >= 1) scales it


def build_cluster(docs: list[dict], namespace: str, extra: list[dict]) -> Cluster:
    """Pods of the render's workloads (one each, helm test hooks aside) plus `extra` objects."""
    cluster = Cluster()
    index = 0
    for doc in [*docs, *extra]:
        kind = doc.get("kind")
        ns = _meta(doc).get("namespace") or namespace
        if kind == "Service":
            cluster.services.append({**doc, "metadata": {**_meta(doc), "namespace": ns}})
        elif kind == "Node":
            cluster.nodes.append(doc)
    for doc, template, _ in workloads([*docs, *extra]):
        if doc.get("kind") in ("Job", "CronJob") or HOOK in (_meta(doc).get("annotations") or {}):
            continue
        if _replicas(doc) < 1:
            continue
        index += 1
        meta = template.get("metadata") or {}
        suffix = "0" if doc.get("kind") == "StatefulSet" else "7d9f8c-x1"
        name = _meta(doc)["name"] if doc.get("kind") == "Pod" else f"{_meta(doc)['name']}-{suffix}"
        cluster.pods.append(Pod(
            name=name, namespace=_meta(doc).get("namespace") or namespace,
            ip=f"10.244.{index // 250}.{index % 250 + 1}", labels=dict(meta.get("labels") or {}),
            annotations=dict(meta.get("annotations") or {}),
            containers=list((template.get("spec") or {}).get("containers") or []),
            controller=(str(doc.get("kind")), str(_meta(doc).get("name")))))
    return cluster


def _pod_labels(pod: Pod) -> dict[str, str]:
    """pod.go podLabels (a running, ready pod on node worker-1)."""
    out = {"__meta_kubernetes_pod_ip": pod.ip, "__meta_kubernetes_pod_ready": "true",
           "__meta_kubernetes_pod_phase": "Running", "__meta_kubernetes_pod_node_name": "worker-1",
           "__meta_kubernetes_pod_host_ip": "192.168.0.11", "__meta_kubernetes_pod_uid": f"uid-{pod.name}",
           "__meta_kubernetes_pod_controller_kind": pod.controller[0],
           "__meta_kubernetes_pod_controller_name": pod.controller[1]}
    out.update(_object_labels("pod", {"name": pod.name, "labels": pod.labels,
                                      "annotations": pod.annotations}))
    return out


def _container_port_labels(container: dict, port: dict) -> dict[str, str]:
    return {"__meta_kubernetes_pod_container_name": str(container.get("name", "")),
            "__meta_kubernetes_pod_container_image": str(container.get("image", "")),
            "__meta_kubernetes_pod_container_port_name": str(port.get("name", "")),
            "__meta_kubernetes_pod_container_port_number": str(port.get("containerPort")),
            "__meta_kubernetes_pod_container_port_protocol": str(port.get("protocol", "TCP"))}


def discover_pods(cluster: Cluster) -> list[dict[str, str]]:
    """pod.go buildPod: a target per container port, or per container without ports."""
    found = []
    for pod in cluster.pods:
        base = {**_pod_labels(pod), "__meta_kubernetes_namespace": pod.namespace}
        for container in pod.containers:
            ports = container.get("ports") or []
            if not ports:
                found.append({**base, "__address__": pod.ip,
                              "__meta_kubernetes_pod_container_name": str(container.get("name", "")),
                              "__meta_kubernetes_pod_container_image": str(container.get("image", "")),
                              "__meta_kubernetes_pod_container_init": "false"})
            for port in ports:
                found.append({**base, **_container_port_labels(container, port),
                              "__address__": f"{pod.ip}:{port.get('containerPort')}",
                              "__meta_kubernetes_pod_container_init": "false"})
    return found


def _service_labels(service: dict) -> dict[str, str]:
    meta = _meta(service)
    return {"__meta_kubernetes_namespace": str(meta.get("namespace", "")),
            **_object_labels("service", meta)}


def discover_services(cluster: Cluster) -> list[dict[str, str]]:
    """service.go buildService: a target per Service port at <name>.<namespace>.svc:<port>."""
    found = []
    for service in cluster.services:
        meta, spec = _meta(service), service.get("spec") or {}
        for port in spec.get("ports") or []:
            found.append({**_service_labels(service),
                          "__address__": f"{meta['name']}.{meta['namespace']}.svc:{port.get('port')}",
                          "__meta_kubernetes_service_port_name": str(port.get("name", "")),
                          "__meta_kubernetes_service_port_number": str(port.get("port")),
                          "__meta_kubernetes_service_port_protocol": str(port.get("protocol", "TCP")),
                          "__meta_kubernetes_service_type": str(spec.get("type", "ClusterIP")),
                          "__meta_kubernetes_service_cluster_ip": str(spec.get("clusterIP", "10.96.0.10"))})
    return found


def _resolve_target_port(pod: Pod, port: dict) -> tuple[dict, dict] | None:
    """(container, container port) a Service port's targetPort resolves to in the pod, if any."""
    target = port.get("targetPort", port.get("port"))
    for container in pod.containers:
        for cport in container.get("ports") or []:
            if (isinstance(target, str) and cport.get("name") == target) or \
                    (not isinstance(target, str) and cport.get("containerPort") == target):
                return container, cport
    return None


def selected_pods(cluster: Cluster, service: dict) -> list[Pod]:
    selector = (service.get("spec") or {}).get("selector")
    if not selector:
        return []
    namespace = _meta(service).get("namespace")
    return [p for p in cluster.pods if p.namespace == namespace
            and selector_matches({"matchLabels": selector}, p.labels)]


def discover_endpoints(cluster: Cluster) -> list[dict[str, str]]:
    """endpoints.go buildEndpoints over the Endpoints the endpoints controller writes.

    The controller copies the Service's labels onto its Endpoints (and marks headless
    ones with service.kubernetes.io/headless); a pod is an address of a port when the
    port's targetPort (name or number) resolves to one of its container ports.
    """
    found = []
    for service in cluster.services:
        meta = _meta(service)
        endpoint_labels = dict(meta.get("labels") or {})
        if (service.get("spec") or {}).get("clusterIP") == "None":
            endpoint_labels["service.kubernetes.io/headless"] = ""
        base = {**_service_labels(service),
                **_object_labels("endpoints", {"name": meta.get("name"), "labels": endpoint_labels})}
        for pod in selected_pods(cluster, service):
            for port in (service.get("spec") or {}).get("ports") or []:
                resolved = _resolve_target_port(pod, port)
                if resolved is None:
                    continue
                container, cport = resolved
                found.append({**base, **_pod_labels(pod), **_container_port_labels(container, cport),
                              "__address__": f"{pod.ip}:{cport.get('containerPort')}",
                              "__meta_kubernetes_endpoint_port_name": str(port.get("name", "")),
                              "__meta_kubernetes_endpoint_port_protocol": str(port.get("protocol", "TCP")),
                              "__meta_kubernetes_endpoint_ready": "true",
                              "__meta_kubernetes_endpoint_address_target_kind": "Pod",
                              "__meta_kubernetes_endpoint_address_target_name": pod.name})
    return found


def discover_nodes(cluster: Cluster) -> list[dict[str, str]]:
    """node.go buildNode: the InternalIP at the kubelet port, node labels and addresses."""
    found = []
    for node in cluster.nodes:
        status = node.get("status") or {}
        addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
        port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port", 10250)
        labels = {**_object_labels("node", _meta(node)),
                  "__address__": f"{addresses.get('InternalIP', '')}:{port}"}
        for kind, address in addresses.items():
            labels[f"__meta_kubernetes_node_address_{kind}"] = str(address)
        found.append(labels)
    return found


ROLES = {"pod": discover_pods, "service": discover_services, "endpoints": discover_endpoints,
         "node": discover_nodes}


def _in_namespaces(target: dict[str, str], sd: dict) -> bool:
    names = list(((sd.get("namespaces") or {}).get("names")) or [])
    if (sd.get("namespaces") or {}).get("own_namespace"):
        names.append(PROMETHEUS_NAMESPACE)
    return not names or target.get("__meta_kubernetes_namespace") in names


@dataclass
class Kept:
    """A target a job keeps: its final labels and the component of the object it came from."""

    labels: dict[str, str]
    component: str


def scrape(job: dict, cluster: Cluster, global_cfg: dict) -> list[Kept]:
    """The targets one scrape job keeps over the cluster (static targets kept as they are)."""
    rules = parse_rules(job.get("relabel_configs"))
    kept = [Kept({"job": str(job.get("job_name")), "instance": str(t)}, "")
            for sc in job.get("static_configs") or [] for t in sc.get("targets") or []]
    for sd in job.get("kubernetes_sd_configs") or []:
        role = sd.get("role")
        if role not in ROLES:
            raise RelabelError(f"kubernetes_sd_configs role {role!r} is not simulated "
                               f"(known: {', '.join(ROLES)})")
        for target in ROLES[role](cluster):
            if not _in_namespaces(target, sd):
                continue
            labels = populate(target, job, rules, str(global_cfg.get("scrape_interval", "1m")),
                              str(global_cfg.get("scrape_timeout", "10s")))
            if labels is not None:
                component = (target.get("__meta_kubernetes_pod_label_app_kubernetes_io_component")
                             or target.get("__meta_kubernetes_service_label_app_kubernetes_io_component", ""))
                kept.append(Kept(labels, component))
    return kept


def service_monitor_job(monitor: dict, namespace: str, index: int, endpoint: dict) -> dict:
    """The scrape config prometheus-operator generates for one ServiceMonitor endpoint."""
    meta, spec = _meta(monitor), monitor.get("spec") or {}
    selector = spec.get("selector") or {}
    rules: list[dict] = [{"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"}]
    for key in sorted((selector.get("matchLabels") or {})):
        name = sanitize_label_name(key)
        rules.append({"action": "keep", "regex": f"({selector['matchLabels'][key]});true",
                      "source_labels": [f"__meta_kubernetes_service_label_{name}",
                                        f"__meta_kubernetes_service_labelpresent_{name}"]})
    for expr in selector.get("matchExpressions") or []:
        name = sanitize_label_name(str(expr.get("key")))
        values = "|".join(str(v) for v in expr.get("values") or [])
        both = [f"__meta_kubernetes_service_label_{name}", f"__meta_kubernetes_service_labelpresent_{name}"]
        present = [f"__meta_kubernetes_service_labelpresent_{name}"]
        rules.append({"In": {"action": "keep", "source_labels": both, "regex": f"({values});true"},
                      "NotIn": {"action": "drop", "source_labels": both, "regex": f"({values});true"},
                      "Exists": {"action": "keep", "source_labels": present, "regex": "true"},
                      "DoesNotExist": {"action": "drop", "source_labels": present, "regex": "true"},
                      }[str(expr.get("operator"))])
    if endpoint.get("port"):
        rules.append({"action": "keep", "source_labels": ["__meta_kubernetes_endpoint_port_name"],
                      "regex": str(endpoint["port"])})
    rules += [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job", "replacement": "${1}"},
    ]
    if spec.get("jobLabel"):
        rules.append({"source_labels": [f"__meta_kubernetes_service_label_{sanitize_label_name(spec['jobLabel'])}"],
                      "target_label": "job", "regex": "(.+)", "replacement": "${1}"})
    if endpoint.get("port"):
        rules.append({"target_label": "endpoint", "replacement": str(endpoint["port"])})
    for raw in endpoint.get("relabelings") or []:
        rules.append({{"sourceLabels": "source_labels", "targetLabel": "target_label"}.get(k, k): v
                      for k, v in raw.items()})
    names = (spec.get("namespaceSelector") or {}).get("matchNames") or [meta.get("namespace") or namespace]
    sd = {"role": "endpoints"}
    if not (spec.get("namespaceSelector") or {}).get("any"):
        sd["namespaces"] = {"names": names}
    return {"job_name": f"serviceMonitor/{meta.get('namespace') or namespace}/{meta.get('name')}/{index}",
            "metrics_path": endpoint.get("path") or "/metrics", "scheme": endpoint.get("scheme") or "http",
            "scrape_interval": endpoint.get("interval") or "30s",
            "kubernetes_sd_configs": [sd], "relabel_configs": rules}


def check_service_monitors(docs: list[dict], cluster: Cluster, namespace: str,
                           sources: dict[str, str]) -> tuple[list[Problem], list[Kept]]:
    """Each rendered ServiceMonitor selects a Service, names its ports and keeps a target."""
    problems: list[Problem] = []
    kept_all: list[Kept] = []
    for monitor in of_kind(docs, "ServiceMonitor"):
        resource = rid(monitor)
        path = sources.get(resource, "")
        selector = (monitor.get("spec") or {}).get("selector") or {}
        services = [s for s in cluster.services if _meta(s).get("namespace") == namespace
                    and selector_matches(selector, _meta(s).get("labels") or {})]
        if not services:
            problems.append(Problem(path, f"{selector} matches no Service", resource=resource,
                                    field="spec.selector", rule="servicemonitor-targets"))
            continue
        for index, endpoint in enumerate((monitor.get("spec") or {}).get("endpoints") or []):
            port = endpoint.get("port")
            for service in services:
                ports = [str(p.get("name")) for p in (service.get("spec") or {}).get("ports") or []]
                if port and port not in ports:
                    problems.append(Problem(
                        path, f"{port!r} is not a port of Service {_meta(service).get('name')} "
                              f"(ports: {', '.join(ports)})",
                        resource=resource, field=f"spec.endpoints[{index}].port",
                        rule="servicemonitor-targets"))
            job = service_monitor_job(monitor, namespace, index, endpoint)
            kept = scrape(job, cluster, {})
            if not kept:
                problems.append(Problem(path, "keeps no target", resource=resource,
                                        field=f"spec.endpoints[{index}]", rule="servicemonitor-targets"))
            kept_all += kept
    return problems, kept_all


def check_coverage(path: str, resource: str, kept: list[Kept], contract: dict,
                   rendered: set[str]) -> list[Problem]:
    """Each contract job of a rendered component is scraped under its name, at its path."""
    problems = []
    for job, spec in (contract.get("jobs") or {}).items():
        component = (spec or {}).get("component")
        if not component or component not in rendered:
            continue
        wanted = (spec or {}).get("path", "/metrics")
        hits = [k for k in kept if k.labels.get("job") == job and k.component == component]
        if not hits:
            problems.append(Problem(path, f"contract job {job} (component {component}) is scraped by no job",
                                    resource=resource, rule="contract-coverage"))
            continue
        wrong = sorted({k.labels.get("__metrics_path__", "") for k in hits} - {wanted})
        if wrong:
            problems.append(Problem(path, f"contract job {job} is scraped at {', '.join(wrong)}, the "
                                          f"contract says {wanted}", resource=resource,
                                    rule="contract-coverage"))
    return problems


def check_render(docs: list[dict], config: dict, contract: dict, extra: list[dict], namespace: str,
                 config_path: str, sources: dict[str, str] | None = None) -> tuple[list[Problem], str]:
    """The problems of one render (`sources`: kind/name -> its chart template) and a summary."""
    sources = sources or {}
    problems: list[Problem] = []
    cluster = build_cluster(docs, namespace, extra)
    rendered = {p.labels.get(COMPONENT, "") for p in cluster.pods if p.namespace == namespace} - {""}
    optional = {job: spec.get("component") for job, spec in (contract.get("jobs") or {}).items()
                if (spec or {}).get("component")}
    kept: dict[str, list[Kept]] = {}
    for job in config.get("scrape_configs") or []:
        name = str(job.get("job_name"))
        resource = f"scrape job {name}"
        try:
            kept[name] = scrape(job, cluster, config.get("global") or {})
        except RelabelError as error:
            problems.append(Problem(config_path, str(error), resource=resource, rule="relabel"))
            continue
        component = optional.get(name)
        if kept[name] or (component and component not in rendered):
            continue  # (a contract job of a component this environment does not deploy may be empty)
        problems.append(Problem(
            config_path, resource=resource, rule="job-keeps-targets",
            message=(f"keeps no target of the render, although component {component} is rendered"
                     if component else
                     "keeps no target of the render (its discovery and relabel_configs select "
                     "nothing the chart or the cluster runs)")))
    problems += check_coverage(config_path, "", [k for targets in kept.values() for k in targets],
                               contract, rendered)
    monitors = of_kind(docs, "ServiceMonitor")
    if monitors:
        found, sm_kept = check_service_monitors(docs, cluster, namespace, sources)
        problems += found + check_coverage("", "ServiceMonitors", sm_kept, contract, rendered)
    total = sum(len(v) for v in kept.values())
    return problems, (f"{len(kept)} scrape jobs keep {total} targets; {len(monitors)} ServiceMonitors; "
                      f"components {', '.join(sorted(rendered))}")


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True)
    parser.add_argument("--namespace", required=True, help="the release namespace of the render")
    parser.add_argument("--prometheus-config", required=True)
    parser.add_argument("--contract", required=True)
    parser.add_argument("--cluster", help="objects the cluster provides (YAML stream)")
    render_arguments(parser, chart=False)


def check(args: argparse.Namespace) -> tuple[list[Problem], str]:
    config = load_yaml(args.prometheus_config) or {}
    contract = load_yaml(args.contract) or {}
    extra = load_stream(args.cluster)[0] if args.cluster else []
    docs, text = load_stream(args.file)
    problems, summary = check_render(docs, config, contract, extra, args.namespace,
                                     args.prometheus_config, template_sources(text, layout.CHART))
    return problems, f"{args.env}: {summary}"


if __name__ == "__main__":
    raise SystemExit(run_check("scrape", __doc__, arguments, check))
