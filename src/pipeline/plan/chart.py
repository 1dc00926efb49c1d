"""Checks of the chart group: the dpp-platform Helm chart, proven per environment.

For each values file (values-<env>.yaml, overlaid on values.yaml) and each
Kubernetes version of toolchain.toml:
  helm-lint-<env>-<kube>                 helm lint --strict
  kubeconform-<env>-<kube>[-monitoring]  helm template (without / with the
                                         monitoring.coreos.com/v1 API) | kubeconform -strict
                                         against the Kubernetes and the CRD schemas
and per environment, on the newest version with the monitoring API:
  policies-<env>    python policies over the render (src/pipeline/checks/chart/policies.py,
                    one rule a module beside it)
  hardening-<env>   supply-chain and runtime hardening over the render, with the
                    exceptions its values document (src/pipeline/checks/chart/hardening.py)
  netpol-<env>      NetworkPolicy reachability == infra/helm/network-edges.yaml
  resources-<env>   requests summed (a development tier must fit 4 CPU / 8 GiB)
  prometheusrule-<env>  every selector of the rendered rules scoped to the release namespace,
                    EDC rule groups only with the EDC
  scrape-<env>      prometheus.k8s.yml jobs and the ServiceMonitors, discovered and relabelled
                    over the render: every job keeps a target, every contract component is scraped
  edc-settings-<env> the EDC settings contract (edc-settings.yaml) over the render
  app-contract-<env> backend and frontend as infra/app-contract.yaml says
Environments are the values-*.yaml files; tier-dependent rules read global.environment.
plus monitoring-files-sync (the chart's copies of infra/monitoring) and values-docs.
"""

from __future__ import annotations

from pipeline import layout
from pipeline.layout import (APP_CONTRACT, CHART, CHART_COPIES, CHART_YAML, CLUSTER_OBJECTS,
                             CRD_SCHEMAS, EDC_SETTINGS, METRICS_CONTRACT, NAMESPACE, NETWORK_EDGES,
                             PROMETHEUS_K8S, RELEASE, VALUES, VALUES_SCHEMA, values_file)
from pipeline.plan.model import SCHEMAS, Check, Step, Tree, check_modules, python_check
from pipeline.toolchain import kube_versions

(appcontract, chartfiles, edc, hardening, netpol, policies, promrules, resources, scrape,
 valuesdoc) = check_modules("pipeline.checks.chart", "appcontract", "chartfiles", "edc",
                            "hardening", "netpol", "policies", "promrules", "resources",
                            "scrape", "valuesdoc")

GROUP = "chart"
CRD_LOCATION = CRD_SCHEMAS + "/{{ .ResourceKind }}{{ .KindSuffix }}.json"
MONITORING_API = "monitoring.coreos.com/v1"


def environments(tree: Tree) -> list[str]:
    return layout.environments(tree.files)


def render_step(tree: Tree, env: str) -> Step:
    """The render the checks read for `env` (newest Kubernetes, monitoring API), as ArgoCD
    renders it; an unknown environment lists the known ones."""
    from pipeline.plan import PlanError

    known = environments(tree)
    if env not in known:
        raise PlanError(f"--env {env!r}: no {values_file(env)}; the environments are "
                        f"{', '.join(known) or '(none: no values-ENV.yaml in ' + CHART + ')'}")
    return template(env, kube_versions()[-1], monitoring=True)


def template(env: str, kube: str, monitoring: bool) -> Step:
    """`helm template` of one environment, as ArgoCD renders it (deterministic, no cluster)."""
    argv = ["helm", "template", RELEASE, CHART, "--namespace", NAMESPACE,
            "-f", values_file(env), "--kube-version", kube]
    if monitoring:
        argv += ["--api-versions", MONITORING_API]
    return Step(tool="helm", argv=tuple(argv))


def kubeconform_argv(kube: str, *inputs: str) -> tuple[str, ...]:
    """kubeconform -strict against the Kubernetes and CRD schemas; stdin unless `inputs`.

    `-n 1`: each kubeconform worker compiles its own copy of the schemas it meets, and the
    plan already runs its checks (a batch per Kubernetes version) at once.
    """
    return ("kubeconform", "-strict", "-summary", "-n", "1", "-kubernetes-version", kube,
            "-schema-location", SCHEMAS, "-schema-location", CRD_LOCATION, *(inputs or ("-",)))


