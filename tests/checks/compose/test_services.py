"""compose/docker-compose-prod and compose/comes-up over the compose model: each bad edit of a
repo copy fails naming the file, the service and what is wrong in it."""

from __future__ import annotations

import pytest

from pipeline.executors import FAILED, PASSED
from pipeline.layout import COMPOSE_FILE as COMPOSE
from tests.monitoring.helpers import edit, run

pytestmark = pytest.mark.tools  # the checks read what the real Compose resolves


def test_the_real_file_passes(root):
    status, text = run(root, "compose/docker-compose-prod")
    assert status == PASSED, text
    assert "17 services" in text, text


def test_an_undefined_dependency_is_named(root):
    edit(root / COMPOSE, "      edc-controlplane: {condition: service_healthy}\n",
         "      edc-controlplan: {condition: service_healthy}\n")
    status, text = run(root, "compose/comes-up")
    assert status == FAILED
    assert f"{COMPOSE}: service edc-dataplane: depends on edc-controlplan, which is not defined" in text, text


def test_a_bind_mount_of_a_missing_repo_path_is_named(root):
    edit(root / COMPOSE, "./infra/monitoring/grafana:/etc/grafana/provisioning:ro",
         "./infra/monitoring/grafna:/etc/grafana/provisioning:ro")
    status, text = run(root, "compose/docker-compose-prod")
    assert status == FAILED
    assert (f"{COMPOSE}: service grafana: mounts ./infra/monitoring/grafna at /etc/grafana/provisioning, "
            "which does not exist in the repo") in text, text
    assert f"{COMPOSE}: service grafana: must mount ./infra/monitoring/grafana at /etc/grafana/provisioning" in text


def test_an_undeclared_volume_and_a_host_path_are_named(root):
    edit(root / COMPOSE, "      - redis-data:/data\n", "      - redis-cache:/data\n      - /var/run:/host-run\n")
    status, text = run(root, "compose/docker-compose-prod")
    assert status == FAILED
    assert f"{COMPOSE}: service redis: volume 'redis-cache' is not declared under top-level `volumes:`" in text
    assert f"{COMPOSE}: service redis: mounts host path /var/run; only node-exporter may read" in text


def test_our_image_must_stay_configurable_by_env(root):
    edit(root / COMPOSE, "image: ${DPP_REGISTRY:-ghcr.io/dpp-platform}/dpp-backend:${DPP_VERSION:-main}",
         "image: ghcr.io/dpp-platform/dpp-backend:main")
    status, text = run(root, "compose/docker-compose-prod")
    assert status == FAILED
    assert (f"{COMPOSE}: service backend: image 'ghcr.io/dpp-platform/dpp-backend:main' must come from "
            "ghcr.io and be configurable by env") in text, text


def test_a_mount_from_a_variable_is_checked_with_its_default(root):
    edit(root / COMPOSE, "${ALERTMANAGER_SECRETS_DIR:-./infra/monitoring/alertmanager/secrets.example}",
         "${ALERTMANAGER_SECRETS_DIR:-./infra/monitoring/alertmanager/secrets}")
    status, text = run(root, "compose/docker-compose-prod")
    assert status == FAILED
    assert (f"{COMPOSE}: service alertmanager: mounts ./infra/monitoring/alertmanager/secrets at "
            "/etc/alertmanager/secrets, which does not exist in the repo") in text, text


def test_a_file_compose_refuses_fails_in_composes_words(root):
    edit(root / COMPOSE, 'ports: ["3001:3000"]', 'ports: ["grafana:3000"]')
    for check_id in ("compose/docker-compose-prod", "compose/comes-up"):
        status, text = run(root, check_id)
        assert status == FAILED
        assert "invalid hostPort: grafana" in text, text
