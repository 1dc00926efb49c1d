"""Dry-run targets on a real Kubernetes API server; fail on any rejection or warning.

    python -m pipeline.checks.apiserver.dryrun --kubeconfig FILE --crds DIR [--chart CHART --env ENV] ARGOCD...

With --chart: every ArgoCD Application in the ARGOCD manifests (ApplicationSets
expanded as goTemplate would) that deploys CHART with values-ENV.yaml, from git (its
path) or as the released package (its chart name), is rendered as ArgoCD renders it
(`helm template` with its release, namespace and valueFiles, the server's version and
API versions). Without: the ARGOCD manifests themselves.

For each deployment, on the server, as the requests kubectl 1.37 sends (read in
k8s.io/kubectl@v0.37.2 pkg/cmd/apply/apply.go applyOneObject and patcher.go, and
k8s.io/cli-runtime resource/helper.go), over one HTTPS connection (pipeline.kubeapi.client):
 1. the CRDs of DIR are installed once per server: each a server-side apply,
    `PATCH .../customresourcedefinitions/NAME?fieldManager=dpp-lint&force=true` with
    `Content-Type: application/apply-patch+yaml` (`kubectl apply --server-side
    --force-conflicts`), by the check that created the claim ConfigMap; every check waits
    until they carry their source-digest label (`GET ...?labelSelector=`, metadata only)
    and are Established (served in the aggregated discovery);
 2. its namespace is server-side applied (for real, `fieldManager=argocd-controller`,
    `force=false`) with the labels and annotations of the Application's
    managedNamespaceMetadata (Pod Security "restricted" is enforced from them);
 3. its ServiceAccounts and `default` are created for real as step 4 sends them without
    `dryRun` (there is no controller manager to create `default`, and Pods are rejected
    without their ServiceAccount);
 4. what `kubectl apply --dry-run=server --validate=strict` (client-side apply) sends for
    every resource: `POST` to its collection with `dryRun=All&fieldValidation=Strict&
    fieldManager=kubectl-client-side-apply`, the object carrying kubectl's
    last-applied-configuration annotation. For an object that already exists (409
    AlreadyExists: the ServiceAccounts of step 3, a deployment checked before on this
    server) the object is sent as a patch over it, dry-run and strict (strategic merge;
    JSON merge for custom resources, which answer 415 to strategic merge), as kubectl
    does when its three-way patch is not empty; kubectl sends nothing when the
    object is unchanged, this always sends it, so an existing object is still checked;
 5. the same as a server-side apply with ArgoCD's field manager: `PATCH .../NAME?dryRun=All&
    fieldValidation=Strict&fieldManager=argocd-controller&force=false`, apply-patch+yaml
    (argo-cd common/common.go ArgoCDSSAManager: ArgoCD syncs with ServerSideApply=true);
 6. every workload's pod template created as a Pod: `POST .../pods?dryRun=All&
    fieldValidation=Strict&fieldManager=kubectl-create` (`kubectl create
    --dry-run=server`): Pod Security only warns about a Deployment, it rejects the Pod.
    A StatefulSet's pod gets a volume per volumeClaimTemplate, as the StatefulSet
    controller adds.
Each resource's path comes from the server's aggregated discovery (`GET /api` and
`GET /apis`, apidiscovery.k8s.io/v2), fetched once per check and again (for up to a minute)
only while a CRD just Established is not in it yet. Every error (the Status
message of a 4xx or 5xx answer) and every warning (each `Warning: 299 - "text"` response
header, RFC 7234 5.5, which kubectl prints as `Warning: text`) is a problem naming the
deployment, the step and the resource (`kind.group/name`, as kubectl names it). A kind
the server does not serve is one too; a server that cannot be reached or answers
something other than the API (a 5xx that is not a Status) fails the check with its
address and the request.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.checks.argocd.sources import apps_of
from pipeline.kubeapi import client, server
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
# How long a CRD Established may be missing from discovery (or its resource not served):
# seconds on an idle machine, much longer on a loaded one.
DISCOVERY_TIMEOUT_SECONDS = 60
# kubectl's field managers (k8s.io/kubectl@v0.37.2 pkg/cmd/apply/apply.go
# FieldManagerClientSideApply; pkg/cmd/create/create.go) and its annotation (apply.go,
# corev1.LastAppliedConfigAnnotation).
CLIENT_SIDE_MANAGER = "kubectl-client-side-apply"
CREATE_MANAGER = "kubectl-create"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Patch types (k8s.io/apimachinery pkg/types/patch.go).
APPLY_PATCH = "application/apply-patch+yaml"  # JSON is YAML: kubectl sends JSON with it too
STRATEGIC_MERGE = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
NOT_SERVED = "the server could not find the requested resource"
# A list of metadata only, the objects' schemas left out (k8s.io/apiserver@v0.37.2
# pkg/endpoints/handlers/response.go, doTransformObject: PartialObjectMetadataList).
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


@dataclass
class Target:
    """What one Application (or the plain manifests) puts into one namespace."""

    label: str
    namespace: str
    docs: list[dict]
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)


class Api:
    """One check's connection to the server, and its discovery: fetched once, and again
    while a CRD this check waited for is not in it yet (Established comes first, the
    aggregated discovery follows asynchronously), so the kinds and the API versions given
    to helm include every CRD."""

    def __init__(self, connection: client.Client) -> None:
        self.client = connection
        self._discovery: client.Discovery | None = None
        self.expected: set[str] = set()  # plural.group of the CRDs installed

    def discovery(self) -> client.Discovery:
        if self._discovery is None:
            self._discovery = client.Discovery(self.client)
            deadline = time.monotonic() + DISCOVERY_TIMEOUT_SECONDS
            while not self.expected <= self._discovery.names and time.monotonic() < deadline:
                time.sleep(0.25)  # two small requests: cheap to ask again, on a busy machine too
                self._discovery.refresh()
        return self._discovery

    def resource(self, api_version: str, kind: str) -> client.Resource | None:
        return self.discovery().resource(api_version, kind)

    def keep(self, discovery: client.Discovery) -> None:
        """A discovery asked for elsewhere (`established`) that serves every CRD expected."""
        self._discovery = discovery

    def request(self, method: str, path: str, body: dict | None = None, *,
                resource: client.Resource | None = None, **options) -> client.Answer:
        """A request; for a `resource` of a CRD this check installed, repeated while the
        server does not serve its path yet (right after the CRD is discovered). Any other
        404 is the answer at once: a built-in kind is served from the start, and a name the
        server cannot route (`a/b`) must not wait out the timeout."""
        deadline = time.monotonic() + DISCOVERY_TIMEOUT_SECONDS
        while True:
            answer = self.client.request(method, path, body, **options)
            if answer.status != 404 or answer.message != NOT_SERVED \
                    or not self.installed(resource) or time.monotonic() > deadline:
                return answer
            time.sleep(0.25)

    def installed(self, resource: client.Resource | None) -> bool:
        """Whether `resource` is served by a CRD this check installed (plural.group)."""
        return resource is not None and f"{resource.plural}.{resource.group}" in self.expected


def name_of(doc: dict) -> str:
    """kind.group/name, as kubectl names a resource (deployment.apps/backend, pod/backend)."""
    group = str(doc.get("apiVersion") or "").rpartition("/")[0]
    kind = str(doc.get("kind") or "?").lower()
    return f"{kind}{'.' + group if group else ''}/{_metadata(doc).get('name', '?')}"


def _metadata(doc: dict) -> dict:
    metadata = doc.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def problems_of(answer: client.Answer, step: str, where: str, resource: str) -> list[str]:
    """Every warning and the error of one answer, each naming the resource."""
    problems = [f"{where}: {step}: {resource}: Warning: {w}" for w in answer.warnings]
    if not answer.ok:
        problems.append(f"{where}: {step}: {resource}: Error from server ({answer.reason}): "
                        f"{answer.message}")
    return problems


def target_of(api: Api, doc: dict, namespace: str) -> tuple[client.Resource, str | None, dict] | str:
    """(where the resource lives, its namespace, the object as sent), or why it cannot be sent:
    what kubectl checks before a request (a kind the server does not serve, another namespace)."""
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    name = _metadata(doc).get("name")
    if not (isinstance(api_version, str) and isinstance(kind, str) and isinstance(name, str)
            and name):
        return "apiVersion, kind and metadata.name (strings) are required"
    if not isinstance(_metadata(doc).get("annotations") or {}, dict):
        return "metadata.annotations must be a mapping of strings"
    resource = api.resource(api_version, kind)
    if resource is None:
        return (f'no matches for kind "{kind}" in version "{api_version}": the server does not '
                "serve it (ensure CRDs are installed first)")
    if not resource.namespaced:
        return resource, None, doc
    own = doc["metadata"].get("namespace")
    if own and own != namespace:
        return (f'the namespace from the provided object "{own}" does not match the namespace '
                f'"{namespace}"')
    return resource, namespace, {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}


def create(api: Api, resource: client.Resource, namespace: str | None, doc: dict, *,
           manager: str, dry_run: bool) -> client.Answer:
    return api.request("POST", resource.collection(namespace), doc, resource=resource,
                       query=_options(manager, dry_run))


def client_side_apply(api: Api, resource: client.Resource, namespace: str | None, doc: dict, *,
                      dry_run: bool) -> client.Answer:
    """What `kubectl apply` (client-side) sends: the object with its last-applied annotation,
    created; when it exists, the object as a patch over it (strategic merge for built-in
    kinds, JSON merge for custom resources, which refuse strategic merge: HTTP 415)."""
    annotated = with_last_applied(doc)
    answer = create(api, resource, namespace, annotated, manager=CLIENT_SIDE_MANAGER,
                    dry_run=dry_run)
    if answer.status != 409 or answer.reason != "AlreadyExists":
        return answer
    path, query = resource.item(namespace, doc["metadata"]["name"]), _options(CLIENT_SIDE_MANAGER, dry_run)
    answer = api.request("PATCH", path, annotated, resource=resource, query=query,
                         content_type=STRATEGIC_MERGE)
    if answer.status == 415:
        answer = api.request("PATCH", path, annotated, resource=resource, query=query,
                             content_type=MERGE_PATCH)
    return answer


def server_side_apply(api: Api, resource: client.Resource, namespace: str | None, doc: dict, *,
                      manager: str, dry_run: bool, force: bool = False) -> client.Answer:
    """What `kubectl apply --server-side` sends: the object as an apply patch."""
    return api.request("PATCH", resource.item(namespace, doc["metadata"]["name"]), doc,
                       resource=resource,
                       query={**_options(manager, dry_run), "force": str(force).lower()},
                       content_type=APPLY_PATCH)


def _options(manager: str, dry_run: bool) -> dict[str, str]:
    # kubectl --validate=strict sends fieldValidation=Strict; --dry-run=server, dryRun=All.
    return {"fieldManager": manager, "fieldValidation": "Strict",
            **({"dryRun": "All"} if dry_run else {})}


def with_last_applied(doc: dict) -> dict:
    """The object with kubectl's last-applied-configuration annotation (the object's JSON
    without it, as k8s.io/kubectl pkg/util/apply.go GetModifiedConfiguration encodes it):
    its size counts against the 256 KiB of annotations, as in a real `kubectl apply`."""
    metadata = dict(doc.get("metadata") or {})
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items()
                   if k != LAST_APPLIED}
    bare = {**doc, "metadata": {**metadata, "annotations": annotations}}
    text = json.dumps(bare, separators=(",", ":")) + "\n"
    return {**doc, "metadata": {**metadata, "annotations": {**annotations, LAST_APPLIED: text}}}


Send = Callable[[client.Resource, "str | None", dict], client.Answer]


def send_each(api: Api, step: str, where: str, namespace: str, docs: list[dict],
              send: Send) -> list[str]:
    """`send` every resource; the problems of each, naming it."""
    problems = []
    for doc in docs:
        found = target_of(api, doc, namespace)
        if isinstance(found, str):
            problems.append(f"{where}: {step}: {name_of(doc)}: {found}")
            continue
        resource, in_namespace, body = found
        problems += problems_of(send(resource, in_namespace, body), step, where, name_of(doc))
    return problems


# --- CRDs ---------------------------------------------------------------------------------

def load_crds(files: list[Path]) -> list[dict]:
    """The CRDs of `files`, each labelled with its source's digest."""
    crds = []
    for path in files:
        for doc in load_stream(str(path))[0]:
            if doc.get("kind") != "CustomResourceDefinition":
                continue
            if not isinstance(_metadata(doc).get("name"), str):
                raise LoadError(f"{path}: a CustomResourceDefinition without metadata.name")
            crds.append(doc)
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


