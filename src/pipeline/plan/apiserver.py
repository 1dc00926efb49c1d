"""Checks of the apiserver group: every deployment, dry-run on a real Kubernetes API server.

kubeconform proves that a render matches the OpenAPI schemas; only the API server
proves it is accepted: admission (Pod Security "restricted" from the namespace
labels), strict field decoding, CRD schemas, server-side apply. These checks use the
`kube-apiserver` service (plan/services.py) and run pipeline/checks/apiserver/dryrun.py:

  chart-<env>   per values-<env>.yaml: each ArgoCD Application (ApplicationSets
                expanded) that deploys it, rendered as ArgoCD renders it (its release,
                namespace and valueFiles; the server's version and API versions),
                into its namespace labelled as ArgoCD's managedNamespaceMetadata
  argocd        the manifests of infra/argocd, into the namespaces they name

Each installs the CRDs of infra/schemas/crd-sources first.
"""

from __future__ import annotations

from pipeline.layout import ARGOCD, CHART, CHART_YAML, CRD_SOURCES
from pipeline.plan.chart import environments
from pipeline.plan.model import KUBECONFIG, Check, Tree, check_modules, python_check
from pipeline.plan.services import KUBE_APISERVER

(dryrun,) = check_modules("pipeline.checks.apiserver", "dryrun")

GROUP = "apiserver"


def dry_run(name: str, args: list[str], reads: list[str], description: str) -> Check:
    return python_check(
        name, GROUP, dryrun, ["--kubeconfig", KUBECONFIG, "--crds", CRD_SOURCES, *args],
        [*reads, CRD_SOURCES], description=description, uses=("helm",),
        services=(KUBE_APISERVER.name,))


def checks(tree: Tree) -> list[Check]:
    manifests = tree.glob(f"{ARGOCD}/*.yaml")
    if not manifests or not tree.is_dir(CRD_SOURCES):
        return []
    found = []
    if tree.is_file(CHART_YAML):
        for env in environments(tree):
            found.append(dry_run(
                f"chart-{env}", ["--chart", CHART, "--env", env, *manifests], [CHART, ARGOCD],
                f"values-{env}.yaml as ArgoCD deploys it: the requests of kubectl apply "
                "--dry-run=server --validate=strict, server-side apply as argocd-controller, every pod template "
                "as a Pod, Pod Security from the ArgoCD namespace labels; any warning fails"))
    found.append(dry_run(
        "argocd", manifests, [ARGOCD],
        "infra/argocd on the API server with the argoproj.io CRDs: the same dry-runs; "
        "any warning fails"))
    return found
