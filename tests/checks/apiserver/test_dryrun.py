"""The apiserver checks on a real kube-apiserver (one per session): the repo's deployments
pass, and each bad input fails with the server's own message and the resource it names."""

from __future__ import annotations

import functools

from pathlib import Path

import anyio
import pytest
import yaml

from pipeline import plan
from pipeline.executors import Result, native, native_services
from pipeline.checks.apiserver import dryrun
from pipeline.plan.services import KUBE_APISERVER
from tests.support.repo import REPO, copy_repo

pytestmark = pytest.mark.tools

CHECKS = {c.name: c for c in plan.select(plan.build(plan.Tree.from_path(REPO)), ["apiserver"])}
CHART = REPO / "infra/helm/dpp-platform"


def run_check(name: str, root: Path, kubeconfig: Path) -> Result:
    """The plan's check, run by the native executor against the session's server."""
    services = native_services.Started(fills={KUBE_APISERVER.placeholder: str(kubeconfig)})
    return anyio.run(functools.partial(native.run_check, CHECKS[name], root, native.environment(root),
                                       services=services))


def tree(tmp_path: Path, name: str) -> Path:
    return copy_repo(tmp_path / "repo", *CHECKS[name].reads)


def add_template(root: Path, name: str, text: str) -> None:
    (root / "infra/helm/dpp-platform/templates" / name).write_text(text)


def test_every_environment_and_infra_argocd_has_a_check():
    envs = sorted(p.name[len("values-"):-len(".yaml")] for p in CHART.glob("values-*.yaml"))
    assert sorted(CHECKS) == sorted([*(f"chart-{e}" for e in envs), "argocd"])
    assert all(c.services == (KUBE_APISERVER.name,) for c in CHECKS.values())


def test_the_dev_deployment_passes_with_its_pods_dry_run(tmp_path, kube_apiserver):
    result = run_check("chart-dev", tree(tmp_path, "chart-dev"), kube_apiserver)
    assert result.ok, result.output
    assert "infra/argocd/application-dev.yaml: Application/dpp-platform-dev -> namespace " \
           "dpp-platform-dev" in result.output
    pods = int(result.output.split(" pod(s)")[0].rsplit(" ", 1)[1])
    assert pods >= 5, result.output  # every workload's pod template, StatefulSets included


def test_a_pod_violating_restricted_fails_with_the_pod_security_message(tmp_path, kube_apiserver):
    root = tree(tmp_path, "chart-dev")
    values = root / "infra/helm/dpp-platform/values-dev.yaml"
    overlay = yaml.safe_load(values.read_text())
    overlay["backend"]["containerSecurityContext"] = {"allowPrivilegeEscalation": True}
    values.write_text(yaml.safe_dump(overlay))
    result = run_check("chart-dev", root, kube_apiserver)
    assert not result.ok
    # The Pod is rejected (enforce) and the Deployment warned about, each named.
    assert 'pods "dpp-platform-backend" is forbidden: violates PodSecurity "restricted:latest": ' \
           'allowPrivilegeEscalation != false' in result.output, result.output
    assert 'deployment.apps/dpp-platform-backend: Warning: would violate PodSecurity ' \
           '"restricted:latest": allowPrivilegeEscalation != false' in result.output, result.output


def test_an_unknown_field_in_a_template_fails_with_the_strict_decoding_message(tmp_path,
                                                                               kube_apiserver):
    root = tree(tmp_path, "chart-dev")
    add_template(root, "typo-service.yaml", """\
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-typo
spec:
  selector:
    app.kubernetes.io/name: typo
  ports:
    - port: 80
      targetPort: 8080
      protocoll: TCP
""")
    result = run_check("chart-dev", root, kube_apiserver)
    assert not result.ok
    assert 'strict decoding error: unknown field "spec.ports[0].protocoll"' in result.output
    assert "dpp-platform-typo" in result.output


