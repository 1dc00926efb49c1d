"""The application contract (infra/app-contract.yaml) over a chart render or the compose file.

    helm template ... | python -m pipeline.checks.chart.appcontract --contract CONTRACT --env prod
    python -m pipeline.checks.chart.appcontract --contract CONTRACT --compose docker-compose.prod.yml

For each of our applications (backend, frontend), both deployments must run the contract's
image repository, listen on its port, probe its health paths there, scrape its metrics path,
and set every required env name and no name outside required + optional. The compose service
must also depend on every service the application needs. Chart and compose are each held to
the one contract, so they cannot disagree with each other without one of them failing.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.checks.chart import contractcheck
from pipeline.checks.chart.contractcheck import Where, compose_services, render_workloads
from pipeline.checks.files import load_yaml
from pipeline.checks.problem import Problem
from pipeline.layout import APP_CONTRACT
from pipeline.model.kube import component, effective_env, of_kind, rid

RULE = "app-contract"


@dataclass(frozen=True)
class App:
    name: str
    component: str
    compose: str
    image: str
    port: int
    liveness: str
    readiness: str
    metrics: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    needs: tuple[str, ...]


def load_contract(path: str) -> list[App]:
    doc = load_yaml(path) or {}
    return [App(name=name, component=app["component"], compose=app["compose"], image=app["image"],
                port=int(app["port"]), liveness=app["health"]["liveness"],
                readiness=app["health"]["readiness"], metrics=app.get("metrics") or "",
                required=tuple(app["env"].get("required") or ()),
                optional=tuple(app["env"].get("optional") or ()), needs=tuple(app.get("needs") or ()))
            for name, app in (doc.get("apps") or {}).items()]


def repository(image: str) -> str:
    """registry/repository of an image reference, without tag or digest."""
    image = image.split("@", 1)[0]
    head, _, last = image.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def check_env_names(app: App, names: set[str], where: Where, field: str) -> list[Problem]:
    problems = [where.problem(RULE, f"{field}[{name}]", f"missing: {app.name} requires it ({APP_CONTRACT})")
                for name in app.required if name not in names]
    allowed = set(app.required) | set(app.optional)
    problems += [where.problem(RULE, f"{field}[{name}]",
                         f"not in {app.name}'s contract (required or optional): a typo, or add it to "
                         f"{APP_CONTRACT}")
                 for name in sorted(names - allowed)]
    return problems


def check_image(app: App, image: str, where: Where, field: str) -> list[Problem]:
    if repository(image) != app.image:
        return [where.problem(RULE, field, f"{image!r}: {app.name}'s image is {app.image} ({APP_CONTRACT})")]
    return []


# ----------------------------------------------------------------- chart render

def _port_number(container: dict, port: object) -> object:
    for entry in container.get("ports") or []:
        if port in (entry.get("name"), entry.get("containerPort")):
            return entry.get("containerPort")
    return port


def check_render(docs: list[dict], apps: list[App], env_name: str) -> tuple[list[Problem], int]:
    problems, checked = [], 0
    for app in apps:
        for doc, template, base in render_workloads(docs, app.component):
            checked += 1
            where = Where(resource=f"{env_name}: {rid(doc)}")
            for container in (template.get("spec") or {}).get("containers") or []:
                if container.get("name") != app.name:
                    continue
                path = f"{base}.containers[{app.name}]"
                problems += check_image(app, str(container.get("image", "")), where, f"{path}.image")
                ports = [p.get("containerPort") for p in container.get("ports") or []]
                if app.port not in ports:
                    problems.append(where.problem(RULE, f"{path}.ports",
                                            f"{ports}: {app.name} listens on {app.port}"))
                tcp = (container.get("livenessProbe") or {}).get("tcpSocket") or {}
                if not app.liveness and _port_number(container, tcp.get("port")) != app.port:
                    problems.append(where.problem(
                        RULE, f"{path}.livenessProbe.tcpSocket",
                        f"port {tcp.get('port')!r}: {app.name} has no liveness path, so its "
                        f"liveness is a TCP check of {app.port} ({APP_CONTRACT})"))
                for probe, wanted in (("livenessProbe", app.liveness), ("readinessProbe", app.readiness)):
                    if not wanted:
                        continue
                    get = (container.get(probe) or {}).get("httpGet") or {}
                    if get.get("path") != wanted or _port_number(container, get.get("port")) != app.port:
                        problems.append(where.problem(
                            RULE, f"{path}.{probe}.httpGet",
                            f"{get.get('path')!r} on port {get.get('port')!r}: {app.name}'s health is "
                            f"{wanted} on {app.port} ({APP_CONTRACT})"))
                problems += check_env_names(app, set(effective_env(container, docs)), where, f"{path}.env")
    for monitor in of_kind(docs, "ServiceMonitor"):
        app = next((a for a in apps if component(monitor) == a.component), None)
        if app is None:
            continue
        for i, endpoint in enumerate((monitor.get("spec") or {}).get("endpoints") or []):
            if endpoint.get("path", "/metrics") != app.metrics:
                problems.append(Where(resource=f"{env_name}: {rid(monitor)}").problem(RULE, f"spec.endpoints[{i}].path",
                                        f"{endpoint.get('path')!r}: {app.name} serves metrics on "
                                        f"{app.metrics or 'no path'} ({APP_CONTRACT})"))
    return problems, checked


# ----------------------------------------------------------------- compose

def check_compose(doc, apps: list[App], path: str) -> tuple[list[Problem], int]:
    services = doc[0].services
    found, problems = compose_services(doc, apps, path, RULE)
    where = Where(path)
    for app, service, _ in found:
        field = f"services.{app.compose}"
        problems += check_image(app, service.image, where, f"{field}.image")
        ports = {e.split("/")[0] for e in service.expose} | {str(p.target) for p in service.ports}
        if str(app.port) not in ports:
            problems.append(where.problem(RULE, f"{field}.expose", f"{sorted(ports)}: {app.name} listens on {app.port}"))
        health = " ".join(service.healthcheck.test)
        if not any(f"{host}:{app.port}{app.readiness}" in health for host in ("localhost", "127.0.0.1")):
            problems.append(where.problem(RULE, f"{field}.healthcheck.test",
                                          f"does not ask http://localhost:{app.port}{app.readiness}: {app.name}'s "
                                          f"readiness path ({APP_CONTRACT})"))
        problems += check_env_names(app, set(service.environment), where, f"{field}.environment")
        depends = service.depends_on
        for need in app.needs:
            if need not in services:
                problems.append(where.problem(RULE, f"services.{need}", f"missing: {app.name} needs it"))
            elif need not in depends:
                problems.append(where.problem(RULE, f"{field}.depends_on",
                                              f"{need} missing: {app.name} needs it ({APP_CONTRACT})"))
    return problems, len(found)


POLICY = contractcheck.ContractCheck(
    rule=RULE, load_contract=load_contract, check_render=check_render, check_compose=check_compose,
    subjects="application workload(s)", holds="agree with", absent="no application is enabled")


if __name__ == "__main__":
    raise SystemExit(contractcheck.run_contract(POLICY, __doc__))