def checks(tree: Tree) -> list[Check]:
    if not tree.is_file(CHART_YAML):
        return []
    out: list[Check] = []
    versions = kube_versions()
    for env in environments(tree):
        for kube in versions:
            out.append(Check(
                name=f"helm-lint-{env}-{kube}", group=GROUP, tool="helm",
                argv=("helm", "lint", "--strict", CHART, "-f", values_file(env), "--kube-version", kube),
                reads=(CHART,),
                description=f"helm lint --strict, values-{env}.yaml, Kubernetes {kube}"))
            for monitoring in (False, True):
                suffix = "-monitoring" if monitoring else ""
                out.append(Check(
                    name=f"kubeconform-{env}-{kube}{suffix}", group=GROUP, tool="kubeconform",
                    argv=kubeconform_argv(kube), reads=(CHART, CRD_SCHEMAS),
                    stdin_from=template(env, kube, monitoring),
                    batch="kubeconform",
                    description=(f"helm template values-{env}.yaml "
                                 f"{'with' if monitoring else 'without'} {MONITORING_API} "
                                 f"| kubeconform -strict, Kubernetes {kube}")))
        render = render_step(tree, env)
        values = ["--values", VALUES, "--values", values_file(env)]
        out.append(python_check(
            f"policies-{env}", GROUP, policies, ["--env", env, *values, "--chart", CHART],
            [CHART],
            stdin_from=render,
            description=f"chart policies (PSS restricted, probes, secrets, PDB, ...) over the {env} render"))
        out.append(python_check(
            f"hardening-{env}", GROUP, hardening, ["--env", env, *values, "--chart", CHART],
            [CHART], stdin_from=render,
            description=f"image digests, pull policy, secrets as files, UIDs, distinct probes and "
                        f"ephemeral storage over the {env} render, with the exceptions its values "
                        f"document"))
        out.append(python_check(
            f"netpol-{env}", GROUP, netpol, ["--edges", NETWORK_EDGES, "--env", env, "--chart", CHART],
            [CHART, NETWORK_EDGES],
            stdin_from=render,
            description=f"NetworkPolicy reachability of the {env} render equals {NETWORK_EDGES}"))
        out.append(python_check(
            f"prometheusrule-{env}", GROUP, promrules, ["--env", env, "--namespace", NAMESPACE],
            [CHART], stdin_from=render,
            description=f"the {env} PrometheusRule reads only the release namespace; EDC groups only "
                        "with the EDC"))
        if tree.is_file(PROMETHEUS_K8S) and tree.is_file(METRICS_CONTRACT):
            cluster = [CLUSTER_OBJECTS] if tree.is_file(CLUSTER_OBJECTS) else []
            out.append(python_check(
                f"scrape-{env}", GROUP, scrape,
                ["--env", env, "--namespace", NAMESPACE, "--prometheus-config", PROMETHEUS_K8S,
                 "--contract", METRICS_CONTRACT, *(["--cluster", *cluster] if cluster else [])],
                [CHART, PROMETHEUS_K8S, METRICS_CONTRACT, *cluster], stdin_from=render,
                description=f"scrape jobs of {PROMETHEUS_K8S} and the ServiceMonitors keep the {env} "
                            "render's targets (Prometheus relabel semantics)"))
        out.append(python_check(
            f"edc-settings-{env}", GROUP, edc, ["--contract", EDC_SETTINGS, "--env", env],
            [CHART], stdin_from=render,
            description=f"every EDC 0.7.3 setting of {EDC_SETTINGS} on both planes of the {env} render, "
                        "URLs at the right Service/Ingress"))
        if tree.is_file(APP_CONTRACT):
            out.append(python_check(
                f"app-contract-{env}", GROUP, appcontract,
                ["--contract", APP_CONTRACT, "--env", env], [CHART, APP_CONTRACT], stdin_from=render,
                description=f"backend and frontend of the {env} render agree with {APP_CONTRACT}"))
        out.append(python_check(
            f"resources-{env}", GROUP, resources, ["--env", env, *values, "--chart", CHART], [CHART],
            stdin_from=render,
            description=f"resource requests of {env} summed, within its tier's budget"))
    sources = [source for source, _, _ in CHART_COPIES if tree.is_dir(source)]
    copies = [path for path in (layout.CHART_FILES,) if tree.is_dir(path)]
    out.append(python_check(
        "monitoring-files-sync", GROUP, chartfiles, ["--check"], [*sources, *copies],
        description="the chart's copies of infra/monitoring rules, dashboards and query-exporter config "
                    "equal their sources"))
    out.append(python_check(
        "values-docs", GROUP, valuesdoc, [VALUES, VALUES_SCHEMA], [VALUES, VALUES_SCHEMA],
        description="every key of values.yaml is documented by a comment starting with its name "
                    "and known to values.schema.json"))
    return out
