"""The apiserver checks on a real kube-apiserver (one per test worker, shared by the
API-server test files): the repo's deployments pass, and each bad input fails with the
server's own message and the resource it names."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path

import anyio
import pytest
import yaml

from pipeline import plan
from pipeline.executors import Result, native, native_services
from pipeline.checks.apiserver import dryrun
from pipeline.checks.problem import LoadError
from pipeline.kubeapi import client
from pipeline.layout import CRD_SOURCES
from pipeline.plan.services import KUBE_APISERVER
from tests.support.repo import REPO, binary, copy_repo

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


def only_template(root: Path, name: str, text: str) -> None:
    """The chart with `name` as its one resource template (the helpers kept): a template's
    own verdict needs neither the render nor the three dry runs of the chart's other
    resources (about 0.8 CPU-s of the server's per check)."""
    templates = root / "infra/helm/dpp-platform/templates"
    for path in templates.iterdir():
        if not path.name.startswith("_"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    add_template(root, name, text)


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
    only_template(root, "typo-service.yaml", """\
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
    only_template(root, "typo-servicemonitor.yaml", f"""\
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
    sts["spec"]["volumeClaimTemplates"] = [{"spec": {}}, "data"]  # no name: refused before
    assert "volumes" not in dryrun.as_pod(sts)["spec"]


def test_malformed_input_is_a_problem_naming_it_never_a_traceback(tmp_path):
    """A CRD without a name is a LoadError naming its file; annotations that are not a
    mapping are a problem of their resource, refused before any request."""
    crd = tmp_path / "crd.yaml"
    crd.write_text("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
                   "metadata: {labels: {a: b}}\nspec: {}\n")
    with pytest.raises(LoadError, match=f"{crd}: a CustomResourceDefinition without metadata.name"):
        dryrun.load_crds([crd])
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "annotations": "x"}}
    assert dryrun.target_of(None, doc, "ns") == "metadata.annotations must be a mapping of strings"


def test_only_transient_refusals_are_sent_again(monkeypatch):
    """A conflict or a failing server may pass on retry; an invalid object never does, and
    its error comes at once instead of after eight tries."""
    monkeypatch.setattr(dryrun.time, "sleep", lambda seconds: None)
    for statuses, sent in (([409, 503, 201], 3), ([422, 201], 1), ([403, 201], 1)):
        answers = iter(statuses)
        calls = []

        def send() -> client.Answer:
            calls.append(1)
            return client.Answer(next(answers), {})
        assert dryrun._retried(send).status == statuses[sent - 1]
        assert len(calls) == sent


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


def test_a_kind_the_server_does_not_serve_or_a_bad_name_is_a_problem_naming_the_resource(
        tmp_path, kube_apiserver):
    root = tree(tmp_path, "argocd")
    path = root / "infra/argocd/application-dev.yaml"
    path.write_text(path.read_text() + """
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: gadget
  namespace: argocd
---
apiVersion: apps/v1
kind: Deployment
metadata:
  namespace: argocd
spec:
  template:
    spec:
      containers: [{name: main, image: main}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: a/b
  namespace: argocd
""")
    result = run_check("argocd", root, kube_apiserver)
    assert not result.ok
    step = "kubectl apply --dry-run=server --validate=strict"
    assert f'{step}: widget.example.com/gadget: no matches for kind "Widget" in version ' \
           '"example.com/v1"' in result.output, result.output
    assert f"{step}: deployment.apps/?: apiVersion, kind and metadata.name (strings) are required" \
        in result.output, result.output
    assert f'{step}: configmap/a/b: Error from server (Invalid): ConfigMap "a/b" is invalid: ' \
           'metadata.name: Invalid value: "a/b"' in result.output, result.output
    assert "server-side apply as argocd-controller: configmap/a/b: Error from server" \
        in result.output, result.output
    assert "Traceback" not in result.output


# --- the same verdicts as kubectl -----------------------------------------------------------

PARITY_NAMESPACE = "lint-parity"
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/warn": "restricted"}
BAD = """\
apiVersion: v1
kind: Service
metadata:
  name: typo
spec:
  selector:
    app: typo
  ports:
    - port: 80
      protocoll: TCP
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: escalating
spec:
  selector:
    matchLabels:
      app: escalating
  template:
    metadata:
      labels:
        app: escalating
    spec:
      securityContext:
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: main
          image: registry.example.com/main:1.0.0
          securityContext:
            allowPrivilegeEscalation: true
            capabilities:
              drop: [ALL]
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: enum
spec:
  selector:
    matchLabels:
      app: typo
  endpoints:
    - port: http
      scheme: htps
"""


def kubectl_problems(kubeconfig: Path, cache: Path, step: str, *args: str, stdin: str) -> list[str]:
    """The old code path, kept as the reference: kubectl itself, its output read as the check
    read it before it spoke HTTPS (a warning belongs to the resource line that follows it)."""
    done = subprocess.run([binary("kubectl"), f"--kubeconfig={kubeconfig}", f"--cache-dir={cache}",
                           *args, "-n", PARITY_NAMESPACE, "-f", "-"], input=stdin, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    problems, warnings = [], []
    for line in done.stdout.splitlines():
        result = re.match(r"^([\w.-]+/[\w.:-]+) (created|configured|unchanged|serverside-applied)\b",
                          line)
        if line.startswith("Warning:"):
            warnings.append(line)
        elif result:
            problems += [f"{step}: {result[1]}: {w}" for w in warnings]
            warnings = []
        elif line.startswith(("Error", "error")):
            problems.append(f"{step}: {line}")
    return problems


def test_the_problems_are_those_kubectl_finds(tmp_path, kube_apiserver):
    """For an unknown field, a Pod Security violation and a CRD enum, each step's problems
    name the same resources and causes as the kubectl commands the check used to run."""
    api = dryrun.Api(client.Client.from_kubeconfig(kube_apiserver))
    assert dryrun.install_crds(api, REPO / CRD_SOURCES, memo=dryrun.scratch(kube_apiserver)) == []
    target = dryrun.Target(label="parity", namespace=PARITY_NAMESPACE, docs=[], labels=RESTRICTED)
    assert dryrun.dry_run(api, target) == []  # the namespace and its `default` ServiceAccount
    docs = list(yaml.safe_load_all(BAD))
    pods = [dryrun.as_pod(d) for d in docs if dryrun.as_pod(d)]
    ours = dryrun.dry_run(api, dryrun.Target(label="parity", namespace=PARITY_NAMESPACE,
                                             docs=docs, labels=RESTRICTED))
    steps = [("kubectl apply --dry-run=server --validate=strict", docs,
              ["apply", "--dry-run=server", "--validate=strict"]),
             ("server-side apply as argocd-controller", docs,
              ["apply", "--server-side", "--dry-run=server", "--validate=strict",
               "--field-manager=argocd-controller"]),
             ("pod templates as Pods (create --dry-run=server)", pods,
              ["create", "--dry-run=server", "--validate=strict"])]
    for step, sent, args in steps:
        theirs = kubectl_problems(kube_apiserver, tmp_path / "cache", step, *args,
                                  stdin=yaml.safe_dump_all(sent))
        mine = [p.removeprefix("parity: ") for p in ours if p.startswith(f"parity: {step}: ")]
        # Warnings: the same resource and text.
        assert {p for p in mine if ": Warning: " in p} == \
            {p for p in theirs if ": Warning: " in p}, (mine, theirs)
        # Errors: the server's same message; ours also names the resource kubectl leaves out.
        errors = [p for p in mine if ": Error from server (" in p]
        assert len(errors) == len([p for p in theirs if p.startswith(f"{step}: Error")]), (mine, theirs)
        for error in errors:
            message = error.split(": Error from server (", 1)[1].split("): ", 1)[1]
            assert any(message in p for p in theirs), (message, theirs)
    causes = "\n".join(ours)
    for resource, cause in [
            ("service/typo", 'strict decoding error: unknown field "spec.ports[0].protocoll"'),
            ("service/typo", ".protocoll: field not declared in schema"),
            ("deployment.apps/escalating", 'Warning: would violate PodSecurity "restricted:latest": '
                                           "allowPrivilegeEscalation != false"),
            ("pod/escalating", 'pods "escalating" is forbidden: violates PodSecurity'),
            ("servicemonitor.monitoring.coreos.com/enum", 'spec.endpoints[0].scheme: Unsupported '
                                                          'value: "htps"')]:
        assert re.search(rf"{re.escape(resource)}: .*{re.escape(cause)}", causes), (resource, causes)


def test_an_object_that_exists_is_still_checked(kube_apiserver):
    """Step 4 on an existing object (a ServiceAccount of step 3, a custom resource) sends it
    as a patch over it, dry-run and strict: strategic merge, or JSON merge for a CRD's kind."""
    api = dryrun.Api(client.Client.from_kubeconfig(kube_apiserver))
    assert dryrun.install_crds(api, REPO / CRD_SOURCES, memo=dryrun.scratch(kube_apiserver)) == []
    target = dryrun.Target(label="exists", namespace="lint-exists", docs=[])
    assert dryrun.dry_run(api, target) == []
    monitor = next(d for d in yaml.safe_load_all(BAD) if d["kind"] == "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["scheme"] = "https"
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app"}}
    created = dryrun.send_each(api, "create", "exists", "lint-exists", [monitor, account],
                               functools.partial(dryrun.client_side_apply, api, dry_run=False))
    assert created == []
    monitor["spec"]["endpoints"][0]["scheme"] = "htps"
    account["automountServiceAccountToken"] = "yes"
    problems = dryrun.send_each(api, "check", "exists", "lint-exists", [monitor, account],
                                functools.partial(dryrun.client_side_apply, api, dry_run=True))
    assert len(problems) == 2, problems
    assert 'exists: check: servicemonitor.monitoring.coreos.com/enum: Error from server (Invalid): ' \
           'ServiceMonitor.monitoring.coreos.com "enum" is invalid: spec.endpoints[0].scheme: ' \
           'Unsupported value: "htps"' in problems[0]
    assert problems[1].startswith("exists: check: serviceaccount/app: Error from server (BadRequest)")
    assert "automountServiceAccountToken" in problems[1]
