"""The EDC settings contract, EDC reachability, TLS and the default render (issue 9).

Each bad input fails `helm template` or the plan's lint check with a message naming the
environment, the resource and the missing or wrong setting.
"""

from __future__ import annotations

import subprocess

import pytest

from pipeline.checks.chart import edc
from pipeline.model.kube import load
from tests.support.docs import find
from tests.support.repo import REPO, binary, output, render, run_check

CONTRACT = REPO / "infra/helm/dpp-platform/edc-settings.yaml"
pytestmark = pytest.mark.tools


def planes() -> dict[str, edc.Plane]:
    return {p.name: p for p in edc.load_contract(str(CONTRACT))}


def deployment(docs: list[dict], component: str) -> dict:
    return next(d for d in docs if d["kind"] == "Deployment"
                and d["metadata"]["labels"]["app.kubernetes.io/component"] == component)


def env_of(docs: list[dict], component: str) -> dict:
    from pipeline.model.kube import effective_env
    return effective_env(deployment(docs, component)["spec"]["template"]["spec"]["containers"][0], docs)


# ----------------------------------------------------------------- the contract itself

def test_contract_cites_a_source_file_for_every_setting():
    for plane in planes().values():
        assert plane.settings and plane.datasources
        for setting in plane.settings:
            assert setting.need in ("boot", "first-use", "addressing"), setting
            assert setting.source.split()[0] in ("TX", "EDC") and ".java" in setting.source, setting
    boot = {s.env for s in planes()["controlplane"].settings if s.need == "boot"}
    assert {"EDC_VAULT_HASHICORP_URL", "EDC_VAULT_HASHICORP_TOKEN", "EDC_IAM_ISSUER_ID", "TX_EDC_IAM_STS_DIM_URL",
            "EDC_IAM_STS_OAUTH_TOKEN_URL", "EDC_IAM_STS_OAUTH_CLIENT_ID", "EDC_IAM_STS_OAUTH_CLIENT_SECRET_ALIAS",
            "TX_EDC_IAM_IATP_BDRS_SERVER_URL"} == boot
    assert "policy-monitor" in planes()["controlplane"].datasources


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_every_render_with_the_edc_carries_the_contract(env):
    result = run_check(f"chart/edc-settings-{env}")
    assert result.returncode == 0, output(result)
    assert "2 EDC workload(s) carry every setting" in result.stdout


def test_dev_render_without_the_edc_passes_saying_so():
    result = run_check("chart/edc-settings-dev")
    assert result.returncode == 0, output(result)
    assert "not enabled" in result.stdout


def test_policy_monitor_datasource_keeps_its_hyphen(rendered_docs):
    docs = rendered_docs("staging")
    names = env_of(docs, "edc-controlplane")
    assert {"EDC_DATASOURCE_POLICY-MONITOR_NAME", "EDC_DATASOURCE_POLICY-MONITOR_URL"} <= set(names)
    assert not any("POLICYMONITOR" in n for n in names)


def test_urls_are_derived_from_service_and_ingress_names(rendered_docs):
    docs = rendered_docs("prod")
    cp, dp = env_of(docs, "edc-controlplane"), env_of(docs, "edc-dataplane")
    assert cp["EDC_CONTROL_ENDPOINT"] == "http://dpp-platform-edc-controlplane:8083/control"
    assert cp["EDC_DSP_CALLBACK_ADDRESS"] == "https://edc.dpp-platform.dev/api/v1/dsp"
    assert dp["EDC_DPF_SELECTOR_URL"] == "http://dpp-platform-edc-controlplane:8083/control/v1/dataplanes"
    assert dp["EDC_CONTROL_ENDPOINT"] == "http://dpp-platform-edc-dataplane:8084/api/control"
    assert dp["EDC_DATAPLANE_API_PUBLIC_BASEURL"] == "https://edc.dpp-platform.dev/api/public"
    assert cp["EDC_HOSTNAME"] == dp["EDC_HOSTNAME"] == "edc.dpp-platform.dev"


