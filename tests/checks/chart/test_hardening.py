"""chart/hardening-<env>: each bad input fails `lint`, naming the resource and the value.

The plan's own check runs, its `helm template` producer and the policy both given the
same extra values file (the policy reads the exceptions from the values the render used).
"""

from __future__ import annotations

import sys

import pytest
import yaml

from pipeline.model.kube import load
from tests.support import warmchecks
from tests.support.repo import REPO, output, render, run_check

pytestmark = pytest.mark.tools

BACKEND = "Deployment/dpp-platform-backend"
CONTAINER = "spec.template.spec.containers[backend]"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def hardening(env: str, tmp_path, overrides: dict | None = None):
    if overrides is None:
        return run_check(f"chart/hardening-{env}")
    extra = tmp_path / "override.yaml"
    extra.write_text(yaml.safe_dump(overrides))
    return run_check(f"chart/hardening-{env}", "-f", str(extra),
                     check_args=("--values", str(extra)))


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_each_environment_passes(env, tmp_path):
    result = hardening(env, tmp_path)
    assert result.returncode == 0, output(result)
    assert "pass 6 rules" in result.stdout


BREAKS = [
    # (env, values override, resource: field: message start)
    ("prod", {"backend": {"image": {"digestExemption": ""}}},
     f"{BACKEND}: {CONTAINER}.image: 'ghcr.io/dpp-platform/dpp-backend:0.1.0' runs by tag in "
     f"production: set backend.image.digest (sha256:…), or backend.image.digestExemption to the "
     f"reason"),
    ("prod", {"redis": {"exporter": {"image": {"digestExemption": "  "}}}},
     "Deployment/dpp-platform-redis: spec.template.spec.containers[exporter].image: "
     "'docker.io/oliver006/redis_exporter:v1.62.0' runs by tag in production: set "
     "redis.exporter.image.digest"),
    ("dev", {"backend": {"image": {"digest": DIGEST, "pullPolicy": "Always"}}},
     f"{BACKEND}: {CONTAINER}.imagePullPolicy: 'Always' for an image pinned by digest"),
    ("dev", {"backend": {"extraEnv": [{"name": "NEW_API_TOKEN", "valueFrom": {
        "secretKeyRef": {"name": "dpp-extra", "key": "token"}}}]}},
     f"{BACKEND}: {CONTAINER}.env[NEW_API_TOKEN]: a Secret in an environment variable: mount "
     f"it as a file (e.g. NEW_API_TOKEN_FILE where the image reads one), or list it under "
     f"hardening.secretEnv.backend.NEW_API_TOKEN with the reason"),
    ("prod", {"hardening": {"secretEnv": {"keycloak": {"KC_DB_PASSWORD": None}}}},
     "Deployment/dpp-platform-keycloak: spec.template.spec.containers[keycloak]"
     ".env[KC_DB_PASSWORD]: a Secret in an environment variable"),
    ("dev", {"backend": {"livenessProbe": {"httpGet": {"path": "/api/health/ready"}}}},
     f"{BACKEND}: {CONTAINER}.livenessProbe: runs the same check as the readinessProbe"),
    ("dev", {"backend": {"resources": {"limits": {"ephemeral-storage": None}}}},
     f"{BACKEND}: {CONTAINER}.resources.limits.ephemeral-storage: missing"),
    ("staging", {"minio": {"resources": {"requests": {"ephemeral-storage": None}}}},
     "StatefulSet/dpp-platform-minio: spec.template.spec.containers[minio].resources.requests"
     ".ephemeral-storage: missing"),
    ("dev", {"opa": {"podSecurityContext": {"runAsUser": 1000}}},
     "Deployment/dpp-platform-opa: spec.template.spec.containers[opa].securityContext.runAsUser: "
     "1000: run as a UID >= 10000"),
    # The image fixes 999: exactly 999 is accepted, nothing else below 10000.
    ("dev", {"postgresql": {"podSecurityContext": {"runAsUser": 998}}},
     "StatefulSet/dpp-platform-postgresql: spec.template.spec.containers[postgresql]"
     ".securityContext.runAsUser: 998: run as a UID >= 10000"),
    ("dev", {"hardening": {"fixedUids": {"frontend": None}}},
     "Deployment/dpp-platform-frontend: spec.template.spec.containers[frontend]"
     ".securityContext.runAsUser: 101"),
]


@pytest.mark.parametrize("env,overrides,message", BREAKS,
                         ids=[f"{b[0]}-{b[2].split(': ')[1]}" for b in BREAKS])
def test_bad_input_fails_naming_resource_and_value(env, overrides, message, tmp_path):
    result = hardening(env, tmp_path, overrides)
    assert result.returncode == 1, output(result)
    assert message in output(result), output(result)


def test_a_malformed_digest_in_values_fails_the_render_naming_the_value(tmp_path):
    result = hardening("prod", tmp_path, {"backend": {"image": {"digest": "sha256:abc123"}}})
    assert result.returncode != 0
    assert ("at '/backend/image/digest': 'sha256:abc123' does not match pattern "
            "'^$|^sha256:[a-f0-9]{64}$'") in output(result)


