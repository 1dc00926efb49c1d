"""The ArgoCD Applications and ApplicationSets deploy what the repo releases.

    python -m pipeline.checks.argocd.sources [--root DIR] FILE...

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
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pipeline.checks.cli import run_check
from pipeline.checks.files import load_stream, load_values, load_yaml
from pipeline.checks.problem import Problem
from pipeline.layout import CHART, CHART_YAML, VALUES, environments_in, values_file
from pipeline.model.values import merged

RULE = "argocd"
PLACEHOLDER = re.compile(r"\{\{-?\s*\.([A-Za-z0-9_.]+)\s*-?\}\}")
PSA = "pod-security.kubernetes.io/enforce"
VERSION = r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
EXACT = re.compile(rf"^{VERSION}$")
# Masterminds/semver (what ArgoCD and Helm use): comparators, wildcards, ~ and ^ ranges, || and ,.
COMPARATOR = re.compile(r"^(=|!=|>=|<=|>|<|~|\^)?\s*v?(\*|x|X|\d+)(\.(\*|x|X|\d+))?(\.(\*|x|X|\d+))?"
                        r"(-[0-9A-Za-z.-]+)?$")
OUR_APPS = ("backend", "frontend")


@dataclass
class App:
    """One deployed application: the file and resource that declare it, and its (substituted) spec."""

    path: str
    resource: str  # kind/name, with "(env X)" for an ApplicationSet's element
    spec: dict

    @property
    def where(self) -> str:
        return f"{self.path}: {self.resource}"

    def problem(self, field: str, message: str) -> Problem:
        return Problem(path=self.path, resource=self.resource, field=field, message=message, rule=RULE)


def substitute(node: object, params: dict, where: App, problems: list[Problem]) -> object:
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
                problems.append(where.problem("spec.template", f"{{{{.{match.group(1)}}}}} has no value "
                                                               "(missingkey=error)"))
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


# A file reader: load_yaml, or its memo for one run (check_files: every app merges values.yaml).
Read = Callable[[Path], Any]


def release_repository(root: Path, read: Read) -> str:
    """Where `publish` pushes the chart, as ArgoCD names an OCI Helm repository:
    ghcr.io/<owner>/<repo>/charts (deploy.yml: the lower-cased GitHub repository + /charts)."""
    chart = read(root / CHART_YAML) or {}
    home = str(chart.get("home", "")).removeprefix("https://github.com/").removesuffix(".git").strip("/")
    return f"ghcr.io/{home.lower()}/charts"


def chart_name(root: Path, read: Read) -> str:
    chart = read(root / CHART_YAML) or {}
    return str(chart.get("name", ""))


def check_app_spec(app: App, root: Path, read: Read) -> list[Problem]:
    spec = app.spec
    problems = []
    source = spec.get("source") or {}
    helm = source.get("helm") or {}
    chart_dir = None
    if source.get("chart"):
        chart_dir = root / CHART
        if source["chart"] != chart_name(root, read):
            problems.append(app.problem("spec.source.chart", f"{source['chart']!r} is not the chart "
                                        f"`publish` pushes ({chart_name(root, read)!r})"))
        wanted = release_repository(root, read)
        if source.get("repoURL") != wanted:
            problems.append(app.problem("spec.source.repoURL", f"{source.get('repoURL')!r} is not where "
                                        f"`publish` pushes the chart ({wanted})"))
        revision = str(source.get("targetRevision", ""))
        if not is_version_or_constraint(revision):
            problems.append(app.problem("spec.source.targetRevision", f"{revision!r} is no SemVer version "
                                        "or constraint of the released chart"))
    else:
        path = source.get("path")
        if not path or not (root / path / "Chart.yaml").is_file():
            problems.append(app.problem("spec.source.path", f"{path!r} is not a chart directory in the repo"))
        else:
            chart_dir = root / path
        if not source.get("targetRevision"):
            problems.append(app.problem("spec.source.targetRevision", "missing (the branch it tracks)"))
    if not helm.get("releaseName"):
        problems.append(app.problem("spec.source.helm.releaseName", "missing"))
    for value_file in helm.get("valueFiles") or []:
        if chart_dir is not None and not (chart_dir / value_file).is_file():
            problems.append(app.problem("spec.source.helm.valueFiles",
                                        f"{(chart_dir / value_file).relative_to(root)} does not exist"))
    if not (spec.get("destination") or {}).get("namespace"):
        problems.append(app.problem("spec.destination.namespace", "missing"))
    sync = spec.get("syncPolicy") or {}
    automated = sync.get("automated") or {}
    for key in ("prune", "selfHeal"):
        if automated.get(key) is not True:
            problems.append(app.problem(f"spec.syncPolicy.automated.{key}", "must be true"))
    for option in ("CreateNamespace=true", "ServerSideApply=true"):
        if option not in (sync.get("syncOptions") or []):
            problems.append(app.problem("spec.syncPolicy.syncOptions", f"{option} missing"))
    labels = ((sync.get("managedNamespaceMetadata") or {}).get("labels") or {})
    if labels.get(PSA) != "restricted":
        problems.append(app.problem(f"spec.syncPolicy.managedNamespaceMetadata.labels.{PSA}", "must be restricted"))
    if source.get("chart") and chart_dir is not None:
        values = merged_values(spec, root, read)
        for name in OUR_APPS:
            tag = (((values.get(name) or {}).get("image") or {}).get("tag"))
            if tag:
                problems.append(app.problem(f"{name}.image.tag", f"{tag!r}: a released chart runs the images "
                                            "of its appVersion (leave the tag empty)"))
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


def expand_applicationset(doc: dict, declared: App, problems: list[Problem]) -> list[App]:
    spec = doc.get("spec") or {}
    if spec.get("goTemplate") is not True:
        problems.append(declared.problem("spec.goTemplate", "must be true"))
    if "missingkey=error" not in (spec.get("goTemplateOptions") or []):
        problems.append(declared.problem("spec.goTemplateOptions", "missingkey=error missing"))
    if (spec.get("syncPolicy") or {}).get("preserveResourcesOnDeletion") is not True:
        problems.append(declared.problem("spec.syncPolicy.preserveResourcesOnDeletion", "must be true"))
    generators = _generators(spec.get("generators") or [])
    elements = [e for g in generators if "list" in g for e in g["list"].get("elements") or []]
    if not elements:
        problems.append(declared.problem("spec.generators", "no list elements"))
    # A git directories generator (in a matrix) adds {{.path.path}} to each element.
    directories = [d.get("path", "") for g in generators if "git" in g
                   for d in g["git"].get("directories") or []] or [None]
    apps = []
    for element in elements:
        for directory in directories:
            params = {**element, **({"path": {"path": directory}} if directory is not None else {})}
            app = App(declared.path, f"{declared.resource} (env {element.get('env', '?')})", {})
            template = substitute(spec.get("template") or {}, params, app, problems)
            apps.append(App(app.path, app.resource, template.get("spec") or {}))
    return apps


def apps_of(path: Path, problems: list[Problem]) -> list[App]:
    """The Applications of a manifest file, ApplicationSets expanded (their problems added)."""
    docs, _ = load_stream(str(path))
    apps = []
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        declared = App(str(path), f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}",
                       doc.get("spec") or {})
        if doc.get("kind") == "Application":
            apps.append(declared)
        elif doc.get("kind") == "ApplicationSet":
            apps += expand_applicationset(doc, declared, problems)
    return apps


# ----------------------------------------------------------------- across apps

def merged_values(spec: dict, root: Path, read: Read) -> dict:
    """values.yaml, then each valueFile, then valuesObject: what helm renders the app with."""
    helm = (spec.get("source") or {}).get("helm") or {}
    files = [root / CHART / name for name in helm.get("valueFiles") or []]
    inline = helm.get("valuesObject")
    return merged([load_values([root / VALUES, *(path for path in files if path.is_file())], read),
                   inline if isinstance(inline, dict) else None])


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


def check_across(apps: list[App], root: Path, read: Read) -> list[Problem]:
    problems = []
    owners: dict[str, list[str]] = {}
    served: dict[str, list[str]] = {}
    namespaces: dict[tuple, list[str]] = {}
    for app in apps:
        helm = (app.spec.get("source") or {}).get("helm") or {}
        for value_file in helm.get("valueFiles") or []:
            if value_file.startswith("values-"):
                owners.setdefault(value_file, []).append(app.where)
        for host in hosts(merged_values(app.spec, root, read)):
            served.setdefault(host, []).append(app.where)
        destination = app.spec.get("destination") or {}
        key = (destination.get("server") or destination.get("name"), destination.get("namespace"))
        namespaces.setdefault(key, []).append(app.where)
    for values in map(values_file, environments_in(root)):
        deployers = owners.get(values.rsplit("/", 1)[-1], [])
        if not deployers:
            problems.append(Problem(values, "deployed by no Application (an environment "
                                    "without an owner)", rule=RULE))
        elif len(deployers) > 1:
            problems.append(Problem(values, f"deployed by {len(deployers)} apps "
                                    f"({'; '.join(deployers)}): one owner per environment", rule=RULE))
    for host, deployers in sorted(served.items()):
        if len(deployers) > 1:
            problems.append(Problem("", f"host {host!r} is deployed by {'; '.join(deployers)}: the ingress "
                                    "controller admits only one of them", rule=RULE))
    for (server, namespace), deployers in sorted(namespaces.items(), key=str):
        if len(deployers) > 1:
            problems.append(Problem("", f"namespace {namespace!r} on {server} is the destination of "
                                    f"{'; '.join(deployers)}", rule=RULE))
    return problems


def check_files(paths: list[Path], root: Path) -> list[Problem]:
    problems: list[Problem] = []
    apps = []
    for path in paths:
        apps += apps_of(path, problems)
    read = functools.cache(load_yaml)  # each chart file parsed once this run, read-only after
    for app in apps:
        problems += check_app_spec(app, root, read)
    return problems + check_across(apps, root, read)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("files", nargs="+", type=Path)


def check(args: argparse.Namespace) -> tuple[list[Problem], str]:
    return check_files(args.files, args.root), (f"{len(args.files)} file(s): sources, values files, one "
                                                "owner per environment and host, sync policy OK")


if __name__ == "__main__":
    raise SystemExit(run_check(RULE, __doc__, arguments, check))
