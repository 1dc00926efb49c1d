"""Each chart policy fails `lint` on a values override that breaks it, naming resource and field.

These run the plan's own checks (chart/policies-<env>, ...) with `--set` appended
to their `helm template` producer: the plan is what is proven.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.checks.chart import policies
from tests.support import warmchecks
from tests.support.repo import CHART, REPO, output, run_check

pytestmark = pytest.mark.tools

BACKEND = "Deployment/dpp-platform-backend"
CONTAINER = "spec.template.spec.containers[backend]"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_each_environment_passes(env):
    result = run_check(f"chart/policies-{env}")
    assert result.returncode == 0, output(result)
    assert "pass 14 rules" in result.stdout


BREAKS = [
    # (env, --set override, resource, field)
    ("dev", "backend.containerSecurityContext.allowPrivilegeEscalation=true",
     BACKEND, f"{CONTAINER}.securityContext.allowPrivilegeEscalation"),
    ("dev", "frontend.containerSecurityContext.readOnlyRootFilesystem=false",
     "Deployment/dpp-platform-frontend", "spec.template.spec.containers[frontend].securityContext.readOnlyRootFilesystem"),
    ("dev", "backend.podSecurityContext.runAsUser=0", BACKEND, "spec.template.spec.securityContext.runAsUser"),
    ("dev", "opa.containerSecurityContext.capabilities.drop=null",
     "Deployment/dpp-platform-opa", "spec.template.spec.containers[opa].securityContext.capabilities.drop"),
    ("dev", "backend.resources.limits=null", BACKEND, f"{CONTAINER}.resources.limits.cpu"),
    ("dev", "backend.readinessProbe=null", BACKEND, f"{CONTAINER}.readinessProbe"),
    ("dev", "backend.serviceAccount.automountToken=true", BACKEND,
     "spec.template.spec.automountServiceAccountToken"),
    ("staging", "backend.image.tag=latest", BACKEND, f"{CONTAINER}.image"),
    ("staging", "backend.pdb.maxUnavailable=0", "PodDisruptionBudget/dpp-platform-backend", "spec.maxUnavailable"),
    ("prod", "global.topologySpread.enabled=false", BACKEND, "spec.template.spec.topologySpreadConstraints"),
    ("dev", "backend.extraEnv[0].name=DB_PASSWORD,backend.extraEnv[0].value=hunter22",
     BACKEND, f"{CONTAINER}.env[DB_PASSWORD].value"),
    ("dev", "backend.extraEnv[0].name=DEBUG_DSN,backend.extraEnv[0].value=dev-only-postgres-password",
     BACKEND, f"{CONTAINER}.env[DEBUG_DSN].value: contains the value of Secret/dpp-platform-postgresql"),
    ("dev", "backend.podAnnotations.leak=dev-only-redis-password",
     BACKEND, "spec.template.metadata.annotations.leak"),
    ("staging", "ingress.tls.enabled=false", "Ingress/dpp-platform", "spec.tls"),
    # Keycloak 24 serves /health and /metrics on its HTTP port: never route them publicly.
    ("prod", "keycloak.ingressPaths={/realms,/health/ready}", "Ingress/dpp-platform",
     "spec.rules[auth.dpp-platform.dev].http.paths[1].path: '/health/ready' publishes /health"),
    ("prod", "keycloak.ingressPaths={/realms,/metrics}", "Ingress/dpp-platform",
     "spec.rules[auth.dpp-platform.dev].http.paths[1].path: '/metrics' publishes /metrics"),
    # The stock image is not built with KC_DB/KC_HEALTH_ENABLED: `--optimized` ignores them.
    ("prod", "keycloak.build.enabled=false", "Deployment/dpp-platform-keycloak",
     "spec.template.spec.containers[keycloak].args: `start --optimized` on the stock image"),
    # The EDC's metrics port is the OpenTelemetry agent's exporter: off, it serves nothing.
    ("staging", "edc.dataplane.extraEnv[0].name=OTEL_JAVAAGENT_ENABLED,edc.dataplane.extraEnv[0].value=false",
     "Deployment/dpp-platform-edc-dataplane",
     "spec.template.spec.containers[dataplane].env[OTEL_JAVAAGENT_ENABLED]: must be \"true\""),
    ("dev", "backend.livenessProbe.httpGet.port=9000", BACKEND,
     f"{CONTAINER}.livenessProbe.httpGet.port: 9000 is not a port of the container"),
]


@pytest.mark.parametrize("env,override,resource,field", BREAKS, ids=[b[1].split("=")[0] for b in BREAKS])
def test_override_breaks_policy(env, override, resource, field):
    result = run_check(f"chart/policies-{env}", "--set", override)
    assert result.returncode != 0, output(result)
    assert f"{resource}: {field}" in output(result), output(result)


def test_a_policy_problem_names_the_template_of_the_resource():
    result = run_check("chart/policies-dev", "--set", "backend.readinessProbe=null")
    assert result.returncode != 0
    line = next(x for x in output(result).splitlines() if "readinessProbe" in x)
    assert line.startswith("ERROR infra/helm/dpp-platform/templates/backend/deployment.yaml: "
                           "Deployment/dpp-platform-backend: "), line


def test_render_passes_every_rule(prod_docs):
    assert policies.violations(prod_docs, "production") == []


def policies_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return warmchecks.run([sys.executable, "-m", policies.__name__, *args], REPO, input=stdin,
                          timeout=60)


def test_an_empty_render_is_refused_naming_its_input():
    done = policies_cli("--env", "dev", "--values", str(CHART / "values.yaml"),
                        "--values", str(CHART / "values-dev.yaml"))
    assert done.returncode == 1
    assert "stdin: no manifests on input" in done.stdout
    assert "chart-policies: FAILED" in done.stdout


def test_a_missing_values_file_is_named(tmp_path):
    missing = tmp_path / "values-qa.yaml"
    done = policies_cli("--env", "qa", "--values", str(CHART / "values.yaml"), "--values", str(missing))
    assert done.returncode == 1
    assert f"{missing}: cannot read" in done.stdout


def test_values_without_a_tier_name_the_key_and_the_files(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("backend: {}\n")
    done = policies_cli("--env", "qa", "--values", str(values))
    assert done.returncode == 1
    assert f"global.environment is set in none of {values}" in done.stdout


def test_a_values_file_that_is_not_a_mapping_is_named(tmp_path):
    values = tmp_path / "values-qa.yaml"
    values.write_text("- a list\n- not values\n")
    done = policies_cli("--env", "qa", "--values", str(CHART / "values.yaml"), "--values", str(values))
    assert done.returncode == 1
    assert f"{values}: the top level is a list, not a mapping of values" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
