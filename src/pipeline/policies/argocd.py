"""The ArgoCD Application and ApplicationSet deploy what the repo holds.

    python -m pipeline.policies.argocd [--root DIR] FILE...

For the Application and for every element of the ApplicationSet (its list
generator's {env, branch}, substituted into the template as goTemplate would):
the chart path exists, every helm valueFile exists relative to it, the release
name is set; sync is automated with prune and selfHeal, CreateNamespace and
ServerSideApply; the namespace is labelled Pod Security "restricted". The
ApplicationSet uses goTemplate with missingkey=error, a git generator reading
'{{.branch}}', preserves resources on deletion, and deploys every
values-<env>.yaml of the chart.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

from pipeline.policies.manifests import report

PLACEHOLDER = re.compile(r"\{\{-?\s*\.([A-Za-z0-9_.]+)\s*-?\}\}")
PSA = "pod-security.kubernetes.io/enforce"


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


def check_app_spec(spec: dict, where: str, root: Path) -> list[str]:
    problems = []
    source = spec.get("source") or {}
    path = source.get("path")
    if not path or not (root / path / "Chart.yaml").is_file():
        problems.append(f"{where}: spec.source.path: {path!r} is not a chart directory in the repo")
    helm = source.get("helm") or {}
    if not helm.get("releaseName"):
        problems.append(f"{where}: spec.source.helm.releaseName: missing")
    for value_file in helm.get("valueFiles") or []:
        if path and not (root / path / value_file).is_file():
            problems.append(f"{where}: spec.source.helm.valueFiles: {path}/{value_file} does not exist")
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


def check_applicationset(doc: dict, where: str, root: Path) -> list[str]:
    problems = []
    spec = doc.get("spec") or {}
    if spec.get("goTemplate") is not True:
        problems.append(f"{where}: spec.goTemplate: must be true")
    if "missingkey=error" not in (spec.get("goTemplateOptions") or []):
        problems.append(f"{where}: spec.goTemplateOptions: missingkey=error missing")
    if (spec.get("syncPolicy") or {}).get("preserveResourcesOnDeletion") is not True:
        problems.append(f"{where}: spec.syncPolicy.preserveResourcesOnDeletion: must be true")
    generators = _generators(spec.get("generators") or [])
    elements = [e for g in generators if "list" in g for e in g["list"].get("elements") or []]
    gits = [g["git"] for g in generators if "git" in g]
    if not gits:
        problems.append(f"{where}: spec.generators: no git generator")
    if not elements:
        problems.append(f"{where}: spec.generators: no list elements (env, branch)")
    template = spec.get("template") or {}
    deployed = set()
    for element in elements:
        env = element.get("env", "?")
        for git in gits:
            revision = git.get("revision", "")
            if "{{" not in revision:
                problems.append(f"{where}: git generator revision {revision!r}: must be the element's "
                                "branch ('{{.branch}}'), one revision per environment")
            for directory in git.get("directories") or [{}]:
                params = {**element, "path": {"path": directory.get("path", "")}}
                label = f"{where} (env {env})"
                app = substitute(template, params, label, problems)
                problems += check_app_spec(app.get("spec") or {}, label, root)
                if app["spec"].get("source", {}).get("targetRevision") != element.get("branch"):
                    problems.append(f"{label}: spec.source.targetRevision: must be the element's branch")
                for value_file in ((app["spec"].get("source") or {}).get("helm") or {}).get("valueFiles") or []:
                    deployed.add(value_file)
    chart_paths = {d.get("path") for g in gits for d in g.get("directories") or []}
    for chart in sorted(p for p in chart_paths if p):
        for values in sorted((root / chart).glob("values-*.yaml")):
            if values.name not in deployed:
                problems.append(f"{where}: {chart}/{values.name} is deployed by no element")
    return problems


def check_file(path: Path, root: Path) -> list[str]:
    problems = []
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if not doc:
            continue
        where = f"{path}: {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        if doc.get("kind") == "Application":
            problems += check_app_spec(doc.get("spec") or {}, where, root)
        elif doc.get("kind") == "ApplicationSet":
            problems += check_applicationset(doc, where, root)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.policies.argocd", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    problems = []
    for path in args.files:
        problems += check_file(path, args.root)
    return report("argocd", problems, f"{len(args.files)} file(s): sources, values files and sync policy OK")


if __name__ == "__main__":
    sys.exit(main())
