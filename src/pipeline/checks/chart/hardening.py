"""Supply-chain and runtime hardening of a render, with the exceptions the values document.

    helm template ... -f values.yaml -f values-prod.yaml \
      | python -m pipeline.checks.chart.hardening --env prod \
          --values values.yaml --values values-prod.yaml

The values files are the ones the render was made with: they hold the deliberate
exceptions, each with its reason (`<image>.digestExemption`, `hardening.secretEnv`,
`hardening.fixedUids`), so an exception is reviewed where it is made. Rules:

  image-digests      production (global.environment) runs every image by digest, or its
                     values say why not
  pull-policy        imagePullPolicy is set, and IfNotPresent for an image by digest
  secret-env         a Secret reaches an environment variable only where listed with a reason
                     (the rest are files: POSTGRES_PASSWORD_FILE, MINIO_ROOT_PASSWORD_FILE, ...)
  uids               containers run as UID >= 10000, or exactly the UID their image fixes
  probe-split        liveness and readiness run different checks
  ephemeral-storage  every container requests and limits ephemeral storage
"""

from __future__ import annotations

import argparse
import re
from typing import Callable

from pipeline.checks.chart.render import finding, read_render, render_arguments
from pipeline.checks.cli import run_check
from pipeline.checks.chart.tier import tier_of
from pipeline.checks.files import load_values
from pipeline.checks.problem import Problem
from pipeline.model.kube import component, containers, rid, workloads

PRODUCTION = "production"  # the tier (checks/chart/tier.py)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
MIN_UID = 10000
PROBE_HANDLERS = ("httpGet", "tcpSocket", "exec", "grpc")


def image_values(values: dict, path: str = "") -> dict[str, tuple[str, dict]]:
    """{repository: (values path, image values)} of every image in the values."""
    found = {}
    for key, value in values.items():
        if not isinstance(value, dict):
            continue
        where = f"{path}.{key}" if path else key
        if isinstance(value.get("repository"), str):
            found[value["repository"]] = (where, value)
        else:
            found.update(image_values(value, where))
    return found


