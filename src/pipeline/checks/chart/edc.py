"""The EDC settings contract (infra/helm/dpp-platform/edc-settings.yaml) over a chart render
or the compose file.

    helm template ... | python -m pipeline.checks.chart.edc --contract CONTRACT --env staging
    python -m pipeline.checks.chart.edc --contract CONTRACT --compose docker-compose.prod.yml

Each EDC plane (by app.kubernetes.io/component, or the compose service) must carry every
setting of its contract under its env name and non-empty (a secret through valueFrom), and
every datasource's EDC_DATASOURCE_<NAME>_{NAME,URL,USER,PASSWORD} with the hyphen kept (in
compose, a value from a required variable `${VAR:?...}` counts as set, and is how a secret must
come); a
datasource env the runtime does not know fails too (it would open an unused pool and demand a
URL). Addressing URLs must point where the contract says: `{service: C, port: P}` at a Service
of component C on its port P (compose: the service C), `{ingress: C, port: P}` at a host and
path an Ingress routes to that Service port. A render without the EDC passes (nothing to check).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from pipeline.checks.chart import contractcheck
from pipeline.checks.chart.contractcheck import Where, compose_services, render_workloads
from pipeline.checks.files import load_yaml
from pipeline.checks.problem import Problem
from pipeline.model.compose import sourced_environment
from pipeline.model.kube import component, effective_env, of_kind, rid

RULE = "edc-settings"
DATASOURCE_FIELDS = ("NAME", "URL", "USER", "PASSWORD")
DATASOURCE_PREFIX = "EDC_DATASOURCE_"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "0.0.0.0"}


@dataclass(frozen=True)
class Setting:
    env: str
    need: str
    extension: str
    source: str
    values: str = ""
    secret: bool = False
    url: tuple = ()  # (("service"|"ingress"), component, port name)

    def describe(self) -> str:
        where = f"; values {self.values}" if self.values else ""
        return f"{self.env} ({self.extension}, needed at {self.need}{where})"


@dataclass(frozen=True)
class Plane:
    name: str
    component: str
    compose: str
    settings: tuple[Setting, ...]
    datasources: tuple[str, ...]


def load_contract(path: str) -> list[Plane]:
    doc = load_yaml(path) or {}
    planes = []
    for name, plane in (doc.get("planes") or {}).items():
        settings = []
        for entry in plane.get("settings") or []:
            url = entry.get("url") or {}
            target = ()
            if url:
                kind = "ingress" if "ingress" in url else "service"
                target = (kind, url[kind], url["port"])
            settings.append(Setting(env=entry["env"], need=entry["need"], extension=entry["extension"],
                                    source=source_text(entry["source"]), values=entry.get("values", ""),
                                    secret=bool(entry.get("secret")), url=target))
        planes.append(Plane(name=name, component=plane["component"], compose=plane["compose"],
                            settings=tuple(settings), datasources=tuple(plane.get("datasources") or [])))
    return planes


def source_text(source: dict) -> str:
    """'TX <module>/src/main/java/<class> (reads)': the file the runtime reads a setting in."""
    text = f"{source['repo']} {source['module']}/src/main/java/{source['class']}"
    return f"{text} ({source['reads']})" if source.get("reads") else text


def datasource_env(store: str) -> list[str]:
    """EDC_DATASOURCE_<STORE>_*: upper case, hyphen kept (env `_` maps to `.`, `-` stays)."""
    return [f"{DATASOURCE_PREFIX}{store.upper()}_{field}" for field in DATASOURCE_FIELDS]


def check_environment(plane: Plane, env: dict[str, object], where: Where, field: str,
                      resolve_url) -> list[Problem]:
    """The contract over one plane's effective environment {name: value | valueFrom dict}."""
    problems = []
    for setting in plane.settings:
        value = env.get(setting.env)
        if value in (None, ""):
            problems.append(where.problem(RULE, f"{field}[{setting.env}]",
                                    f"missing: {setting.describe()}; see {setting.source}"))
            continue
        if setting.secret and not isinstance(value, dict):
            problems.append(where.problem(RULE, f"{field}[{setting.env}]",
                                    "a secret as a literal: read it from a Secret (valueFrom)"))
        if setting.url and isinstance(value, str):
            for message in resolve_url(setting, value):
                problems.append(where.problem(RULE, f"{field}[{setting.env}]", f"{value!r}: {message}"))
    known = {name for store in plane.datasources for name in datasource_env(store)}
    for store in plane.datasources:
        for name in datasource_env(store):
            if env.get(name) in (None, ""):
                problems.append(where.problem(RULE, f"{field}[{name}]",
                                        f"missing: datasource {store!r} of the {plane.name} "
                                        f"(edc.datasource.{store}.*, its SQL store and migration)"))
    for name in sorted(n for n in env if str(n).startswith(DATASOURCE_PREFIX) and n not in known):
        problems.append(where.problem(RULE, f"{field}[{name}]",
                                f"no datasource of the {plane.name} is called that "
                                f"({', '.join(plane.datasources)}; env keeps hyphens, "
                                "e.g. EDC_DATASOURCE_POLICY-MONITOR_URL)"))
    return problems


