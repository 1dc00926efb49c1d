"""The services checks use, as data: what each needs and how a check's argv reaches it.

An executor starts a service once per run, before the first check that needs it, and
stops it after the last (also on failure and Ctrl-C); a run whose selected checks need
no service starts none. How each executor starts one: executors/native_services.py and
executors/dagger_services.py, both from the argv of pipeline/kubeapi/server.py.
"""

from __future__ import annotations

from pipeline.plan.model import KUBECONFIG, Check, Service

KUBE_APISERVER = Service(
    name="kube-apiserver", tools=("etcd", "kube-apiserver"), placeholder=KUBECONFIG,
    description="a real Kubernetes API server (etcd + kube-apiserver, the newest pinned "
                "Kubernetes version), admin access through the kubeconfig in {kubeconfig}")

SERVICES = {service.name: service for service in (KUBE_APISERVER,)}


def needed(checks: list[Check]) -> list[Service]:
    """The services the given checks use, in declaration order."""
    names = {name for check in checks for name in check.services}
    return [service for service in SERVICES.values() if service.name in names]


def unavailable(check: Check, errors: dict[str, str]) -> str | None:
    """Why `check` cannot run: the services it needs that did not start (None if all did)."""
    reasons = [f"service {name} did not start: {errors[name]}"
               for name in check.services if name in errors]
    return "\n".join(reasons) or None