def install_crds(api: Api, directory: Path, memo: Path | None = None) -> list[str]:
    """Server-side apply every CRD of `directory` once per server; wait until Established.

    The checks of a run share the server and start together: the first to create the
    claim (a ConfigMap named after the CRDs' digest; `create` is atomic) installs them,
    the others wait until they are Established. Each CRD carries its source's digest as a
    label, so CRDs already installed (by a check that ran before) are not sent again (the
    ApplicationSet CRD alone is 1.4 MB), nor parsed again (`memoised_digests`).
    """
    files = sorted(directory.rglob("*.yaml"))
    digests, memoised = memoised_digests(files, memo)
    if digests and established(api, digests):
        api.expected = set(digests)
        return []
    crds = load_crds(files)  # not memoised, or not on this server: from the files themselves
    digests = digests_of(crds)
    if not crds:
        return [f"{directory}: no CustomResourceDefinition found"]
    if established(api, digests):
        memoise(memoised, digests)
        api.expected = set(digests)
        return []
    claim = "lint-crds-" + hashlib.sha256(
        "".join(sorted(digests.values())).encode()).hexdigest()[:16]
    mine = claimed(api, claim)
    if mine:
        for crd in crds:
            answer = _retried(lambda crd=crd: api.request(
                "PATCH", f"{CRDS}/{crd['metadata']['name']}", crd,
                query={"fieldManager": CRD_MANAGER, "force": "true"}, content_type=APPLY_PATCH))
            if not answer.ok:
                return [f"{directory}: server-side apply of CustomResourceDefinition "
                        f"{crd['metadata']['name']} failed: {answer.reason}: {answer.message}"]
    deadline = time.monotonic() + ESTABLISHED_TIMEOUT_SECONDS
    while not established(api, digests):
        if time.monotonic() > deadline:
            return [f"{directory}: the CRDs are not Established after {ESTABLISHED_TIMEOUT_SECONDS}s"
                    + ("" if mine else " (installed by another check of this run: see its output)")]
        time.sleep(0.25)
    memoise(memoised, digests)
    api.expected = set(digests)
    return []


