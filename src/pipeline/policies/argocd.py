"""The ArgoCD Applications and ApplicationSets deploy what the repo releases.

    python -m pipeline.policies.argocd [--root DIR] FILE...

Every Application, and every element of an ApplicationSet (its list generator's elements,
substituted into the template as goTemplate with missingkey=error would), deploys either
- the chart from git (`path`): the path holds a chart, and targetRevision names a branch; or
- a released chart (`chart`): the repository `publish` pushes to (ghcr.io/<owner>/<repo>/charts
  of Chart.yaml `home`), the chart's name, and a SemVer version or constraint as
  targetRevision; its images follow the chart's appVersion (no image tag in its values);
and in both cases every helm valueFile exists in the chart, the release name is set, sync is
automated with prune and selfHeal, CreateNamespace and ServerSideApply, and the namespace is
labelled Pod Security "restricted". An ApplicationSet uses goTemplate with missingkey=error and
preserves resources on deletion.

Across all files: every values-<env>.yaml of the chart is deployed by exactly one app (one
owner per environment), no two apps share a destination namespace, and no two apps serve the
same host (the hosts each app's values give the ingress: the platform, auth. and edc. hosts).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.policies.manifests import report

PLACEHOLDER = re.compile(r"\{\{-?\s*\.([A-Za-z0-9_.]+)\s*-?\}\}")
PSA = "pod-security.kubernetes.io/enforce"
CHART_DIR = "infra/helm/dpp-platform"
VERSION = r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
EXACT = re.compile(rf"^{VERSION}$")
# Masterminds/semver (what ArgoCD and Helm use): comparators, wildcards, ~ and ^ ranges, || and ,.
COMPARATOR = re.compile(r"^(=|!=|>=|<=|>|<|~|\^)?\s*v?(\*|x|X|\d+)(\.(\*|x|X|\d+))?(\.(\*|x|X|\d+))?"
                        r"(-[0-9A-Za-z.-]+)?$")
OUR_APPS = ("backend", "frontend")


@dataclass
class App:
    """One deployed application: where it is declared and its (substituted) spec."""

    where: str
    spec: dict


def substitute(node: object, params: dict, where: str, problems: list[str]) -> object:
    """goTemplate's `{{.a.b}}` with missingkey=error, on every string of a tree."""
    if isinstance(node, dict):
        return {k: substitute(v, params, where, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, params, where, problems) for v in node]
    if not isinstance(node, str):
        return node

    def value(match: re.Match) -> str:
        current: object = params
        for part in match.group(1).split("."):
            if not isinstance(current, dict) or part not in current:
                problems.append(f"{where}: {{{{.{match.group(1)}}}}} has no value (missingkey=error)")
                return match.group(0)
            current = current[part]
        return str(current)
    return PLACEHOLDER.sub(value, node)


def is_version_or_constraint(text: str) -> bool:
    if EXACT.match(text):
        return True
    alternatives = [a.strip() for a in text.split("||")]
    return all(alternatives) and all(
        COMPARATOR.match(part.strip()) for alt in alternatives for part in re.split(r"\s*,\s*|\s+(?=[<>=!~^])", alt)
        if part.strip())


def release_repository(root: Path) -> str:
    """Where `publish` pushes the chart, as ArgoCD names an OCI Helm repository:
    ghcr.io/<owner>/<repo>/charts (deploy.yml: the lower-cased GitHub repository + /charts)."""
    chart = yaml.safe_load((root / CHART_DIR / "Chart.yaml").read_text(encoding="utf-8")) or {}
    home = str(chart.get("home", "")).removeprefix("https://github.com/").removesuffix(".git").strip("/")
    return f"ghcr.io/{home.lower()}/charts"


def chart_name(root: Path) -> str:
    chart = yaml.safe_load((root / CHART_DIR / "Chart.yaml").read_text(encoding="utf-8")) or {}
    return str(chart.get("name", ""))