def test_a_malformed_digest_in_a_render_fails_the_policy(rendered):
    made = rendered("dev")
    assert '"ghcr.io/dpp-platform/dpp-backend:0.1.0"' in made
    bad = made.replace('"ghcr.io/dpp-platform/dpp-backend:0.1.0"',
                       '"ghcr.io/dpp-platform/dpp-backend:0.1.0@sha256:0123"', 1)
    chart = REPO / "infra/helm/dpp-platform"
    done = warmchecks.run([sys.executable, "-m", "pipeline.checks.chart.hardening", "--env", "dev",
                           "--values", str(chart / "values.yaml"),
                           "--values", str(chart / "values-dev.yaml")],
                          REPO, input=bad, timeout=60)
    assert done.returncode == 1
    assert (f"{BACKEND}: {CONTAINER}.image: 'ghcr.io/dpp-platform/dpp-backend:0.1.0@sha256:0123': "
            f"the digest is not sha256:<64 hex digits>") in done.stdout + done.stderr


def containers_of(docs: list[dict]) -> dict[str, dict]:
    found = {}
    for doc in docs:
        if doc.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        spec = doc["spec"]["template"]["spec"]
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            found[f"{doc['kind']}/{doc['metadata']['name']}/{container['name']}"] = \
                {**container, "pod": spec}
    return found


def test_a_digest_renders_repository_tag_and_digest_pulled_if_not_present():
    made = render("dev", "--set", f"backend.image.digest={DIGEST}")
    assert made.returncode == 0, made.stderr
    containers = containers_of(load(made.stdout))
    backend = containers["Deployment/dpp-platform-backend/backend"]
    assert backend["image"] == f"ghcr.io/dpp-platform/dpp-backend:0.1.0@{DIGEST}"
    assert backend["imagePullPolicy"] == "IfNotPresent"
    minio = containers["StatefulSet/dpp-platform-minio/minio"]
    assert minio["image"] == ("quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z@sha256:"
                              "a1ea29fa28355559ef137d71fc570e508a214ec84ff8083e39bc5428980b015e")


@pytest.mark.parametrize("workload,container,variables,mount", [
    ("StatefulSet/dpp-platform-minio", "minio",
     {"MINIO_ROOT_USER_FILE": "/run/secrets/minio/root-user",
      "MINIO_ROOT_PASSWORD_FILE": "/run/secrets/minio/root-password"}, "/run/secrets/minio"),
    ("StatefulSet/dpp-platform-postgresql", "postgresql",
     {"POSTGRES_PASSWORD_FILE": "/run/secrets/postgresql/password"}, "/run/secrets/postgresql"),
    ("StatefulSet/dpp-platform-postgresql", "exporter",
     {"DATA_SOURCE_PASS_FILE": "/run/secrets/postgresql/password"}, "/run/secrets/postgresql"),
    ("Deployment/dpp-platform-redis", "redis", {}, "/run/secrets/redis"),
])
def test_secrets_reach_these_images_as_files_never_env(workload, container, variables, mount,
                                                     rendered_docs):
    found = containers_of(rendered_docs("dev"))[f"{workload}/{container}"]
    env = {v["name"]: v for v in found.get("env", [])}
    for name, path in variables.items():
        assert env[name].get("value") == path, name
    assert not [v for v in env.values() if "secretKeyRef" in (v.get("valueFrom") or {})]
    volume_name = next(m["name"] for m in found["volumeMounts"] if m["mountPath"] == mount)
    volume = next(v for v in found["pod"]["volumes"] if v["name"] == volume_name)
    assert volume["secret"]["defaultMode"] == 0o440
    files = {item["path"] for item in volume["secret"]["items"]}
    assert {path.rsplit("/", 1)[1] for path in variables.values()} <= files
    assert "password" in " ".join(files) or "root-user" in files


def test_redis_reads_its_password_file_for_the_server_and_the_readiness_probe(rendered_docs):
    redis = containers_of(rendered_docs("dev"))["Deployment/dpp-platform-redis/redis"]
    assert "$(cat /run/secrets/redis/password)" in redis["command"][-1]
    assert "$(cat /run/secrets/redis/password)" in redis["readinessProbe"]["exec"]["command"][-1]
    assert redis["livenessProbe"] == {**redis["livenessProbe"], "tcpSocket": {"port": "redis"}}


def test_frontend_liveness_is_a_tcp_check_of_its_contract_port():
    """The contract's frontend has one health path (/), readiness: liveness checks the port."""
    ok = run_check("chart/app-contract-dev")
    assert ok.returncode == 0, output(ok)
    result = run_check("chart/app-contract-dev", "--set", "frontend.livenessProbe.tcpSocket.port=9999")
    assert result.returncode != 0
    assert ("Deployment/dpp-platform-frontend: spec.template.spec.containers[frontend]"
            ".livenessProbe.tcpSocket: port 9999: frontend has no liveness path, so its liveness "
            "is a TCP check of 8080") in output(result), output(result)


def test_values_without_a_tier_are_a_problem_not_a_quiet_non_production(tmp_path, rendered):
    """Image digests are required in production only: values that do not say their tier are
    refused, never checked as if they were not production."""
    values = tmp_path / "values.yaml"
    values.write_text("backend: {}\n")
    done = warmchecks.run([sys.executable, "-m", "pipeline.checks.chart.hardening", "--env", "qa",
                           "--values", str(values)], REPO, input=rendered("prod"))
    assert done.returncode == 1, done.stdout
    assert f"global.environment is set in none of {values}" in done.stdout
