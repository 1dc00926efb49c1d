"""NetworkPolicy reachability matrix of a render, compared with the intended edges.

    helm template ... | python -m pipeline.checks.chart.netpol --edges infra/helm/network-edges.yaml --env prod

From the rendered NetworkPolicies it computes which endpoint may open a
connection to which endpoint on which port, following the Kubernetes semantics:
a connection needs the client's egress (when any policy with Egress selects the
client) and the server's ingress (likewise) to allow it; peers match by
namespaceSelector/podSelector (a bare podSelector only in the policy's own
namespace) or ipBlock; ports by number or by the server container's port name.

Endpoints are the release's pods (by app.kubernetes.io/component, in the
release namespace, ports from their containers) and the external peers declared
in the edges file (namespaced pods or IP addresses, with the ports they serve),
including look-alikes (pods with the release's labels in another namespace)
that must reach nothing. Every computed edge must be intended and every
intended edge computed: a missing or an extra edge fails, named.
"""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass, field

from pipeline.checks.chart.render import read_render, render_arguments
from pipeline.checks.cli import run_check
from pipeline.checks.files import load_yaml
from pipeline.checks.problem import Problem, Severity
from pipeline.model.kube import label_selector_matches, of_kind, rid, template_sources, workloads


@dataclass(frozen=True)
class Endpoint:
    name: str
    namespace: str | None = None          # None: not a pod (an IP address)
    labels: tuple = ()                    # sorted (key, value) pairs
    ip: str | None = None
    ports: tuple = ()                     # (port, protocol, name)
    release: bool = False                 # a pod of the release: its own policies apply
    ns_labels: tuple = field(default=())

    @property
    def label_dict(self) -> dict:
        return dict(self.labels)


def _peer_matches(peer: dict, target: Endpoint, policy_ns: str) -> bool:
    if "ipBlock" in peer:
        if target.ip is None:
            return False
        block = peer["ipBlock"]
        address = ipaddress.ip_address(target.ip)
        if address not in ipaddress.ip_network(block["cidr"], strict=False):
            return False
        return not any(address in ipaddress.ip_network(c, strict=False) for c in block.get("except") or [])
    if target.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not label_selector_matches(peer["namespaceSelector"] or {}, dict(target.ns_labels)):
            return False
    elif target.namespace != policy_ns:
        return False
    if "podSelector" in peer:
        return label_selector_matches(peer["podSelector"] or {}, target.label_dict)
    return True


def _port_matches(entries: list | None, server: Endpoint, port: int, protocol: str) -> bool:
    if not entries:
        return True
    for entry in entries:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str) and not wanted.isdigit():
            if any(name == wanted and p == port and proto == protocol for p, proto, name in server.ports):
                return True
            continue
        low, high = int(wanted), int(entry.get("endPort", wanted))
        if low <= port <= high:
            return True
    return False


def _direction(policies: list[dict], subject: Endpoint, other: Endpoint, server: Endpoint,
               port: int, protocol: str, direction: str, namespace: str
               ) -> tuple[list[dict], list[dict]]:
    """(the policies isolating `subject` in `direction` (Ingress|Egress), those of them
    with a rule admitting the connection)."""
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting, admitting = [], []
    for policy in policies:
        spec = policy.get("spec") or {}
        types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))
        # podSelector is a struct: absent is {}, every pod of the policy's namespace
        if direction in types and label_selector_matches(spec.get("podSelector") or {}, subject.label_dict):
            selecting.append(policy)
    for policy in selecting:
        for rule in (policy.get("spec") or {}).get(key) or []:
            peers = rule.get(peers_key)
            if peers and not any(_peer_matches(p, other, namespace) for p in peers):
                continue
            if _port_matches(rule.get("ports"), server, port, protocol):
                admitting.append(policy)
                break
    return selecting, admitting


def _direction_allows(policies: list[dict], subject: Endpoint, other: Endpoint, server: Endpoint,
                      port: int, protocol: str, direction: str, namespace: str) -> bool:
    """Whether `subject`'s policies allow the connection in `direction` (Ingress|Egress)."""
    selecting, admitting = _direction(policies, subject, other, server, port, protocol,
                                      direction, namespace)
    return not selecting or bool(admitting)  # not isolated in this direction, or admitted


