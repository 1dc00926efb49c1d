"""The chart renders deterministically, validates its values and guards secrets."""

from __future__ import annotations

import pytest

from pipeline.model.kube import load
from tests.support.repo import output, render, run_check

pytestmark = pytest.mark.tools

ENVS = ["dev", "staging", "prod"]


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("monitoring", [False, True])
def test_two_renders_are_byte_identical(env, monitoring, rendered, rendered_docs):
    """Two helm processes: the session's render (shared with its other readers) and a fresh one."""
    second = render(env, monitoring=monitoring)
    assert second.returncode == 0, second.stderr
    first = rendered(env, monitoring=monitoring)
    assert len(rendered_docs(env, monitoring=monitoring)) > 20  # the parse of `first`
    assert first == second.stdout


@pytest.mark.parametrize("override,message", [
    ("backend.replicas=two", "at '/backend/replicas': got string, want integer"),
    ("postgresql.image.tag=16", "at '/postgresql/image/tag': got number, want string"),
    ("global.environment=qa", "at '/global/environment'"),
])
def test_schema_rejects_wrong_type(override, message):
    result = run_check("chart/helm-lint-dev-1.37.0", "--set", override)
    assert result.returncode != 0
    assert message in output(result)


def test_schema_rejects_unknown_key():
    result = run_check("chart/helm-lint-dev-1.37.0", "--set", "backend.replica=3")
    assert result.returncode != 0
    assert "at '/backend': additional properties 'replica' not allowed" in output(result)


def test_schema_rejects_missing_required_value():
    result = run_check("chart/helm-lint-dev-1.37.0", "--set", "backend.image.repository=null")
    assert result.returncode != 0
    assert "repository" in output(result)


@pytest.mark.parametrize("override,value", [
    ("redis.auth.existingSecret=", "redis.auth.existingSecret"),
    ("keycloak.admin.existingSecret=", "keycloak.admin.existingSecret"),
    ("edc.secrets.existingSecret=", "edc.secrets.existingSecret"),
    ("postgresql.external.existingSecret=", "postgresql.external.existingSecret"),
])
def test_prod_without_existing_secret_fails_naming_the_value(override, value):
    result = run_check("chart/kubeconform-prod-1.37.0", "--set", override)
    assert result.returncode != 0
    assert value in result.stderr, result.stderr


def test_prod_ignores_password_values_and_still_demands_existing_secret():
    result = render("prod", "--set", "minio.auth.existingSecret=,minio.auth.rootUser=u,minio.auth.rootPassword=p")
    assert result.returncode != 0
    assert "global.environment=production: set minio.auth.existingSecret" in result.stderr


def test_dev_without_password_fails_naming_the_value():
    result = render("dev", "--set", "postgresql.auth.password=")
    assert result.returncode != 0
    assert "set postgresql.auth.password, or postgresql.auth.existingSecret" in result.stderr


