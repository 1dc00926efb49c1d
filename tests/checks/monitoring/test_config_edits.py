"""The pure-Python Alertmanager and compose checks, run from the plan on a repo copy.

Each bad-input test breaks one thing in a copy of the real files and asserts
that the plan's check fails, naming the file and the problem.
"""

from __future__ import annotations

import pytest

from pipeline.executors import FAILED, PASSED
from tests.support.monitoring import ALERTMANAGER, PROMETHEUS, edit, run


@pytest.mark.parametrize("check_id", [
    "monitoring/alertmanager-secrets", "compose/docker-compose-prod",
])
def test_the_real_files_pass(root, check_id):
    status, output = run(root, check_id)
    assert status == PASSED, output
    assert ": OK" in output


# One edit in one file; the check must fail with each expected text in its output.
# (case, check, file, old, new, expected)
EDITS = [
    # alertmanager
    ("inline-webhook-url", "monitoring/alertmanager-secrets", ALERTMANAGER,
     "url_file: /etc/alertmanager/secrets/webhook-url", "url: https://hooks.example/T0/secret",
     [f"{ALERTMANAGER}: receiver 'webhook', webhook_configs[0]: url is written inline; use url_file"]),
    ("inline-basic-auth-password", "monitoring/alertmanager-secrets", ALERTMANAGER,
     "        send_resolved: false\n",
     "        send_resolved: false\n        http_config:\n          basic_auth: {username: a, password: b}\n",
     [f"{ALERTMANAGER}: receiver 'deadmansswitch', webhook_configs[0]: http_config.basic_auth.password "
      "is written inline; use password_file"]),
    ("relative-secret-file", "monitoring/alertmanager-secrets", ALERTMANAGER,
     "api_url_file: /etc/alertmanager/secrets/slack-api-url", "api_url_file: secrets/slack-api-url",
     [f"{ALERTMANAGER}: receiver 'warning', slack_configs[0]: api_url_file: secrets/slack-api-url must "
      "be an absolute path"]),
    ("no-critical-inhibits-warning", "monitoring/alertmanager-secrets", ALERTMANAGER,
     "    equal: [alertname, namespace]", "    equal: [namespace]",
     [f"{ALERTMANAGER}: inhibit_rules: no rule lets a critical alert inhibit the warning of the same "
      "alert"]),
    # compose
    ("rule-file-outside-the-container", "compose/docker-compose-prod", PROMETHEUS,
     "  - ../alertmanager/rules/edc.yml", "  - rules/edc.yml",
     [f"{PROMETHEUS}: rule_files entry 'rules/edc.yml' is /etc/prometheus/rules/edc.yml in the "
      "prometheus container"]),
    ("relative-secret-file-in-compose", "compose/docker-compose-prod", ALERTMANAGER,
     "url_file: /etc/alertmanager/secrets/webhook-url", "url_file: secrets/webhook-url",
     [f"{ALERTMANAGER}: url_file: secrets/webhook-url must be an absolute path"]),
    ("scrape-target-no-service", "compose/docker-compose-prod", PROMETHEUS,
     '"backend:8000"', '"api:8000"',
     [f"{PROMETHEUS}: job backend: target api:8000 is not a service of docker-compose.prod.yml"]),
]


@pytest.mark.parametrize(("check_id", "path", "old", "new", "expected"),
                         [case[1:] for case in EDITS], ids=[case[0] for case in EDITS])
def test_one_bad_edit_fails_its_check(root, check_id, path, old, new, expected):
    edit(root / path, old, new)
    status, output = run(root, check_id)
    assert status == FAILED, output
    for line in expected:
        assert line in output, output


# --- compose -------------------------------------------------------------------------

def test_a_mounted_file_that_does_not_exist_fails(root):
    (root / "infra/monitoring/alertmanager/alertmanager.yml").rename(
        root / "infra/monitoring/alertmanager/am.yml")
    status, output = run(root, "compose/docker-compose-prod")
    assert status == FAILED
    assert ("docker-compose.prod.yml: service alertmanager: mounts "
            "./infra/monitoring/alertmanager/alertmanager.yml at /etc/alertmanager/alertmanager.yml, "
            "which does not exist in the repo") in output


def test_wrong_images_ports_and_password_fail(root):
    compose = root / "docker-compose.prod.yml"
    edit(compose, "image: grafana/grafana:10.4.0", "image: grafana/grafana:latest")
    edit(compose, 'ports: ["${ALERTMANAGER_BIND:-127.0.0.1}:9093:9093"]', 'ports: ["9093:9093"]')
    edit(compose, "      - --storage.path=/alertmanager\n", "      - --storage.path=/alertmanager\n")
    edit(compose, "      - --storage.tsdb.path=/prometheus\n",
         "      - --storage.tsdb.path=/prometheus\n      - --web.enable-lifecycle\n")
    edit(compose, "${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD}", "admin")
    status, output = run(root, "compose/docker-compose-prod")
    assert status == FAILED
    assert "service grafana: image 'grafana/grafana:latest' must be pinned" in output
    assert ("service alertmanager: must publish 127.0.0.1:9093:9093 (by default; found 9093:9093)"
            in output)
    assert "service prometheus: --web.enable-lifecycle opens an unauthenticated write API" in output
    assert "GF_SECURITY_ADMIN_PASSWORD must come from ${GRAFANA_ADMIN_PASSWORD}" in output