# ----------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("value, env_name", [
    ("edc.iatp.dimUrl", "TX_EDC_IAM_STS_DIM_URL"),
    ("edc.iatp.sts.clientId", "EDC_IAM_STS_OAUTH_CLIENT_ID"),
    ("edc.bdrs.serverUrl", "TX_EDC_IAM_IATP_BDRS_SERVER_URL"),
    ("edc.dataplane.token.signerPrivateKeyAlias", "EDC_TRANSFER_PROXY_TOKEN_SIGNER_PRIVATEKEY_ALIAS"),
])
def test_edc_setting_missing_in_a_values_override_fails_the_render(value, env_name):
    result = render("staging", "--set", f"{value}=")
    assert result.returncode != 0
    assert f"set {value} ({env_name})" in result.stderr, result.stderr


def test_a_datasource_dropped_by_an_override_fails_lint_naming_it():
    result = run_check("chart/edc-settings-staging", "--set", "edc.controlplane.datasources={asset,policy}")
    assert result.returncode != 0
    text = output(result)
    assert "staging: Deployment/dpp-platform-edc-controlplane: spec.template.spec.containers[controlplane]" \
           ".env[EDC_DATASOURCE_POLICY-MONITOR_URL]: missing: datasource 'policy-monitor'" in text, text


def test_the_old_datasource_env_name_is_refused():
    """The issue's defect: EDC_DATASOURCE_POLICYMONITOR_* reaches no datasource."""
    result = run_check("chart/edc-settings-staging",
                       "--set", "edc.controlplane.extraEnv[0].name=EDC_DATASOURCE_POLICYMONITOR_URL",
                       "--set", "edc.controlplane.extraEnv[0].value=jdbc:postgresql://db/edc")
    assert result.returncode != 0
    assert "env[EDC_DATASOURCE_POLICYMONITOR_URL]: no datasource of the controlplane is called that" \
           in output(result), output(result)


def test_a_setting_removed_from_the_render_is_named_with_its_source(rendered_docs):
    docs = rendered_docs("staging")
    cp = deployment(docs, "edc-controlplane")
    container = cp["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [v for v in container["env"] if v["name"] != "EDC_DSP_CALLBACK_ADDRESS"]
    problems, _ = edc.check_render(docs, list(planes().values()), "staging")
    assert [str(p) for p in problems] == [
        "staging: Deployment/dpp-platform-edc-controlplane: spec.template.spec.containers[controlplane]"
        ".env[EDC_DSP_CALLBACK_ADDRESS]: missing: EDC_DSP_CALLBACK_ADDRESS (dsp-http-api-configuration, "
        "needed at addressing); see EDC data-protocols/dsp/dsp-http-api-configuration/src/main/java/org/"
        "eclipse/edc/protocol/dsp/http/api/configuration/DspApiConfigurationExtension.java [edc-settings]"]


def test_public_urls_need_an_ingress_route():
    result = run_check("chart/edc-settings-prod", "--set", "edc.hostname=connector.example.org",
                       "--set", "ingress.enabled=false")
    assert result.returncode != 0
    assert "env[EDC_DSP_CALLBACK_ADDRESS]: 'https://connector.example.org/api/v1/dsp': no Ingress routes host " \
           "'connector.example.org'" in output(result), output(result)


def test_a_localhost_address_is_refused():
    result = run_check("chart/edc-settings-prod", "--set", "edc.controlplane.extraEnv[0].name=EDC_CONTROL_ENDPOINT",
                       "--set", "edc.controlplane.extraEnv[0].value=http://localhost:8083/control")
    assert result.returncode != 0
    assert "env[EDC_CONTROL_ENDPOINT]: 'http://localhost:8083/control': points at localhost" in output(result)


# ----------------------------------------------------------------- reachability

def test_ingress_routes_dsp_and_public_api_and_nothing_else(rendered_docs):
    docs = rendered_docs("prod")
    ingress = next(d for d in docs if d["kind"] == "Ingress")
    rule = next(r for r in ingress["spec"]["rules"] if r["host"] == "edc.dpp-platform.dev")
    routes = {(p["path"], p["backend"]["service"]["name"], p["backend"]["service"]["port"]["name"])
              for p in rule["http"]["paths"]}
    assert routes == {("/api/v1/dsp", "dpp-platform-edc-controlplane", "protocol"),
                      ("/api/public", "dpp-platform-edc-dataplane", "public")}
    assert "edc.dpp-platform.dev" in ingress["spec"]["tls"][0]["hosts"]


def test_prod_without_edc_egress_fails_naming_it():
    result = render("prod", "--set", "edc.egress=null")
    assert result.returncode != 0
    assert "set edc.egress" in result.stderr, result.stderr


def test_an_external_vault_is_reached_by_its_cidr():
    docs = load(render("prod", "--set", "edc.vault.url=https://vault.example.org:8200",
                       "--set", "edc.vault.cidr=198.51.100.0/24").stdout)
    for plane in ("edc-controlplane", "edc-dataplane"):
        policy = next(d for d in docs if d["kind"] == "NetworkPolicy"
                      and d["metadata"]["name"] == f"dpp-platform-{plane}")
        assert {"to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}], "ports": [{"port": 8200, "protocol": "TCP"}]} \
            in policy["spec"]["egress"]


# ----------------------------------------------------------------- external dependencies

def test_external_keycloak_gets_egress_and_the_issuer_from_its_url():
    result = render("prod", "--set", "keycloak.enabled=false", "--set", "keycloak.external.url=https://idp.example.org/",
                    "--set", "keycloak.external.cidr=203.0.113.0/24")
    assert result.returncode == 0, result.stderr
    docs = load(result.stdout)
    assert env_of(docs, "backend")["OIDC_ISSUER_URL"] == "https://idp.example.org/realms/dpp"
    backend_policy = next(d for d in docs if d["kind"] == "NetworkPolicy"
                          and d["metadata"]["name"] == "dpp-platform-backend")
    assert {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"port": 443, "protocol": "TCP"}]} \
        in backend_policy["spec"]["egress"]


