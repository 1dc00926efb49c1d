"""The service-accounts rule: each workload has its own ServiceAccount, and no API token is mounted."""

from __future__ import annotations

from pipeline.checks.chart.render import finding
from pipeline.checks.problem import Problem
from pipeline.model.kube import is_hook, of_kind, rid, workloads


def check_service_accounts(docs: list[dict], env: str) -> list[Problem]:
    """Each workload has its own ServiceAccount, and the API token is not mounted."""
    problems = []
    accounts = {(d.get("metadata") or {}).get("name"): d for d in of_kind(docs, "ServiceAccount")}
    users: dict[str, list[str]] = {}
    for doc, template, base in workloads(docs):
        pod = template.get("spec") or {}
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(finding("service-accounts", rid(doc), f"{base}.automountServiceAccountToken",
                                    "must be false (no workload of the platform calls the Kubernetes API)"))
        if is_hook(doc):
            continue
        name = pod.get("serviceAccountName")
        if not name or name == "default":
            problems.append(finding("service-accounts", rid(doc), f"{base}.serviceAccountName",
                                    "must name the workload's own ServiceAccount"))
            continue
        users.setdefault(name, []).append(rid(doc))
        account = accounts.get(name)
        if account is None:
            problems.append(finding("service-accounts", rid(doc), f"{base}.serviceAccountName",
                                    f"ServiceAccount {name!r} is not part of the release"))
        elif account.get("automountServiceAccountToken") is not False:
            problems.append(finding("service-accounts", rid(account), "automountServiceAccountToken",
                                    "must be false"))
    for name, owners in users.items():
        if len(owners) > 1:
            for owner in owners:
                problems.append(finding("service-accounts", owner, "spec.template.spec.serviceAccountName",
                                        f"ServiceAccount {name!r} is shared by {', '.join(owners)}"))
    return problems