def claimed(api: Api, claim: str) -> bool:
    """True if this check created the claim (it installs), False if another check holds it."""
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": claim}}
    for attempt in range(RETRIES):
        answer = api.client.request("POST", "/api/v1/namespaces/default/configmaps", config_map,
                                    query={"fieldManager": CRD_MANAGER})
        if answer.ok or answer.reason == "AlreadyExists":
            return answer.ok
        time.sleep(0.5 * (attempt + 1))  # e.g. the `default` namespace not created yet
    return True  # no claim possible: install anyway (server-side apply is idempotent)


def established(api: Api, digests: dict[str, str]) -> bool:
    """Every CRD ({name: source digest}) on the server with that digest, and Established.

    Asked cheaply, as every check asks it at least once: the digests from a list of the
    CRDs' metadata (the full list carries the 2.5 MB of schemas: about 0.15 CPU-s of the
    server's and this check's each time), Established from the aggregated discovery,
    which serves a CRD's resources only once it is Established (apiextensions-apiserver
    @v0.37.2 pkg/apiserver/customresource_discovery_controller.go, DiscoveryController.sync)
    and which the check needs next anyway (kept: `Api.keep`)."""
    selector = ",".join(sorted(set(digests.values())))
    answer = api.client.request("GET", CRDS, query={"labelSelector": f"{SOURCE_LABEL} in ({selector})"},
                                accept=f"{METADATA_LIST},application/json")
    if not answer.ok:  # refused (403, 400 ...) is no "not Established yet": say why now
        raise client.ApiError(f"{api.client.url}: GET {CRDS}: HTTP {answer.status} "
                              f"{answer.reason}: {answer.message}")
    labelled = {}
    for item in answer.body.get("items") or []:
        metadata = item.get("metadata") or {}
        labelled[metadata.get("name")] = (metadata.get("labels") or {}).get(SOURCE_LABEL)
    if labelled != digests:
        return False
    discovery = client.Discovery(api.client)
    if not set(digests) <= discovery.names:
        return False
    api.keep(discovery)
    return True


