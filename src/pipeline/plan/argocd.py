"""Checks of the argocd group: the Application and ApplicationSet of infra/argocd.

  kubeconform   the manifests against the ArgoCD CRD schemas (infra/schemas/crds), strict
  sources       the chart path, valueFiles and branches they deploy exist; sync policy
                (src/pipeline/checks/argocd/sources.py)
"""

from __future__ import annotations

from pipeline.layout import ARGOCD, CHART, CRD_SCHEMAS
from pipeline.plan.chart import kubeconform_argv
from pipeline.plan.model import Check, Tree, check_modules, python_check
from pipeline.toolchain import kube_versions

(sources,) = check_modules("pipeline.checks.argocd", "sources")

GROUP = "argocd"


def checks(tree: Tree) -> list[Check]:
    manifests = tree.glob(f"{ARGOCD}/*.yaml")
    if not manifests:
        return []
    newest = kube_versions()[-1]
    return [
        Check(name="kubeconform", group=GROUP, tool="kubeconform",
              argv=kubeconform_argv(newest, *manifests),
              reads=(ARGOCD, CRD_SCHEMAS),
              description="infra/argocd against the argoproj.io CRD schemas (strict)"),
        python_check("sources", GROUP, sources, manifests, [ARGOCD, CHART],
                     description="chart path, valueFiles and per-environment branches exist; "
                                 "automated sync, CreateNamespace, PSA restricted"),
    ]
