"""compose/docker-compose-prod and compose/comes-up over the compose model: each bad edit of a
repo copy fails naming the file, the service and what is wrong in it."""

from __future__ import annotations

import pytest

from pipeline.executors import FAILED, PASSED
from pipeline.layout import COMPOSE_FILE as COMPOSE
from tests.support.monitoring import edit, run

pytestmark = pytest.mark.tools  # the checks read what the real Compose resolves


def test_the_real_file_passes(root):
    status, text = run(root, "compose/docker-compose-prod")
    assert status == PASSED, text
    assert "17 services" in text, text


EDITS = [  # (id, check, old text, new text, lines the output must hold)
    ("undefined-dependency", "compose/comes-up",
     "      edc-controlplane: {condition: service_healthy}\n", "      edc-controlplan: {condition: service_healthy}\n",
     [f"{COMPOSE}: service edc-dataplane: depends on edc-controlplan, which is not defined"]),
    ("missing-bind-source", "compose/docker-compose-prod",
     "./infra/monitoring/grafana:/etc/grafana/provisioning:ro", "./infra/monitoring/grafna:/etc/grafana/provisioning:ro",
     [f"{COMPOSE}: service grafana: mounts ./infra/monitoring/grafna at /etc/grafana/provisioning, "
      "which does not exist in the repo",
      f"{COMPOSE}: service grafana: must mount ./infra/monitoring/grafana at /etc/grafana/provisioning"]),
    ("undeclared-volume-and-host-path", "compose/docker-compose-prod",
     "      - redis-data:/data\n", "      - redis-cache:/data\n      - /var/run:/host-run\n",
     [f"{COMPOSE}: service redis: volume 'redis-cache' is not declared under top-level `volumes:`",
      f"{COMPOSE}: service redis: mounts host path /var/run; only node-exporter may read"]),
    ("image-not-configurable", "compose/docker-compose-prod",
     "image: ${DPP_REGISTRY:-ghcr.io/dpp-platform}/dpp-backend:${DPP_VERSION:-main}",
     "image: ghcr.io/dpp-platform/dpp-backend:main",
     [f"{COMPOSE}: service backend: image 'ghcr.io/dpp-platform/dpp-backend:main' must come from "
      "ghcr.io and be configurable by env"]),
    ("mount-checked-with-its-default", "compose/docker-compose-prod",
     "${ALERTMANAGER_SECRETS_DIR:-./infra/monitoring/alertmanager/secrets.example}",
     "${ALERTMANAGER_SECRETS_DIR:-./infra/monitoring/alertmanager/secrets}",
     [f"{COMPOSE}: service alertmanager: mounts ./infra/monitoring/alertmanager/secrets at "
      "/etc/alertmanager/secrets, which does not exist in the repo"]),
]


@pytest.mark.parametrize(("check_id", "old", "new", "expected"), [case[1:] for case in EDITS],
                         ids=[case[0] for case in EDITS])
def test_one_bad_edit_fails_naming_file_and_service(root, check_id, old, new, expected):
    edit(root / COMPOSE, old, new)
    status, text = run(root, check_id)
    assert status == FAILED, text
    for line in expected:
        assert line in text, text


def test_a_file_compose_refuses_fails_in_composes_words(root):
    edit(root / COMPOSE, 'ports: ["3001:3000"]', 'ports: ["grafana:3000"]')
    for check_id in ("compose/docker-compose-prod", "compose/comes-up"):
        status, text = run(root, check_id)
        assert status == FAILED
        assert "invalid hostPort: grafana" in text, text