def check_app_spec(spec: dict, where: str, root: Path) -> list[str]:
    problems = []
    source = spec.get("source") or {}
    helm = source.get("helm") or {}
    chart_dir = None
    if source.get("chart"):
        chart_dir = root / CHART_DIR
        if source["chart"] != chart_name(root):
            problems.append(f"{where}: spec.source.chart: {source['chart']!r} is not the chart `publish` "
                            f"pushes ({chart_name(root)!r})")
        wanted = release_repository(root)
        if source.get("repoURL") != wanted:
            problems.append(f"{where}: spec.source.repoURL: {source.get('repoURL')!r} is not where `publish` "
                            f"pushes the chart ({wanted})")
        revision = str(source.get("targetRevision", ""))
        if not is_version_or_constraint(revision):
            problems.append(f"{where}: spec.source.targetRevision: {revision!r} is no SemVer version or "
                            "constraint of the released chart")
    else:
        path = source.get("path")
        if not path or not (root / path / "Chart.yaml").is_file():
            problems.append(f"{where}: spec.source.path: {path!r} is not a chart directory in the repo")
        else:
            chart_dir = root / path
        if not source.get("targetRevision"):
            problems.append(f"{where}: spec.source.targetRevision: missing (the branch it tracks)")
    if not helm.get("releaseName"):
        problems.append(f"{where}: spec.source.helm.releaseName: missing")
    for value_file in helm.get("valueFiles") or []:
        if chart_dir is not None and not (chart_dir / value_file).is_file():
            problems.append(f"{where}: spec.source.helm.valueFiles: "
                            f"{(chart_dir / value_file).relative_to(root)} does not exist")
    if not (spec.get("destination") or {}).get("namespace"):
        problems.append(f"{where}: spec.destination.namespace: missing")
    sync = spec.get("syncPolicy") or {}
    automated = sync.get("automated") or {}
    for key in ("prune", "selfHeal"):
        if automated.get(key) is not True:
            problems.append(f"{where}: spec.syncPolicy.automated.{key}: must be true")
    for option in ("CreateNamespace=true", "ServerSideApply=true"):
        if option not in (sync.get("syncOptions") or []):
            problems.append(f"{where}: spec.syncPolicy.syncOptions: {option} missing")
    labels = ((sync.get("managedNamespaceMetadata") or {}).get("labels") or {})
    if labels.get(PSA) != "restricted":
        problems.append(f"{where}: spec.syncPolicy.managedNamespaceMetadata.labels.{PSA}: must be restricted")
    if source.get("chart") and chart_dir is not None:
        values = merged_values(spec, root)
        for app in OUR_APPS:
            tag = (((values.get(app) or {}).get("image") or {}).get("tag"))
            if tag:
                problems.append(f"{where}: {app}.image.tag: {tag!r}: a released chart runs the images of "
                                "its appVersion (leave the tag empty)")
    return problems


def _generators(generators: list) -> list[dict]:
    out = []
    for generator in generators or []:
        out.append(generator)
        if "matrix" in generator:
            out += _generators(generator["matrix"].get("generators") or [])
        if "merge" in generator:
            out += _generators(generator["merge"].get("generators") or [])
    return out


def expand_applicationset(doc: dict, where: str, problems: list[str]) -> list[App]:
    spec = doc.get("spec") or {}
    if spec.get("goTemplate") is not True:
        problems.append(f"{where}: spec.goTemplate: must be true")
    if "missingkey=error" not in (spec.get("goTemplateOptions") or []):
        problems.append(f"{where}: spec.goTemplateOptions: missingkey=error missing")
    if (spec.get("syncPolicy") or {}).get("preserveResourcesOnDeletion") is not True:
        problems.append(f"{where}: spec.syncPolicy.preserveResourcesOnDeletion: must be true")
    generators = _generators(spec.get("generators") or [])
    elements = [e for g in generators if "list" in g for e in g["list"].get("elements") or []]
    if not elements:
        problems.append(f"{where}: spec.generators: no list elements")
    # A git directories generator (in a matrix) adds {{.path.path}} to each element.
    directories = [d.get("path", "") for g in generators if "git" in g
                   for d in g["git"].get("directories") or []] or [None]
    apps = []
    for element in elements:
        for directory in directories:
            params = {**element, **({"path": {"path": directory}} if directory is not None else {})}
            label = f"{where} (env {element.get('env', '?')})"
            template = substitute(spec.get("template") or {}, params, label, problems)
            apps.append(App(label, template.get("spec") or {}))
    return apps


