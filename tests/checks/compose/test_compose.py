"""docker-compose.prod.yml comes up (issue 9): the plan's compose checks on a repo copy.

Each bad input breaks one thing in a copy and asserts the check fails naming it.
"""

from __future__ import annotations

import pytest

from pipeline.executors import FAILED, PASSED
from pipeline.checks.chart.appcontract import repository
from pipeline.layout import COMPOSE_FILE as COMPOSE
from tests.support.monitoring import edit, run
from tests.support.repo import output, run_check


@pytest.mark.parametrize("check_id", [pytest.param("compose/comes-up", marks=pytest.mark.tools),
                                      "compose/edc-settings", "compose/app-contract"])
def test_the_real_files_pass(root, check_id):
    status, text = run(root, check_id)
    assert status == PASSED, text


@pytest.mark.tools  # comes-up reads the model the real Compose resolves
def test_a_service_without_its_database_fails(root):
    edit(root / "infra/compose/postgres-init/10-databases.sql", "CREATE DATABASE edc;\n", "")
    status, text = run(root, "compose/comes-up")
    assert status == FAILED
    assert f"{COMPOSE}: service edc-controlplane: connects to database 'edc' on postgres, which nothing " \
           "creates (POSTGRES_DB and /docker-entrypoint-initdb.d scripts " \
           "infra/compose/postgres-init/10-databases.sql create dpp, keycloak)" in text, text


@pytest.mark.tools  # comes-up reads the model the real Compose resolves
def test_without_the_init_script_keycloak_has_no_database(root):
    edit(root / COMPOSE, "      - ./infra/compose/postgres-init:/docker-entrypoint-initdb.d:ro\n", "")
    status, text = run(root, "compose/comes-up")
    assert status == FAILED
    assert "service keycloak: connects to database 'keycloak' on postgres, which nothing creates" in text, text


@pytest.mark.tools  # comes-up reads the model the real Compose resolves
def test_waiting_for_a_service_without_healthcheck_fails(root):
    edit(root / COMPOSE, '''    healthcheck:
      test: ["CMD", "mc", "ready", "local"]
      interval: 15s
      timeout: 5s
      retries: 5
''', "")
    status, text = run(root, "compose/comes-up")
    assert status == FAILED
    assert "service backend: waits for minio to be healthy, but minio has no healthcheck" in text, text


@pytest.mark.tools  # comes-up reads the model the real Compose resolves
def test_depending_on_an_opt_in_profile_fails(root):
    edit(root / COMPOSE, "      minio: {condition: service_healthy}\n",
         "      minio: {condition: service_healthy}\n      vault: {condition: service_healthy}\n")
    status, text = run(root, "compose/comes-up")
    assert status == FAILED
    assert "service backend: depends on vault, which only starts with profile edc" in text, text


def test_compose_backend_health_path_diverging_fails(root):
    edit(root / COMPOSE, "http://localhost:8000/api/health/ready", "http://localhost:8000/health")
    status, text = run(root, "compose/app-contract")
    assert status == FAILED
    assert f"{COMPOSE}: services.backend.healthcheck.test: does not ask " \
           "http://localhost:8000/api/health/ready: backend's readiness path" in text, text


@pytest.mark.tools
def test_chart_backend_health_path_diverging_fails():
    result = run_check("chart/app-contract-prod", "--set", "backend.readinessProbe.httpGet.path=/health")
    assert result.returncode != 0
    assert "prod: Deployment/dpp-platform-backend: spec.template.spec.containers[backend].readinessProbe.httpGet: " \
           "'/health' on port 'http': backend's health is /api/health/ready on 8000" in output(result), output(result)


@pytest.mark.tools
def test_chart_image_or_env_name_diverging_fails():
    result = run_check("chart/app-contract-dev", "--set", "backend.image.repository=repo/backend",
                       "--set", "backend.extraEnv[0].name=DATABASE_URL", "--set", "backend.extraEnv[0].value=x")
    text = output(result)
    assert result.returncode != 0
    assert "'ghcr.io/repo/backend:0.1.0': backend's image is ghcr.io/dpp-platform/dpp-backend" in text, text
    assert "env[DATABASE_URL]: not in backend's contract" in text, text


def test_compose_env_names_follow_the_contract(root):
    edit(root / COMPOSE, "      DATABASE_HOST: postgres\n", "      DATABASE_URL: postgresql://postgres/dpp\n")
    status, text = run(root, "compose/app-contract")
    assert status == FAILED
    assert "services.backend.environment[DATABASE_HOST]: missing: backend requires it" in text, text
    assert "services.backend.environment[DATABASE_URL]: not in backend's contract" in text, text


def test_compose_edc_setting_missing_fails(root):
    edit(root / COMPOSE, "  TX_EDC_IAM_STS_DIM_URL: ${EDC_DIM_URL:-https://dim.example.org/api}\n", "")
    status, text = run(root, "compose/edc-settings")
    assert status == FAILED
    for service in ("edc-controlplane", "edc-dataplane"):
        assert f"{COMPOSE}: services.{service}.environment[TX_EDC_IAM_STS_DIM_URL]: missing: " \
               "TX_EDC_IAM_STS_DIM_URL (tx-iatp-sts-dim, needed at boot" in text, text


def test_compose_edc_secret_must_come_from_a_variable(root):
    edit(root / COMPOSE, "EDC_VAULT_HASHICORP_TOKEN: ${EDC_VAULT_TOKEN:?set EDC_VAULT_TOKEN}",
         "EDC_VAULT_HASHICORP_TOKEN: root")
    status, text = run(root, "compose/edc-settings")
    assert status == FAILED
    assert "environment[EDC_VAULT_HASHICORP_TOKEN]: a secret as a literal" in text, text


def test_repository_of_an_image_reference():
    assert repository("ghcr.io/dpp-platform/dpp-backend:main") == "ghcr.io/dpp-platform/dpp-backend"
    assert repository("ghcr.io/a/b@sha256:00") == "ghcr.io/a/b"
    assert repository("localhost:5000/a/b:1") == "localhost:5000/a/b"


# ----------------------------------------------------------------- the real Compose v2

@pytest.mark.tools
def test_real_compose_resolves_the_file(root):
    status, text = run(root, "compose/config")
    if "docker-compose not found" in text:
        pytest.skip("docker-compose is not installed (scripts/bootstrap compose)")
    assert status == PASSED, text


@pytest.mark.tools
def test_real_compose_names_a_missing_variable(root):
    edit(root / "infra/compose/lint.env", "MINIO_ROOT_USER=lint-dummy-user\n", "")
    status, text = run(root, "compose/config")
    if "docker-compose not found" in text:
        pytest.skip("docker-compose is not installed (scripts/bootstrap compose)")
    assert status == FAILED
    assert "required variable MINIO_ROOT_USER is missing a value: set MINIO_ROOT_USER" in text, text


@pytest.mark.tools
def test_real_compose_refuses_an_undefined_dependency(root):
    edit(root / COMPOSE, "      edc-controlplane: {condition: service_healthy}\n",
         "      edc-controlplan: {condition: service_healthy}\n")
    status, text = run(root, "compose/config")
    if "docker-compose not found" in text:
        pytest.skip("docker-compose is not installed (scripts/bootstrap compose)")
    assert status == FAILED
    assert "edc-controlplan" in text, text