TRANSIENT = (409, 429)  # a conflict, too many requests; and any 5xx


def _retried(send) -> client.Answer:
    """Transient refusals right after the server started (a conflict, a 5xx) resolve on
    retry; an invalid object (400, 422) or a refusal (403) is the answer at once."""
    for attempt in range(RETRIES):
        answer = send()
        transient = answer.status in TRANSIENT or answer.status >= 500
        if answer.ok or not transient or attempt == RETRIES - 1:
            return answer
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


def chart_targets(api: Api, chart: str, env: str, manifests: list[Path],
                  kube_version: str, work: Path) -> tuple[list[Target], list[str]]:
    values = f"values-{env}.yaml"
    apps = [(label, spec) for label, spec in applications(manifests) if deploys(spec, chart, values)]
    if not apps:
        return [], [f"{chart}/{values}: no ArgoCD Application in {', '.join(map(str, manifests))} "
                    "deploys it"]
    api_versions = api.discovery().api_versions()  # what `kubectl api-versions` prints
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
    name = _metadata(doc).get("name")
    if found is None or doc.get("kind") == "Pod" or not isinstance(name, str):
        return None  # without a name, the steps before report the workload itself
    template = copy.deepcopy(found[0])
    spec = template.get("spec") or {}
    if doc["kind"] == "StatefulSet":
        for claim in (doc.get("spec") or {}).get("volumeClaimTemplates") or []:
            claim_name = _metadata(claim if isinstance(claim, dict) else {}).get("name")
            if not isinstance(claim_name, str):
                continue  # the StatefulSet itself is refused for it, in the steps before
            spec.setdefault("volumes", []).append(
                {"name": claim_name, "persistentVolumeClaim": {"claimName": f"{claim_name}-{name}-0"}})
    metadata = {k: v for k, v in (template.get("metadata") or {}).items()
                if k in ("labels", "annotations")}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **metadata}, "spec": spec}