# ----------------------------------------------------------------- chart render

def _service_ports(docs: list[dict], wanted: str) -> dict[str, dict[str, int]]:
    """{Service name: {port name: port}} of the Services of one component."""
    return {s["metadata"]["name"]: {str(p.get("name")): int(p.get("port")) for p in s["spec"].get("ports") or []}
            for s in of_kind(docs, "Service") if component(s) == wanted}


def _routes(docs: list[dict]) -> list[tuple[str, bool, str, str, str]]:
    """(host, TLS?, path, Service name, port name) of every Ingress path."""
    out = []
    for ingress in of_kind(docs, "Ingress"):
        spec = ingress.get("spec") or {}
        tls_hosts = {h for t in spec.get("tls") or [] for h in t.get("hosts") or []}
        for rule in spec.get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                service = (path.get("backend") or {}).get("service") or {}
                port = service.get("port") or {}
                out.append((rule.get("host"), rule.get("host") in tls_hosts, str(path.get("path", "/")),
                            service.get("name"), str(port.get("name", port.get("number")))))
    return out


def _under(path: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/")
    return prefix == "" or path == prefix or path.startswith(prefix + "/")


def render_url_resolver(docs: list[dict]):
    routes = _routes(docs)

    def resolve(setting: Setting, value: str) -> list[str]:
        kind, target, port_name = setting.url
        url = urlsplit(value)
        services = _service_ports(docs, target)
        if url.hostname in LOCAL_HOSTS or not url.hostname:
            return [f"points at {url.hostname or 'no host'}, not at the {target} {port_name} endpoint"]
        if kind == "service":
            ports = services.get(url.hostname)
            if ports is None:
                return [f"host {url.hostname!r} is no Service of {target} ({', '.join(services) or 'none rendered'})"]
            if url.port != ports.get(port_name):
                return [f"port {url.port} is not Service/{url.hostname}'s {port_name!r} port ({ports.get(port_name)})"]
            return []
        matching = [r for r in routes if r[0] == url.hostname and _under(url.path or "/", r[2])]
        if not matching:
            return [f"no Ingress routes host {url.hostname!r} path {url.path!r} (other connectors "
                    f"must reach the {target} {port_name} endpoint there)"]
        best = max(matching, key=lambda r: len(r[2]))
        if best[3] not in services or best[4] != port_name:
            return [f"the Ingress routes it to Service/{best[3]} port {best[4]!r}, not to {target}'s {port_name!r}"]
        if url.scheme == "https" and not best[1]:
            return [f"https, but the Ingress serves host {url.hostname!r} without TLS"]
        return []
    return resolve


def check_render(docs: list[dict], planes: list[Plane], env_name: str) -> tuple[list[Problem], int]:
    resolve = render_url_resolver(docs)
    problems, checked = [], 0
    for plane in planes:
        for doc, template, base in render_workloads(docs, plane.component):
            checked += 1
            for container in (template.get("spec") or {}).get("containers") or []:
                field = f"{base}.containers[{container.get('name')}].env"
                problems += check_environment(plane, effective_env(container, docs),
                                              Where(resource=f"{env_name}: {rid(doc)}"), field, resolve)
    return problems, checked


# ----------------------------------------------------------------- compose

def compose_url_resolver(services: dict):
    def resolve(setting: Setting, value: str) -> list[str]:
        kind, target, port_name = setting.url
        host = urlsplit(value).hostname
        if kind == "ingress":  # no ingress in compose: any non-local host (the operator's proxy)
            return [f"points at {host or 'no host'}: other connectors cannot reach it"] \
                if not host or host in LOCAL_HOSTS else []
        if host != target:
            return [f"host {host!r} is not the compose service {target!r}"]
        return []
    return resolve


def check_compose(doc, planes: list[Plane], path: str) -> tuple[list[Problem], int]:
    resolve = compose_url_resolver(doc[0].services)
    found, problems = compose_services(doc, planes, path, RULE)
    for plane, service, written in found:
        problems += check_environment(plane, sourced_environment(service, written), Where(path),
                                      f"services.{plane.compose}.environment", resolve)
    return problems, len(found)


POLICY = contractcheck.ContractCheck(
    rule=RULE, load_contract=load_contract, check_render=check_render, check_compose=check_compose,
    subjects="EDC workload(s)", holds="carry every setting of", absent="the EDC is not enabled")


if __name__ == "__main__":
    raise SystemExit(contractcheck.run_contract(POLICY, __doc__))