@pytest.mark.parametrize("component", ["keycloak", "opa", "minio"])
def test_external_dependency_without_cidr_fails_naming_it(component):
    url = "endpoint" if component == "minio" else "url"
    extra = ["--set", "minio.external.existingSecret=dpp-s3"] if component == "minio" else []
    result = render("prod", "--set", f"{component}.enabled=false",
                    "--set", f"{component}.external.{url}=https://{component}.example.org", *extra)
    assert result.returncode != 0
    assert f"set {component}.external.cidr" in result.stderr, result.stderr


def test_node_local_dns_cache_is_opened_when_set():
    docs = load(render("dev", "--set", "networkPolicy.dns.nodeLocalAddress=169.254.20.10").stdout)
    dns = next(d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("-dns"))
    assert {"ipBlock": {"cidr": "169.254.20.10/32"}} in dns["spec"]["egress"][0]["to"]


# ----------------------------------------------------------------- TLS

def test_prod_without_tls_issuer_or_secret_fails_naming_both():
    result = render("prod", "--set", "ingress.tls.clusterIssuer=")
    assert result.returncode != 0
    assert "set ingress.tls.clusterIssuer (cert-manager issues the certificate) or ingress.tls.secretName" \
           in result.stderr, result.stderr
    assert render("prod", "--set", "ingress.tls.enabled=false").returncode != 0


def test_tls_by_cert_manager_or_existing_secret(rendered_docs):
    ingress = next(d for d in rendered_docs("prod") if d["kind"] == "Ingress")
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    result = render("prod", "--set", "ingress.tls.clusterIssuer=", "--set", "ingress.tls.secretName=dpp-wildcard-tls")
    assert result.returncode == 0, result.stderr
    ingress = next(d for d in load(result.stdout) if d["kind"] == "Ingress")
    assert ingress["spec"]["tls"][0]["secretName"] == "dpp-wildcard-tls"
    assert "cert-manager.io/cluster-issuer" not in (ingress["metadata"].get("annotations") or {})


# ----------------------------------------------------------------- defaults render

def test_the_requirement_ci_step_runs_verbatim():
    """The original requirement's CI step, exactly as written there."""
    helm = binary("helm")
    result = subprocess.run(
        f"{helm} template dpp-platform infra/helm/dpp-platform/ --values infra/helm/dpp-platform/values.yaml",
        shell=True, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    docs = load(result.stdout)
    assert not [d for d in docs if d["kind"] == "Secret"], "a Secret rendered from a value in the defaults"
    lint = subprocess.run([helm, "lint", "--strict", "infra/helm/dpp-platform/", "--values",
                           "infra/helm/dpp-platform/values.yaml"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr


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