def allowed(policies: list[dict], client: Endpoint, server: Endpoint, port: int, protocol: str,
            namespace: str) -> bool:
    if client.release and not _direction_allows(policies, client, server, server, port, protocol,
                                                "Egress", namespace):
        return False
    if server.release and not _direction_allows(policies, server, client, server, port, protocol,
                                                "Ingress", namespace):
        return False
    return True


def why(policies: list[dict], client: Endpoint, server: Endpoint, port: int, protocol: str,
        namespace: str, sources: dict[str, str]) -> str:
    """Which NetworkPolicies (and their templates) decide this connection, each side."""
    def named(found: list[dict]) -> str:
        files = sorted({sources[rid(p)] for p in found if rid(p) in sources})
        return ", ".join(rid(p) for p in found) + (f" [{', '.join(files)}]" if files else "")

    sides = []
    for subject, other, direction, side in ((client, server, "Egress", "egress of"),
                                            (server, client, "Ingress", "ingress to")):
        if not subject.release:
            continue
        selecting, admitting = _direction(policies, subject, other, server, port, protocol,
                                          direction, namespace)
        if admitting:
            sides.append(f"{side} {subject.name} admitted by {named(admitting)}")
        elif selecting:
            sides.append(f"{side} {subject.name} limited by {named(selecting)}, no rule admits it")
        else:
            sides.append(f"{side} {subject.name} not limited by any NetworkPolicy")
    return "; ".join(sides)


def _parse_port(text: str) -> tuple[int, str]:
    port, _, protocol = str(text).partition("/")
    if not port.strip().isdigit():
        raise EdgesError(f"port {text!r} is not NUMBER[/PROTOCOL] (e.g. 5432 or 53/UDP)")
    return int(port), (protocol or "TCP")


def release_endpoints(docs: list[dict], namespace: str) -> dict[str, Endpoint]:
    """One endpoint per component (pods of one component share labels and ports)."""
    out: dict[str, Endpoint] = {}
    ns_labels = (("kubernetes.io/metadata.name", namespace),)
    for doc, template, _ in workloads(docs):
        labels = (template.get("metadata") or {}).get("labels") or {}
        name = labels.get("app.kubernetes.io/component")
        if not name:
            continue
        ports = []
        for key in ("containers", "initContainers"):
            for container in (template.get("spec") or {}).get(key) or []:
                for port in container.get("ports") or []:
                    ports.append((int(port["containerPort"]), port.get("protocol", "TCP"), port.get("name", "")))
        previous = out.get(name)
        if previous is not None:
            ports += list(previous.ports)
        out[name] = Endpoint(name=name, namespace=namespace, labels=tuple(sorted(labels.items())),
                             ports=tuple(sorted(set(ports))), release=True, ns_labels=ns_labels)
    return out


def external_endpoints(spec: dict) -> dict[str, Endpoint]:
    out = {}
    for name, peer in (spec.get("peers") or {}).items():
        ports = tuple(sorted((*_parse_port(p), "") for p in peer.get("ports") or []))
        namespace = peer.get("namespace")
        ns_labels = {"kubernetes.io/metadata.name": namespace, **(peer.get("namespaceLabels") or {})} \
            if namespace else {}
        out[name] = Endpoint(name=name, namespace=namespace,
                             labels=tuple(sorted((peer.get("labels") or {}).items())),
                             ip=peer.get("ip"), ports=ports, ns_labels=tuple(sorted(ns_labels.items())))
    return out


def matrix(docs: list[dict], spec: dict) -> tuple[set[str], dict[str, Endpoint]]:
    """Every allowed connection as 'client -> server:port/PROTO'."""
    namespace = spec.get("namespace", "default")
    policies = of_kind(docs, "NetworkPolicy")
    release = release_endpoints(docs, namespace)
    external = external_endpoints(spec)
    edges = set()
    for client in [*release.values(), *external.values()]:
        for server in [*release.values(), *external.values()]:
            if not client.release and not server.release:
                continue
            for port, protocol in sorted({(p, proto) for p, proto, _ in server.ports}):
                if allowed(policies, client, server, port, protocol, namespace):
                    edges.add(f"{client.name} -> {server.name}:{port}/{protocol}")
    return edges, release


