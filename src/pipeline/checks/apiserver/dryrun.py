"""Dry-run targets on a real Kubernetes API server; fail on any rejection or warning.

    python -m pipeline.checks.apiserver.dryrun --kubeconfig FILE --crds DIR [--chart CHART --env ENV] ARGOCD...

With --chart: every ArgoCD Application in the ARGOCD manifests (ApplicationSets
expanded as goTemplate would) that deploys CHART with values-ENV.yaml, from git (its
path) or as the released package (its chart name), is rendered as ArgoCD renders it
(`helm template` with its release, namespace and valueFiles, the server's version and
API versions). Without: the ARGOCD manifests themselves.

For each deployment, on the server:
 1. the CRDs of DIR are installed (server-side apply, once per server) and waited for
    until Established;
 2. its namespace is created with the labels and annotations of the Application's
    managedNamespaceMetadata (Pod Security "restricted" is enforced from them);
 3. its ServiceAccounts and `default` are created for real (there is no controller
    manager to create `default`, and Pods are rejected without their ServiceAccount);
 4. `kubectl apply --dry-run=server --validate=strict` of every resource;
 5. the same as a server-side apply with ArgoCD's field manager (`argocd-controller`,
    argo-cd common/common.go ArgoCDSSAManager: ArgoCD syncs with ServerSideApply=true);
 6. every workload's pod template created as a Pod (dry-run): Pod Security only
    warns about a Deployment, it rejects the Pod. A StatefulSet's pod gets a volume
    per volumeClaimTemplate, as the StatefulSet controller adds.
Every error and every warning is a problem, printed with the resource it concerns.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.checks.argocd.sources import apps_of
from pipeline.kubeapi import server
from pipeline.model.kube import load, pod_template
from pipeline.checks.files import load_stream, load_yaml
from pipeline.checks.problem import LoadError, Problem, finish

TOOL = "apiserver"
ARGOCD_MANAGER = "argocd-controller"
CRD_MANAGER = "dpp-lint"
SOURCE_LABEL = "lint.dpp-platform.io/source-digest"
# ArgoCD applies helm hooks it maps to sync phases and skips test hooks
# (argo-cd docs/user-guide/helm.md, "Helm Hooks").
SKIPPED_HOOKS = {"test", "test-success", "test-failure"}
RETRIES = 8
ESTABLISHED_TIMEOUT_SECONDS = 120
# libyaml when PyYAML has it (the CRDs are 2.5 MB of YAML: 5x faster than pure Python).
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
RESULT_LINE = re.compile(r"^(?P<resource>[\w.-]+/[\w.:-]+) (created|configured|unchanged|"
                         r"serverside-applied)\b")
NOT_YET_DISCOVERED = ("no matches for kind", "ensure CRDs are installed first",
                      "the server could not find the requested resource")


@dataclass
class Target:
    """What one Application (or the plain manifests) puts into one namespace."""

    label: str
    namespace: str
    docs: list[dict]
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)


class Kubectl:
    """kubectl against one kubeconfig, with its own discovery cache (never ~/.kube)."""

    def __init__(self, kubeconfig: Path, cache: Path) -> None:
        self.base = ["kubectl", f"--kubeconfig={kubeconfig}", f"--cache-dir={cache}",
                     "--request-timeout=60s"]
        self.cache = cache

    def run(self, *args: str, stdin: str | None = None) -> tuple[int, str]:
        """Exit status and stdout+stderr interleaved (a warning precedes its resource's line)."""
        done = subprocess.run([*self.base, *args], input=stdin, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return done.returncode, done.stdout

    def forget_discovery(self) -> None:
        """New CRDs: drop the cached API discovery so the next call sees their kinds."""
        shutil.rmtree(self.cache, ignore_errors=True)
        self.cache.mkdir(parents=True)


def problems_in(output: str, step: str, where: str) -> list[str]:
    """Every warning (with the resource whose line follows it) and every error line."""
    problems, warnings = [], []
    continues = False  # the lines after an error (e.g. "* spec...: Invalid value") are its own
    for line in output.splitlines():
        result = RESULT_LINE.match(line)
        if line.startswith("Warning:"):
            warnings.append(line)
            continues = False
        elif result:
            problems += [f"{where}: {step}: {result['resource']}: {w}" for w in warnings]
            warnings, continues = [], False
        elif line.startswith(("Error", "error")) or "is forbidden" in line or "is invalid" in line:
            problems.append(f"{where}: {step}: {line}")
            continues = True
        elif continues and line.strip():
            problems[-1] += f"\n    {line.strip()}"
    problems += [f"{where}: {step}: {w}" for w in warnings]
    return problems


def checked(kubectl: Kubectl, step: str, where: str, *args: str,
            stdin: str | None = None) -> list[str]:
    """Run kubectl; its problems, or the whole output if it failed without naming one."""
    for attempt in range(RETRIES):
        code, output = kubectl.run(*args, stdin=stdin)
        if code == 0 or not any(s in output for s in NOT_YET_DISCOVERED) or attempt == RETRIES - 1:
            break
        time.sleep(1)  # CRDs Established, aggregated discovery not yet updated
        kubectl.forget_discovery()
    problems = problems_in(output, step, where)
    if code != 0 and not problems:
        problems.append(f"{where}: {step}: kubectl exited {code}: {output.strip()}")
    return problems


# --- CRDs ---------------------------------------------------------------------------------

def load_crds(files: list[Path]) -> list[dict]:
    """The CRDs of `files`, each labelled with its source's digest."""
    crds = [doc for path in files for doc in load_stream(str(path))[0]
            if doc.get("kind") == "CustomResourceDefinition"]
    for crd in crds:
        digest = hashlib.sha256(json.dumps(crd, sort_keys=True).encode()).hexdigest()[:32]
        crd["metadata"].setdefault("labels", {})[SOURCE_LABEL] = digest
    return crds


def digests_of(crds: list[dict]) -> dict[str, str]:
    """{CRD name: its source digest} of labelled CRDs."""
    return {crd["metadata"]["name"]: crd["metadata"]["labels"][SOURCE_LABEL] for crd in crds}


def memoised_digests(files: list[Path], memo: Path | None) -> tuple[dict[str, str] | None, Path | None]:
    """(the memoised {name: digest} of these files' CRDs or None, where to memoise them).

    Parsing the 2.5 MB of CRDs costs more CPU than the rest of a check's own work, so the
    names and digests are kept in `memo` (the server's scratch directory) under the digest
    of the files' bytes: only the first check of a server parses them to ask the server."""
    if memo is None:
        return None, None
    source = hashlib.sha256()
    for path in files:
        data = path.read_bytes()
        source.update(f"{path}\0{len(data)}\0".encode() + data)
    memoised = memo / f"crd-digests-{source.hexdigest()[:32]}.json"
    try:
        found = json.loads(memoised.read_text())
    except (OSError, ValueError):  # none yet, or damaged: parse the files
        return None, memoised
    valid = isinstance(found, dict) and all(isinstance(v, str) for v in found.values())
    return (found or None) if valid else None, memoised


def memoise(path: Path | None, digests: dict[str, str]) -> None:
    if path is None or not digests:
        return
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(digests))
    partial.replace(path)  # atomic: the checks of a run start together


def install_crds(kubectl: Kubectl, directory: Path, memo: Path | None = None) -> list[str]:
    """Server-side apply every CRD of `directory` once per server; wait until Established.

    The checks of a run share the server and start together: the first to create the
    claim (a ConfigMap named after the CRDs' digest; `create` is atomic) installs them,
    the others wait until they are Established. Each CRD carries its source's digest as a
    label, so CRDs already installed (by a check that ran before) are not sent again (the
    ApplicationSet CRD alone is 1.4 MB), nor parsed again (`memoised_digests`).
    """
    files = sorted(directory.rglob("*.yaml"))
    digests, memoised = memoised_digests(files, memo)
    if digests and established(kubectl, digests):
        return []
    crds = load_crds(files)  # not memoised, or not on this server: from the files themselves
    digests = digests_of(crds)
    if not crds:
        return [f"{directory}: no CustomResourceDefinition found"]
    if established(kubectl, digests):
        memoise(memoised, digests)
        return []
    claim = "lint-crds-" + hashlib.sha256(
        "".join(sorted(digests.values())).encode()).hexdigest()[:16]
    code = claimed(kubectl, claim)
    if code == 0:
        code, output = _retried(kubectl, "apply", "--server-side", "--force-conflicts",
                                f"--field-manager={CRD_MANAGER}", "-f", "-", stdin=dump(crds))
        if code != 0:
            return [f"{directory}: kubectl apply of the CRDs failed: {output.strip()}"]
    deadline = time.monotonic() + ESTABLISHED_TIMEOUT_SECONDS
    while not established(kubectl, digests):
        if time.monotonic() > deadline:
            return [f"{directory}: the CRDs are not Established after {ESTABLISHED_TIMEOUT_SECONDS}s"
                    + ("" if code == 0 else " (installed by another check of this run: see its output)")]
        time.sleep(0.25)
    memoise(memoised, digests)
    kubectl.forget_discovery()
    return []


def claimed(kubectl: Kubectl, claim: str) -> int:
    """0 if this check created the claim (it installs), 1 if another check holds it."""
    for attempt in range(RETRIES):
        code, output = kubectl.run("create", "configmap", claim, "--namespace=default")
        if code == 0 or "already exists" in output:
            return code
        time.sleep(0.5 * (attempt + 1))  # e.g. the `default` namespace not created yet
    return 0  # no claim possible: install anyway (server-side apply is idempotent)


def established(kubectl: Kubectl, digests: dict[str, str]) -> bool:
    """Every CRD ({name: source digest}) on the server with that digest, and Established."""
    selector = ",".join(sorted(set(digests.values())))
    code, output = kubectl.run(
        "get", "customresourcedefinitions", "-l", f"{SOURCE_LABEL} in ({selector})",
        "-o", 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Established")].status}{"\\n"}{end}')
    ready = {line for line in output.splitlines() if line.endswith("=True")}
    return code == 0 and ready == {f"{name}=True" for name in digests}


def _retried(kubectl: Kubectl, *args: str, stdin: str | None = None) -> tuple[int, str]:
    """Transient refusals right after the server started (e.g. a conflict) resolve on retry."""
    for attempt in range(RETRIES):
        code, output = kubectl.run(*args, stdin=stdin)
        if code == 0 or attempt == RETRIES - 1:
            return code, output
        time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


# --- what to deploy -----------------------------------------------------------------------

def applications(manifests: list[Path]) -> list[tuple[str, dict]]:
    """(label, spec) of every Application, ApplicationSets expanded as goTemplate would
    (checks/argocd/sources.py's expansion; its policy findings are argocd/sources' to report)."""
    return [(app.where, app.spec) for path in manifests for app in apps_of(path, [])]


def deploys(spec: dict, chart: str, values: str) -> bool:
    """Whether an Application deploys `chart` with `values`: from git (its path) or as the
    released package of the chart (its name, `publish` pushes exactly this chart)."""
    source = spec.get("source") or {}
    name = (load_yaml(Path(chart, "Chart.yaml")) or {}).get("name")
    return (source.get("path") == chart or (source.get("chart") and source.get("chart") == name)) \
        and values in ((source.get("helm") or {}).get("valueFiles") or [])


def inline_values(text: str | None) -> object:
    """An Application's `spec.source.helm.values` string, parsed (a LoadError if it is not YAML)."""
    try:
        return yaml.safe_load(text) if text else None
    except yaml.YAMLError as error:
        raise LoadError(f"spec.source.helm.values: not valid YAML: {error}") from error


def helm_argv(spec: dict, chart: str, kube_version: str, api_versions: list[str],
              values_dir: Path) -> list[str]:
    """`helm template` as ArgoCD's repo server runs it for this Application spec
    (argo-cd reposerver/repository/repository.go helmTemplate: release name, namespace,
    kube and API versions of the destination cluster, valueFiles relative to the path,
    then values/valuesObject, then parameters)."""
    source = spec.get("source") or {}
    helm = source.get("helm") or {}
    release = helm.get("releaseName") or "release"
    argv = ["helm", "template", release, chart, "--namespace", spec["destination"]["namespace"],
            "--kube-version", kube_version, "--include-crds"]
    argv += [a for version in api_versions for a in ("--api-versions", version)]
    for value_file in helm.get("valueFiles") or []:
        argv += ["--values", f"{chart}/{value_file}"]
    inline = helm.get("valuesObject") or inline_values(helm.get("values"))
    if inline:
        path = values_dir / "values-inline.yaml"
        path.write_text(yaml.safe_dump(inline))
        argv += ["--values", str(path)]
    for parameter in helm.get("parameters") or []:
        flag = "--set-string" if parameter.get("forceString") else "--set"
        argv += [flag, f"{parameter['name']}={parameter.get('value', '')}"]
    return argv


def chart_targets(kubectl: Kubectl, chart: str, env: str, manifests: list[Path],
                  kube_version: str, work: Path) -> tuple[list[Target], list[str]]:
    values = f"values-{env}.yaml"
    apps = [(label, spec) for label, spec in applications(manifests) if deploys(spec, chart, values)]
    if not apps:
        return [], [f"{chart}/{values}: no ArgoCD Application in {', '.join(map(str, manifests))} "
                    "deploys it"]
    code, output = kubectl.run("api-versions")
    if code != 0:
        return [], [f"kubectl api-versions failed: {output.strip()}"]
    api_versions = output.split()
    targets, problems = [], []
    for label, spec in apps:
        argv = helm_argv(spec, chart, kube_version, api_versions, work)
        rendered = subprocess.run(argv, capture_output=True, text=True)
        if rendered.returncode != 0:
            problems.append(f"{label}: helm template failed: {rendered.stderr.strip()}")
            continue
        metadata = (spec.get("syncPolicy") or {}).get("managedNamespaceMetadata") or {}
        docs = [d for d in load(rendered.stdout) if not _skipped_hook(d)]
        targets.append(Target(
            label=f"{label} -> namespace {spec['destination']['namespace']}",
            namespace=spec["destination"]["namespace"], docs=docs,
            labels=metadata.get("labels") or {}, annotations=metadata.get("annotations") or {}))
    return targets, problems


def _skipped_hook(doc: dict) -> bool:
    hooks = ((doc.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", "")
    return bool(hooks) and {h.strip() for h in hooks.split(",")} <= SKIPPED_HOOKS


def manifest_targets(manifests: list[Path]) -> list[Target]:
    """The manifests as they are, one deployment per namespace they name."""
    by_namespace: dict[str, list[dict]] = {}
    for path in manifests:
        for doc in load_stream(str(path))[0]:
            namespace = (doc.get("metadata") or {}).get("namespace") or "default"
            by_namespace.setdefault(namespace, []).append(doc)
    files = ", ".join(map(str, manifests))
    return [Target(label=f"{files} -> namespace {ns}", namespace=ns, docs=docs)
            for ns, docs in by_namespace.items()]


# --- the dry runs -------------------------------------------------------------------------

def as_pod(doc: dict) -> dict | None:
    """A workload's pod template as the Pod its controller would create, or None."""
    found = pod_template(doc)
    if found is None or doc.get("kind") == "Pod":
        return None
    template = copy.deepcopy(found[0])
    name = doc["metadata"]["name"]
    spec = template.get("spec") or {}
    if doc["kind"] == "StatefulSet":
        for claim in (doc.get("spec") or {}).get("volumeClaimTemplates") or []:
            claim_name = claim["metadata"]["name"]
            spec.setdefault("volumes", []).append(
                {"name": claim_name, "persistentVolumeClaim": {"claimName": f"{claim_name}-{name}-0"}})
    metadata = {k: v for k, v in (template.get("metadata") or {}).items()
                if k in ("labels", "annotations")}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **metadata}, "spec": spec}


def dump(docs: list[dict]) -> str:
    return yaml.dump_all(docs, Dumper=DUMPER, sort_keys=False)


def dry_run(kubectl: Kubectl, target: Target) -> list[str]:
    where, ns = target.label, target.namespace
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": ns, "labels": target.labels,
                              "annotations": target.annotations}}
    problems = checked(kubectl, "create namespace", where, "apply", "--server-side",
                       f"--field-manager={ARGOCD_MANAGER}", "-f", "-", stdin=dump([namespace]))
    accounts = [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}]
    accounts += [d for d in target.docs if d.get("kind") == "ServiceAccount"
                 and (d.get("metadata") or {}).get("namespace", ns) == ns]
    problems += checked(kubectl, "create ServiceAccounts", where, "apply", "-n", ns, "-f", "-",
                        stdin=dump(accounts))
    if problems:
        return problems
    render = dump(target.docs)
    problems += checked(kubectl, "kubectl apply --dry-run=server --validate=strict", where,
                        "apply", "--dry-run=server", "--validate=strict", "-n", ns, "-f", "-",
                        stdin=render)
    problems += checked(kubectl, f"server-side apply as {ARGOCD_MANAGER}", where,
                        "apply", "--server-side", "--dry-run=server", "--validate=strict",
                        f"--field-manager={ARGOCD_MANAGER}", "-n", ns, "-f", "-", stdin=render)
    pods = [pod for pod in map(as_pod, target.docs) if pod]
    if pods:
        problems += checked(kubectl, "pod templates as Pods (create --dry-run=server)", where,
                            "create", "--dry-run=server", "--validate=strict", "-n", ns,
                            "-f", "-", stdin=dump(pods))
    return problems