def test_no_random_or_lookup_in_templates():
    import re
    from tests.support.repo import CHART
    for path in (CHART / "templates").rglob("*"):
        if path.is_file():
            text = re.sub(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", "", path.read_text(), flags=re.S)
            for banned in ("randAlpha", "randAscii", "randNumeric", "uuidv4", "lookup ", "now "):
                assert banned not in text, f"{path}: {banned.strip()} makes renders differ"


def kinds(docs):
    return {(d["kind"], d["metadata"]["name"]) for d in docs}


def test_operator_objects_need_the_monitoring_api(rendered_docs):
    without = kinds(rendered_docs("dev", monitoring=False))
    with_api = kinds(rendered_docs("dev"))  # the monitoring API
    assert not {k for k in without if k[0] in ("ServiceMonitor", "PrometheusRule")}
    assert ("PrometheusRule", "dpp-platform") in with_api
    assert ("ServiceMonitor", "dpp-platform-backend") in with_api


def test_prometheus_rule_carries_the_rule_files(rendered_docs):
    import yaml
    from tests.support.repo import CHART
    docs = rendered_docs("dev")
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    # dev runs no EDC: no dpp-edc* groups; dpp-meta (the Watchdog) is the compose stack's own
    expected = [g["name"] for p in sorted((CHART / "files/rules").glob("*.yml"))
                for g in (yaml.safe_load(p.read_text()) or {}).get("groups") or []
                if not g["name"].startswith("dpp-edc") and g["name"] != "dpp-meta"]
    assert [g["name"] for g in rule["spec"]["groups"]] == expected
    assert "__RELEASE_NAMESPACE__" not in str(rule) and 'namespace="dpp-platform"' in str(rule)


def test_dashboards_have_sidecar_label_and_can_be_turned_off(rendered_docs):
    docs = rendered_docs("dev")
    dashboards = [d for d in docs if d["kind"] == "ConfigMap" and "-dashboard-" in d["metadata"]["name"]]
    assert dashboards and all(d["metadata"]["labels"]["grafana_dashboard"] == "1" for d in dashboards)
    off = load(render("dev", "--set", "monitoring.grafana.enabled=false").stdout)
    assert not [d for d in off if d["kind"] == "ConfigMap" and "-dashboard-" in d["metadata"]["name"]]


def test_hpa_leaves_replicas_out_and_single_replica_has_no_pdb(rendered_docs):
    prod = {(d["kind"], d["metadata"]["name"]): d for d in rendered_docs("prod")}
    assert "replicas" not in prod[("Deployment", "dpp-platform-backend")]["spec"]
    assert ("PodDisruptionBudget", "dpp-platform-backend") in prod
    dev = {(d["kind"], d["metadata"]["name"]): d for d in rendered_docs("dev")}
    assert dev[("Deployment", "dpp-platform-backend")]["spec"]["replicas"] == 1
    assert not [k for k in dev if k[0] == "PodDisruptionBudget"]


def test_edc_metrics_only_with_the_otel_agent(rendered_docs):
    on = {(d["kind"], d["metadata"]["name"]): d for d in rendered_docs("staging")}
    assert on[("ConfigMap", "dpp-platform-edc")]["data"]["OTEL_JAVAAGENT_ENABLED"] == "true"
    assert ("ServiceMonitor", "dpp-platform-edc-controlplane") in on
    off = {(d["kind"], d["metadata"]["name"]): d
           for d in load(render("staging", "--set", "edc.metrics.enabled=false").stdout)}
    assert off[("ConfigMap", "dpp-platform-edc")]["data"]["OTEL_JAVAAGENT_ENABLED"] == "false"
    assert ("ServiceMonitor", "dpp-platform-edc-controlplane") not in off
    ports = off[("Deployment", "dpp-platform-edc-controlplane")]["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert "metrics" not in {p["name"] for p in ports}


def test_keycloak_ingress_routes_only_its_public_paths(rendered_docs):
    """Keycloak 24 serves /health and /metrics on 8080: the Ingress routes only listed paths."""
    for env, admin in (("prod", False), ("dev", True)):
        ingress = next(d for d in rendered_docs(env) if d["kind"] == "Ingress")
        rule = next(r for r in ingress["spec"]["rules"] if r["host"].startswith("auth."))
        paths = [p["path"] for p in rule["http"]["paths"]]
        assert "/realms" in paths and "/" not in paths
        assert ("/admin" in paths) is admin
    result = run_check("chart/helm-lint-prod-1.37.0", "--set", "keycloak.ingressPaths={/}")
    assert result.returncode != 0
    assert "at '/keycloak/ingressPaths/0'" in output(result)


def test_every_multi_replica_workload_has_a_pdb_in_prod(rendered_docs):
    """OPA and both EDC planes run 2 pods in prod: a PDB keeps one up during drains."""
    prod = {(d["kind"], d["metadata"]["name"]) for d in rendered_docs("prod")}
    for name in ("backend", "frontend", "keycloak", "opa", "edc-controlplane", "edc-dataplane"):
        assert ("PodDisruptionBudget", f"dpp-platform-{name}") in prod, name
    staging = {(d["kind"], d["metadata"]["name"]) for d in rendered_docs("staging")}
    assert ("PodDisruptionBudget", "dpp-platform-opa") not in staging  # one replica: no PDB
