"""Rules that no value can break: mutate a real render and call the rule directly."""

from __future__ import annotations

import copy

import pytest

from pipeline.policies import chart as policies
from pipeline.policies.manifests import load
from tests.chart.helpers import render

pytestmark = pytest.mark.tools


@pytest.fixture(scope="module")
def prod_docs():
    result = render("prod")
    assert result.returncode == 0, result.stderr
    return load(result.stdout)


def find(docs, kind, name):
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def messages(problems):
    return [str(p) for p in problems]


def test_render_passes_every_rule(prod_docs):
    assert policies.run(prod_docs, "production") == []


def test_labels_reject_chart_label_in_selector(prod_docs):
    docs = copy.deepcopy(prod_docs)
    find(docs, "Deployment", "dpp-platform-backend")["spec"]["selector"]["matchLabels"]["helm.sh/chart"] = "x"
    out = messages(policies.check_labels(docs, "production"))
    assert any("Deployment/dpp-platform-backend: spec.selector.matchLabels" in m and "helm.sh/chart" in m
               for m in out), out


def test_labels_require_standard_labels(prod_docs):
    docs = copy.deepcopy(prod_docs)
    del find(docs, "Service", "dpp-platform-redis")["metadata"]["labels"]["app.kubernetes.io/managed-by"]
    assert "Service/dpp-platform-redis: metadata.labels.app.kubernetes.io/managed-by: missing [labels]" \
        in messages(policies.check_labels(docs, "production"))


def test_hpa_managed_workload_must_omit_replicas(prod_docs):
    docs = copy.deepcopy(prod_docs)
    find(docs, "Deployment", "dpp-platform-backend")["spec"]["replicas"] = 3
    out = messages(policies.check_hpa_replicas(docs, "production"))
    assert any(m.startswith("Deployment/dpp-platform-backend: spec.replicas: must be left out") for m in out), out


def test_checksum_annotation_required(prod_docs):
    docs = copy.deepcopy(prod_docs)
    annotations = find(docs, "Deployment", "dpp-platform-keycloak")["spec"]["template"]["metadata"]["annotations"]
    del annotations["checksum/config"]
    out = messages(policies.check_checksums(docs, "production"))
    assert any(m.startswith("Deployment/dpp-platform-keycloak: spec.template.metadata.annotations.checksum/config")
               for m in out), out


def test_startup_probe_required_for_keycloak(prod_docs):
    docs = copy.deepcopy(prod_docs)
    container = find(docs, "Deployment", "dpp-platform-keycloak")["spec"]["template"]["spec"]["containers"][0]
    del container["startupProbe"]
    assert ("Deployment/dpp-platform-keycloak: spec.template.spec.containers[keycloak].startupProbe: missing "
            "[probes]") in messages(policies.check_probes(docs, "production"))


def test_keycloak_must_not_run_start_dev(prod_docs):
    docs = copy.deepcopy(prod_docs)
    container = find(docs, "Deployment", "dpp-platform-keycloak")["spec"]["template"]["spec"]["containers"][0]
    container["args"] = ["start-dev"]
    out = messages(policies.check_keycloak(docs, "production"))
    assert any("containers[keycloak].args" in m for m in out), out


def test_pdb_over_single_replica_blocks_drain(prod_docs):
    docs = copy.deepcopy(prod_docs)
    hpa = find(docs, "HorizontalPodAutoscaler", "dpp-platform-backend")
    hpa["spec"]["minReplicas"] = 1
    out = messages(policies.check_pdb(docs, "production"))
    assert any(m.startswith("PodDisruptionBudget/dpp-platform-backend: spec.selector: covers 1 pod") for m in out), out


def test_shared_service_account(prod_docs):
    docs = copy.deepcopy(prod_docs)
    pod = find(docs, "Deployment", "dpp-platform-frontend")["spec"]["template"]["spec"]
    pod["serviceAccountName"] = "dpp-platform-backend"
    out = messages(policies.check_service_accounts(docs, "production"))
    assert any("is shared by" in m and "Deployment/dpp-platform-frontend" in m for m in out), out


def test_hostpath_volume_rejected(prod_docs):
    docs = copy.deepcopy(prod_docs)
    pod = find(docs, "Deployment", "dpp-platform-opa")["spec"]["template"]["spec"]
    pod.setdefault("volumes", []).append({"name": "host", "hostPath": {"path": "/"}})
    out = messages(policies.check_pod_security(docs, "production"))
    assert any("Deployment/dpp-platform-opa: spec.template.spec.volumes[host]" in m for m in out), out


@pytest.mark.parametrize("name,secret", [("EDC_API_AUTH_KEY", True), ("DB_PASSWORD", True),
                                         ("S3_SECRET_KEY", True), ("S3_ACCESS_KEY", True),
                                         ("TX_SSI_OAUTH_CLIENT_SECRET_ALIAS", False),
                                         ("EDC_DATASOURCE_ACCESSTOKENDATA_URL", False),
                                         ("DATA_SOURCE_PASS_FILE", False), ("KEYCLOAK_ADMIN", False)])
def test_secret_names(name, secret):
    assert policies.is_secret_name(name) is secret


def test_metrics_scraped_once(prod_docs):
    """A ServiceMonitor matching the headless Service too would scrape each pod twice."""
    docs = copy.deepcopy(prod_docs)
    del find(docs, "ServiceMonitor", "dpp-platform-minio")["spec"]["selector"]["matchExpressions"]
    out = messages(policies.check_metrics(docs, "production"))
    assert any(m.startswith("ServiceMonitor/dpp-platform-minio: spec.selector: port 'api' is scraped twice")
               for m in out), out


def test_minio_metrics_need_public_auth(prod_docs):
    docs = copy.deepcopy(prod_docs)
    container = find(docs, "StatefulSet", "dpp-platform-minio")["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [v for v in container["env"] if v["name"] != "MINIO_PROMETHEUS_AUTH_TYPE"]
    assert any(m.startswith("StatefulSet/dpp-platform-minio: spec.template.spec.containers[minio]"
                            ".env[MINIO_PROMETHEUS_AUTH_TYPE]: must be \"public\"")
               for m in messages(policies.check_metrics(docs, "production")))


def test_metrics_port_must_exist(prod_docs):
    docs = copy.deepcopy(prod_docs)
    find(docs, "ServiceMonitor", "dpp-platform-opa")["spec"]["endpoints"][0]["port"] = "http-metrics"
    assert any(m.startswith("ServiceMonitor/dpp-platform-opa: spec.endpoints[0].port: 'http-metrics' is a port of none")
               for m in messages(policies.check_metrics(docs, "production")))


def test_edc_planes_get_only_their_own_datasources(prod_docs):
    """The SQL pool extension opens a pool per edc.datasource.*: no store of the other plane."""
    for plane, own, other in (("controlplane", "ASSET", "ACCESSTOKENDATA"), ("dataplane", "ACCESSTOKENDATA", "ASSET")):
        container = find(docs := prod_docs, "Deployment", f"dpp-platform-edc-{plane}")["spec"]["template"]["spec"][
            "containers"][0]
        names = {v["name"] for v in container["env"]}
        assert {f"EDC_DATASOURCE_{own}_{k}" for k in ("NAME", "URL", "USER", "PASSWORD")} <= names
        assert not any(n.startswith(f"EDC_DATASOURCE_{other}_") for n in names)
    config = find(docs, "ConfigMap", "dpp-platform-edc")["data"]
    assert not [k for k in config if k.startswith("EDC_DATASOURCE_")]