def scratch_parent(kubeconfig: Path) -> str | None:
    """Where this check's scratch files (kubectl's discovery cache) go: next to the
    kubeconfig when writable. Natively that is the service's own temporary directory,
    which the executor removes however the run ends, even when this process is killed
    mid-way (Ctrl-C); otherwise the system's."""
    return str(kubeconfig.parent) if os.access(kubeconfig.parent, os.W_OK) else None


def scratch(kubeconfig: Path) -> Path | None:
    """The scratch directory shared by the checks of one server (None: none is writable)."""
    parent = scratch_parent(kubeconfig)
    return Path(parent) if parent else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.checks.apiserver.dryrun", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--crds", type=Path, required=True, help="CRD YAML to install first")
    parser.add_argument("--chart", help="dry-run this chart as ArgoCD deploys it (with --env)")
    parser.add_argument("--env", help="the environment: values-ENV.yaml of the chart")
    parser.add_argument("manifests", nargs="+", type=Path, help="the ArgoCD manifests")
    args = parser.parse_args(argv)
    if bool(args.chart) != bool(args.env):
        parser.error("--chart and --env go together")
    try:
        version = server.wait_ready(*server.read_kubeconfig(args.kubeconfig))
    except server.NotReady as error:
        return finish(TOOL, [Problem(str(args.kubeconfig), f"the API server is not ready: {error}",
                                     rule="dry-run")])
    targets: list[Target] = []
    try:
        with tempfile.TemporaryDirectory(prefix="dpp-dryrun-",
                                         dir=scratch_parent(args.kubeconfig)) as work:
            kubectl = Kubectl(args.kubeconfig, Path(work) / "cache")
            problems = install_crds(kubectl, args.crds, memo=scratch(args.kubeconfig))
            if not problems and args.chart:
                targets, problems = chart_targets(kubectl, args.chart, args.env, args.manifests,
                                                  version, Path(work))
            elif not problems:
                targets = manifest_targets(args.manifests)
            for target in targets:
                problems += dry_run(kubectl, target)
    except LoadError as error:  # a CRD, manifest, Chart.yaml or values file that does not load
        return finish(TOOL, [Problem("", str(error), rule="load")])
    resources = sum(len(d.docs) for d in targets)
    pods = sum(1 for d in targets for doc in d.docs if as_pod(doc))
    return finish(TOOL, [Problem("", p, rule="dry-run") for p in problems],
                  f"kube-apiserver {version} accepts {resources} resource(s) and {pods} pod(s) of "
                  f"{len(targets)} deployment(s) ({'; '.join(d.label for d in targets)}) with no warning")


if __name__ == "__main__":
    sys.exit(main())