@pytest.mark.parametrize(("endpoint", "message"), [
    ("metricsPath: /metrics", 'strict decoding error: unknown field "spec.endpoints[0].metricsPath"'),
    ("scheme: htps", 'spec.endpoints[0].scheme: Unsupported value: "htps": supported values: '
                     '"http", "https", "HTTP", "HTTPS"'),
], ids=["unknown-field", "enum"])
def test_a_servicemonitor_is_checked_against_its_crd_schema(tmp_path, kube_apiserver, endpoint,
                                                            message):
    root = tree(tmp_path, "chart-dev")
    add_template(root, "typo-servicemonitor.yaml", f"""\
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{{{ .Release.Name }}}}-typo
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: typo
  endpoints:
    - port: http
      {endpoint}
""")
    result = run_check("chart-dev", root, kube_apiserver)
    assert not result.ok
    assert message in result.output, result.output
    assert "dpp-platform-typo" in result.output


def test_an_argocd_manifest_is_checked_against_the_argoproj_crds(tmp_path, kube_apiserver):
    root = tree(tmp_path, "argocd")
    path = root / "infra/argocd/application-dev.yaml"
    path.write_text(path.read_text().replace("selfHeal: true", "selfHeal: true\n      prunee: true"))
    result = run_check("argocd", root, kube_apiserver)
    assert not result.ok
    assert 'strict decoding error: unknown field "spec.syncPolicy.automated.prunee"' \
        in result.output, result.output
    assert "dpp-platform" in result.output


def test_each_environment_is_found_where_argocd_deploys_it():
    """dev from git (the chart's path), staging and prod as the released package (its name)."""
    apps = dryrun.applications(sorted((REPO / "infra/argocd").glob("*.yaml")))
    chart = "infra/helm/dpp-platform"
    deployed = {env: sorted(spec["destination"]["namespace"] for _, spec in apps
                            if dryrun.deploys(spec, chart, f"values-{env}.yaml"))
                for env in ("dev", "staging", "prod")}
    assert deployed == {"dev": ["dpp-platform-dev"], "staging": ["dpp-platform-staging"],
                        "prod": ["dpp-platform-prod"]}
    other = {"source": {"chart": "another-chart", "helm": {"valueFiles": ["values-prod.yaml"]}}}
    assert not dryrun.deploys(other, chart, "values-prod.yaml")


def test_a_statefulset_pod_gets_a_volume_per_claim_template():
    sts = {"kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"template": {"metadata": {"labels": {"a": "b"}},
                                 "spec": {"containers": [{"name": "c", "image": "i"}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"}}]}}
    pod = dryrun.as_pod(sts)
    assert pod["metadata"] == {"name": "db", "labels": {"a": "b"}}
    assert pod["spec"]["volumes"] == [{"name": "data",
                                       "persistentVolumeClaim": {"claimName": "data-db-0"}}]
    assert "volumes" not in sts["spec"]["template"]["spec"]  # the render itself is untouched


def test_an_argocd_manifest_that_is_not_yaml_is_a_problem_naming_it(tmp_path, kube_apiserver):
    root = tree(tmp_path, "argocd")
    path = root / "infra/argocd/application-dev.yaml"
    path.write_text("spec: [unclosed\n")
    result = run_check("argocd", root, kube_apiserver)
    assert not result.ok
    assert "infra/argocd/application-dev.yaml: not valid YAML" in result.output, result.output
    assert "Traceback" not in result.output


def test_the_crd_digests_are_memoised_by_the_files_bytes_and_a_damaged_memo_is_ignored(tmp_path):
    """Only the first check of a server parses the 2.5 MB of CRDs; a memo never stands for
    other bytes, and one that does not load is recomputed, never trusted."""
    source = "infra/schemas/crd-sources/monitoring.coreos.com"  # the small ones will do
    files = sorted((copy_repo(tmp_path / "repo", source) / source).rglob("*.yaml"))
    memo = tmp_path / "memo"
    memo.mkdir()
    assert dryrun.memoised_digests(files, None) == (None, None)  # nowhere to keep it
    found, path = dryrun.memoised_digests(files, memo)
    assert found is None and path.parent == memo
    crds = dryrun.load_crds(files)
    digests = dryrun.digests_of(crds)
    assert len(digests) == len(crds) == 3
    dryrun.memoise(path, digests)
    assert dryrun.memoised_digests(files, memo) == (digests, path)
    path.write_text('{"applications.argoproj.io": ')  # truncated
    assert dryrun.memoised_digests(files, memo) == (None, path)
    path.write_text('["not", "a", "mapping"]')
    assert dryrun.memoised_digests(files, memo) == (None, path)
    files[0].write_text(files[0].read_text() + "\n# changed\n")
    assert dryrun.memoised_digests(files, memo)[1] != path