def _flatten(items: list) -> list[str]:
    """Edge lists may nest (YAML anchors of shared edge groups)."""
    out = []
    for item in items:
        out += _flatten(item) if isinstance(item, list) else [str(item)]
    return out


class EdgesError(ValueError):
    """The edges file says something that cannot be read (the message says what)."""


class UnknownEnvironment(EdgesError):
    """A values-<env>.yaml without its entry in the edges file."""


def intended(spec: dict, env: str) -> tuple[set[str], list[str]]:
    environments = spec.get("environments") or {}
    if env not in environments:
        raise UnknownEnvironment(
            f"environment {env!r} is not in the edges file (it declares "
            f"{', '.join(sorted(environments))}): add environments.{env} with its components "
            f"and edges")
    entry = environments[env]
    components = list(entry.get("components") or [])
    edges = set()
    for edge in _flatten(entry.get("edges") or []):
        client, _, target = (part.strip() for part in edge.partition("->"))
        server, _, port = target.partition(":")
        port_number, protocol = _parse_port(port)
        edges.add(f"{client} -> {server}:{port_number}/{protocol}")
    for component in components:
        for target in spec.get("everyComponentTo") or []:
            server, _, port = target.partition(":")
            port_number, protocol = _parse_port(port)
            edges.add(f"{component} -> {server}:{port_number}/{protocol}")
    return edges, components


def _endpoints(edge: str, endpoints: dict[str, Endpoint]) -> tuple | None:
    client, _, target = edge.partition(" -> ")
    server, _, port = target.partition(":")
    if client not in endpoints or server not in endpoints:
        return None
    return (endpoints[client], endpoints[server], *_parse_port(port))


def compare(docs: list[dict], spec: dict, env: str, edges_file: str = "the edges file",
            sources: dict[str, str] | None = None) -> tuple[list[str], set[str]]:
    """Missing and extra edges, each naming the NetworkPolicies that decide it (and their
    templates, from `sources`): the file to edit is a policy unless the edge is wrong."""
    computed, release = matrix(docs, spec)
    wanted, components = intended(spec, env)
    namespace = spec.get("namespace", "default")
    policies = of_kind(docs, "NetworkPolicy")
    endpoints = {**release, **external_endpoints(spec)}
    problems = []
    rendered = sorted(release)
    if sorted(components) != rendered:
        problems.append(f"components: rendered {rendered}, {edges_file} declares "
                        f"{sorted(components)} for {env}")

    def decided(edge: str) -> str:
        found = _endpoints(edge, endpoints)
        return why(policies, *found, namespace, sources or {}) if found else "unknown endpoint"

    for edge in sorted(wanted - computed):
        problems.append(f"missing edge {edge}: intended in {edges_file}, but the NetworkPolicies "
                        f"do not allow it ({decided(edge)})")
    for edge in sorted(computed - wanted):
        problems.append(f"extra edge {edge}: the NetworkPolicies allow it ({decided(edge)}), "
                        f"but {edges_file} does not intend it")
    return problems, computed


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--edges", required=True, help="intended edges (YAML)")
    parser.add_argument("--env", required=True)
    parser.add_argument("--print", action="store_true", help="list the computed matrix (info lines)")
    render_arguments(parser)


def check(args: argparse.Namespace) -> tuple[list[Problem], str]:
    spec = load_yaml(args.edges) or {}
    render = read_render(args.file)
    if not of_kind(render.docs, "NetworkPolicy"):
        return [Problem(path="", resource=args.env, message="the render has no NetworkPolicy",
                        rule="netpol")], ""
    try:
        problems, computed = compare(render.docs, spec, args.env, args.edges,
                                     template_sources(render.text, args.chart))
    except EdgesError as error:
        return [Problem(path=args.edges, resource=args.env, message=str(error), rule="netpol")], ""
    listing = [Problem(path=args.edges, resource=args.env, message=f"computed edge {edge}", rule="netpol",
                       severity=Severity.INFO) for edge in sorted(computed)] if args.print else []
    return (listing + [Problem(path=args.edges, resource=args.env, message=p, rule="netpol") for p in problems],
            f"{args.env}: {len(computed)} allowed connections, exactly the intended edges")


if __name__ == "__main__":
    raise SystemExit(run_check("netpol", __doc__, arguments, check))
