"""Where things live in the platform repository: the one map every module reads.

Paths are repo-relative and '/'-separated. Environments are never listed by hand:
they are the chart's values-<env>.yaml files, so adding values-qa.yaml adds "qa"
to every check, render and ArgoCD rule at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

# The Helm chart and what sits beside it.
CHART = "infra/helm/dpp-platform"
CHART_YAML = f"{CHART}/Chart.yaml"
VALUES = f"{CHART}/values.yaml"
VALUES_SCHEMA = f"{CHART}/values.schema.json"
CHART_FILES = f"{CHART}/files"  # the chart's copies of infra/monitoring (chart_files generator)
RELEASE = "dpp-platform"
NAMESPACE = "dpp-platform"
EDC_SETTINGS = f"{CHART}/edc-settings.yaml"
NETWORK_EDGES = "infra/helm/network-edges.yaml"
APP_CONTRACT = "infra/app-contract.yaml"

# Schemas for kubeconform and the API server.
CRD_SCHEMAS = "infra/schemas/crds"
CRD_SOURCES = "infra/schemas/crd-sources"

# ArgoCD.
ARGOCD = "infra/argocd"

# GitHub Actions, the Dagger module and the YAML style every YAML file follows.
WORKFLOWS = ".github/workflows"
DAGGER_JSON = "dagger.json"
YAMLLINT_CONFIG = ".yamllint.yaml"

# Monitoring.
MONITORING = "infra/monitoring"
PROMETHEUS_DIR = f"{MONITORING}/prometheus"
PROMETHEUS_K8S = f"{PROMETHEUS_DIR}/prometheus.k8s.yml"
PROMETHEUS_COMPOSE = f"{PROMETHEUS_DIR}/prometheus.yml"  # the compose stack's Prometheus
RULES_DIR = f"{MONITORING}/alertmanager/rules"
ALERTMANAGER_CONFIG = f"{MONITORING}/alertmanager/alertmanager.yml"
GRAFANA = f"{MONITORING}/grafana"
DASHBOARDS_DIR = f"{GRAFANA}/dashboards"
METRICS_CONTRACT = f"{MONITORING}/metrics-contract.yaml"
QUERY_EXPORTER_DIR = f"{MONITORING}/query-exporter"
QUERY_EXPORTER_CONFIG = f"{QUERY_EXPORTER_DIR}/config.yaml"
CLUSTER_OBJECTS = f"{MONITORING}/kubernetes/cluster-objects.yaml"
PINT_CONFIG = ".pint.hcl"

# The monitoring sources the chart carries a copy of: (source dir, pattern, copy in the chart).
CHART_COPIES = (
    (RULES_DIR, "*.yml", f"{CHART_FILES}/rules"),
    (DASHBOARDS_DIR, "*.json", f"{CHART_FILES}/dashboards"),
    (QUERY_EXPORTER_DIR, "*.yaml", f"{CHART_FILES}/query-exporter"),
)

# Compose.
COMPOSE_FILE = "docker-compose.prod.yml"
COMPOSE_LINT_ENV = "infra/compose/lint.env"
POSTGRES_INIT = "infra/compose/postgres-init"

_VALUES_PREFIX, _VALUES_SUFFIX = f"{CHART}/values-", ".yaml"


def values_file(env: str) -> str:
    """The values file of one environment (overlaid on values.yaml)."""
    return f"{_VALUES_PREFIX}{env}{_VALUES_SUFFIX}"


def environments(files: Iterable[str]) -> list[str]:
    """The environments: one per values-<env>.yaml directly in the chart, sorted."""
    found = []
    for path in files:
        if path.startswith(_VALUES_PREFIX) and path.endswith(_VALUES_SUFFIX):
            env = path[len(_VALUES_PREFIX):-len(_VALUES_SUFFIX)]
            if env and "/" not in env:
                found.append(env)
    return sorted(found)


def environments_in(root: Path) -> list[str]:
    """The environments of a checked-out repository at `root`."""
    chart = root / CHART
    names = [f"{CHART}/{p.name}" for p in chart.glob("values-*.yaml")] if chart.is_dir() else []
    return environments(names)