def apps_of(path: Path, problems: list[str]) -> list[App]:
    apps = []
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if not isinstance(doc, dict):
            continue
        where = f"{path}: {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        if doc.get("kind") == "Application":
            apps.append(App(where, doc.get("spec") or {}))
        elif doc.get("kind") == "ApplicationSet":
            apps += expand_applicationset(doc, where, problems)
    return apps


# ----------------------------------------------------------------- across apps

def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in (over or {}).items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def merged_values(spec: dict, root: Path) -> dict:
    """values.yaml, then each valueFile, then valuesObject: what helm renders the app with."""
    helm = (spec.get("source") or {}).get("helm") or {}
    values = yaml.safe_load((root / CHART_DIR / "values.yaml").read_text(encoding="utf-8")) or {}
    for value_file in helm.get("valueFiles") or []:
        path = root / CHART_DIR / value_file
        if path.is_file():
            values = _merge(values, yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return _merge(values, helm.get("valuesObject") or {})


def hosts(values: dict) -> set[str]:
    """The hosts the chart's Ingress serves with these values."""
    ingress = values.get("ingress") or {}
    if not ingress.get("enabled"):
        return set()
    domain = (values.get("global") or {}).get("domain", "")
    found = {ingress.get("host") or domain}
    if (values.get("keycloak") or {}).get("enabled"):
        found.add(values["keycloak"].get("hostname") or f"auth.{domain}")
    if (values.get("edc") or {}).get("enabled"):
        found.add(values["edc"].get("hostname") or f"edc.{domain}")
    return found


def check_across(apps: list[App], root: Path) -> list[str]:
    problems = []
    owners: dict[str, list[str]] = {}
    served: dict[str, list[str]] = {}
    namespaces: dict[tuple, list[str]] = {}
    for app in apps:
        helm = (app.spec.get("source") or {}).get("helm") or {}
        for value_file in helm.get("valueFiles") or []:
            if value_file.startswith("values-"):
                owners.setdefault(value_file, []).append(app.where)
        for host in hosts(merged_values(app.spec, root)):
            served.setdefault(host, []).append(app.where)
        destination = app.spec.get("destination") or {}
        key = (destination.get("server") or destination.get("name"), destination.get("namespace"))
        namespaces.setdefault(key, []).append(app.where)
    for values in sorted((root / CHART_DIR).glob("values-*.yaml")):
        deployers = owners.get(values.name, [])
        if not deployers:
            problems.append(f"{CHART_DIR}/{values.name}: deployed by no Application (an environment "
                            "without an owner)")
        elif len(deployers) > 1:
            problems.append(f"{CHART_DIR}/{values.name}: deployed by {len(deployers)} apps "
                            f"({'; '.join(deployers)}): one owner per environment")
    for host, deployers in sorted(served.items()):
        if len(deployers) > 1:
            problems.append(f"host {host!r} is deployed by {'; '.join(deployers)}: the ingress "
                            "controller admits only one of them")
    for (server, namespace), deployers in sorted(namespaces.items(), key=str):
        if len(deployers) > 1:
            problems.append(f"namespace {namespace!r} on {server} is the destination of "
                            f"{'; '.join(deployers)}")
    return problems


def check_files(paths: list[Path], root: Path) -> list[str]:
    problems: list[str] = []
    apps = []
    for path in paths:
        apps += apps_of(path, problems)
    for app in apps:
        problems += check_app_spec(app.spec, app.where, root)
    return problems + check_across(apps, root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.policies.argocd", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    problems = check_files(args.files, args.root)
    return report("argocd", problems, f"{len(args.files)} file(s): sources, values files, one owner "
                                      "per environment and host, sync policy OK")


if __name__ == "__main__":
    sys.exit(main())