def split_image(image: str) -> tuple[str, str, str]:
    """`reg/repo:tag@sha256:…` -> (reg/repo, tag, digest)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    else:
        tag = ""
    return name, tag, digest


def values_of_image(name: str, images: dict[str, tuple[str, dict]]) -> tuple[str, dict] | None:
    for repository, entry in images.items():
        if name == repository or name.endswith("/" + repository):
            return entry
    return None


def all_containers(docs: list[dict]):
    """(resource, container, field path) of every container of every workload."""
    for doc, template, base in workloads(docs):
        for container, path in containers(template.get("spec") or {}, base):
            yield doc, template, container, path


def check_image_digests(docs: list[dict], env: str, values: dict) -> list[Problem]:
    problems = []
    images = image_values(values)
    production = tier_of(values, ["the values"]) == PRODUCTION
    for doc, _, container, path in all_containers(docs):
        image = str(container.get("image", ""))
        name, _, digest = split_image(image)
        if digest and not DIGEST.match(digest):
            problems.append(finding("image-digests", rid(doc), f"{path}.image",
                                    f"{image!r}: the digest is not sha256:<64 hex digits>"))
        if digest or not production:
            continue
        entry = values_of_image(name, images)
        where = entry[0] if entry else "<its image values>"
        if entry and str(entry[1].get("digestExemption") or "").strip():
            continue
        problems.append(finding(
            "image-digests", rid(doc), f"{path}.image",
            f"{image!r} runs by tag in production: set {where}.digest (sha256:…), or "
            f"{where}.digestExemption to the reason it cannot be pinned"))
    return problems


def check_pull_policy(docs: list[dict], env: str, values: dict) -> list[Problem]:
    problems = []
    for doc, _, container, path in all_containers(docs):
        policy = container.get("imagePullPolicy")
        digest = split_image(str(container.get("image", "")))[2]
        if not policy:
            problems.append(finding("pull-policy", rid(doc), f"{path}.imagePullPolicy",
                                    "missing: set it deliberately (the default depends on the tag)"))
        elif digest and policy != "IfNotPresent":
            problems.append(finding("pull-policy", rid(doc), f"{path}.imagePullPolicy",
                                    f"{policy!r} for an image pinned by digest: use IfNotPresent "
                                    "(the digest cannot change)"))
    return problems


def secret_env(container: dict) -> list[tuple[str, str]]:
    """(variable or envFrom entry, field) of every value a Secret puts in the environment."""
    found = []
    for var in container.get("env") or []:
        if "secretKeyRef" in (var.get("valueFrom") or {}):
            found.append((var.get("name", "?"), f"env[{var.get('name')}]"))
    for i, source in enumerate(container.get("envFrom") or []):
        if "secretRef" in source:
            found.append((f"envFrom:{source['secretRef'].get('name')}", f"envFrom[{i}]"))
    return found


def check_secret_env(docs: list[dict], env: str, values: dict) -> list[Problem]:
    problems = []
    listed = (values.get("hardening") or {}).get("secretEnv") or {}
    for doc, _, container, path in all_containers(docs):
        allowed = listed.get(component(doc)) or {}
        for name, field in secret_env(container):
            if str(allowed.get(name) or "").strip():
                continue
            problems.append(finding(
                "secret-env", rid(doc), f"{path}.{field}",
                f"a Secret in an environment variable: mount it as a file (e.g. {name}_FILE "
                f"where the image reads one), or list it under "
                f"hardening.secretEnv.{component(doc) or '<component>'}.{name} with the reason"))
    return problems


def check_uids(docs: list[dict], env: str, values: dict) -> list[Problem]:
    problems = []
    fixed = (values.get("hardening") or {}).get("fixedUids") or {}
    for doc, template, container, path in all_containers(docs):
        pod = (template.get("spec") or {}).get("securityContext") or {}
        uid = (container.get("securityContext") or {}).get("runAsUser", pod.get("runAsUser"))
        if isinstance(uid, int) and uid >= MIN_UID:
            continue
        exception = fixed.get(component(doc)) or {}
        if uid is not None and exception.get("uid") == uid and str(exception.get("reason") or "").strip():
            continue
        problems.append(finding(
            "uids", rid(doc), f"{path}.securityContext.runAsUser",
            f"{uid if uid is not None else 'unset (the image decides)'}: run as a UID >= "
            f"{MIN_UID} (below it, UIDs collide with host users), or, where the image fixes its "
            f"UID, record exactly that UID under hardening.fixedUids."
            f"{component(doc) or '<component>'} with the reason"))
    return problems


def handler(probe: dict) -> dict:
    """What a probe runs (its handler), without timings."""
    return {key: probe[key] for key in PROBE_HANDLERS if key in probe}


def check_probe_split(docs: list[dict], env: str, values: dict) -> list[Problem]:
    problems = []
    for doc, _, container, path in all_containers(docs):
        live, ready = container.get("livenessProbe"), container.get("readinessProbe")
        if live and ready and handler(live) == handler(ready):
            problems.append(finding(
                "probe-split", rid(doc), f"{path}.livenessProbe",
                f"runs the same check as the readinessProbe ({handler(live)}): liveness checks "
                "the process, readiness its dependencies (else a slow dependency restarts pods)"))
    return problems


def check_ephemeral_storage(docs: list[dict], env: str, values: dict) -> list[Problem]:
    problems = []
    for doc, _, container, path in all_containers(docs):
        resources = container.get("resources") or {}
        for kind in ("requests", "limits"):
            if "ephemeral-storage" not in (resources.get(kind) or {}):
                problems.append(finding(
                    "ephemeral-storage", rid(doc), f"{path}.resources.{kind}.ephemeral-storage",
                    "missing: size it for what the container writes (emptyDir, /tmp, logs), or "
                    "the kubelet evicts pods on a full node at random"))
    return problems


Rule = Callable[[list[dict], str, dict], list[Problem]]
RULES: dict[str, Rule] = {
    "image-digests": check_image_digests,
    "pull-policy": check_pull_policy,
    "secret-env": check_secret_env,
    "uids": check_uids,
    "probe-split": check_probe_split,
    "ephemeral-storage": check_ephemeral_storage,
}


def violations(docs: list[dict], env: str, values: dict, rules: list[str] | None = None) -> list[Problem]:
    problems = []
    for name in rules or list(RULES):
        problems += RULES[name](docs, env, values)
    return problems


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True)
    parser.add_argument("--values", action="append", default=[], required=True,
                        help="the values files the render was made with, in order")
    render_arguments(parser, rules=RULES)


def check(args: argparse.Namespace) -> tuple[list[Problem], str]:
    render = read_render(args.file)
    values = load_values(args.values)
    tier_of(values, args.values)  # no tier: a problem naming the files, never "not production"
    rules = args.rule or list(RULES)
    return (render.located(violations(render.docs, args.env, values, rules), args.chart),
            f"{args.env}: {len(render.docs)} resources pass {len(rules)} rules ({', '.join(rules)})")


if __name__ == "__main__":
    raise SystemExit(run_check("hardening", __doc__, arguments, check))