def dry_run(api: Api, target: Target) -> list[str]:
    where, ns = target.label, target.namespace
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": ns, "labels": target.labels,
                              "annotations": target.annotations}}
    problems = send_each(api, "create namespace", where, ns, [namespace], functools.partial(
        server_side_apply, api, manager=ARGOCD_MANAGER, dry_run=False))
    accounts = [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}]
    accounts += [d for d in target.docs if d.get("kind") == "ServiceAccount"
                 and _metadata(d).get("namespace", ns) == ns]
    problems += send_each(api, "create ServiceAccounts", where, ns, accounts, functools.partial(
        client_side_apply, api, dry_run=False))
    if problems:
        return problems
    problems += send_each(api, "kubectl apply --dry-run=server --validate=strict", where, ns,
                          target.docs, functools.partial(client_side_apply, api, dry_run=True))
    problems += send_each(api, f"server-side apply as {ARGOCD_MANAGER}", where, ns, target.docs,
                          functools.partial(server_side_apply, api, manager=ARGOCD_MANAGER,
                                            dry_run=True))
    pods = [pod for pod in map(as_pod, target.docs) if pod]
    problems += send_each(api, "pod templates as Pods (create --dry-run=server)", where, ns, pods,
                          functools.partial(create, api, manager=CREATE_MANAGER, dry_run=True))
    return problems


def scratch_parent(kubeconfig: Path) -> str | None:
    """Where this check's scratch files (an Application's inline values) go: next to the
    kubeconfig when writable. Natively that is the service's own temporary directory,
    which the executor removes however the run ends, even when this process is killed
    mid-way (Ctrl-C); otherwise the system's."""
    return str(kubeconfig.parent) if os.access(kubeconfig.parent, os.W_OK) else None


def scratch(kubeconfig: Path) -> Path | None:
    """The scratch directory shared by the checks of one server (None: none is writable)."""
    parent = scratch_parent(kubeconfig)
    return Path(parent) if parent else None


def check(args: argparse.Namespace, version: str) -> tuple[list[Target], list[str]]:
    """The deployments of `args` and the problems of their dry runs, on one connection."""
    targets: list[Target] = []
    with contextlib.closing(client.Client.from_kubeconfig(args.kubeconfig)) as connection, \
            tempfile.TemporaryDirectory(prefix="dpp-dryrun-",
                                        dir=scratch_parent(args.kubeconfig)) as work:
        api = Api(connection)
        problems = install_crds(api, args.crds, memo=scratch(args.kubeconfig))
        if not problems and args.chart:
            targets, problems = chart_targets(api, args.chart, args.env, args.manifests,
                                              version, Path(work))
        elif not problems:
            targets = manifest_targets(args.manifests)
        for target in targets:
            problems += dry_run(api, target)
    return targets, problems


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
    try:
        targets, problems = check(args, version)
    except LoadError as error:  # a CRD, manifest, Chart.yaml or values file that does not load
        return finish(TOOL, [Problem("", str(error), rule="load")])
    except client.ApiError as error:  # no verdict: the server unreachable, failing, not the API
        return finish(TOOL, [Problem(str(args.kubeconfig), str(error), rule="dry-run")])
    resources = sum(len(d.docs) for d in targets)
    pods = sum(1 for d in targets for doc in d.docs if as_pod(doc))
    return finish(TOOL, [Problem("", p, rule="dry-run") for p in problems],
                  f"kube-apiserver {version} accepts {resources} resource(s) and {pods} pod(s) of "
                  f"{len(targets)} deployment(s) ({'; '.join(d.label for d in targets)}) with no warning")


if __name__ == "__main__":
    sys.exit(main())
