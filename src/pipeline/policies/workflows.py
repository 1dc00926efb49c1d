"""The GitHub workflows stay thin and pinned.

    python -m pipeline.policies.workflows DAGGER_JSON WORKFLOW...

Every `uses:` names a full 40-hex commit (a tag can be moved; a commit cannot); every
dagger/dagger-for-github step pins the CLI `version` to dagger.json's engineVersion (an
older CLI refuses the module, a floating `latest` has broken modules before); and no `run:`
step calls helm, kubeconform, promtool, amtool or pint itself: check logic lives in the
plan, so a laptop and CI run the same checks.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

from pipeline.policies.manifests import report

PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
DAGGER_ACTION = "dagger/dagger-for-github@"
TOOLS_IN_RUN = re.compile(r"\b(helm|kubeconform|promtool|amtool|pint|actionlint|yamllint)\b")


def steps(workflow: dict):
    for job_name, job in (workflow.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps") or []):
            yield f"jobs.{job_name}.steps[{index}]", step


def oidc_problems(path: str, workflow: dict) -> list[str]:
    """`id-token: write` lets any step mint an OIDC token (e.g. a signing certificate in the
    workflow's name): grant it per job, never to the whole workflow."""
    permissions = workflow.get("permissions")
    if isinstance(permissions, dict) and permissions.get("id-token") == "write":
        return [f"{path}: permissions.id-token: write is granted to every job; grant it only "
                f"on the job that signs (jobs.<job>.permissions)"]
    if permissions == "write-all":
        return [f"{path}: permissions: write-all grants id-token: write to every job"]
    return []


def problems_of(path: str, workflow: dict, engine: str) -> list[str]:
    found = oidc_problems(path, workflow)
    for where, step in steps(workflow):
        uses = step.get("uses", "")
        if uses and not uses.startswith(("./", "docker://")) and not PINNED.match(uses):
            found.append(f"{path}: {where}.uses: {uses} is not pinned to a full commit SHA")
        if uses.startswith(DAGGER_ACTION):
            version = str((step.get("with") or {}).get("version", "latest")).lstrip("v")
            if version != engine.lstrip("v"):
                found.append(f"{path}: {where}.with.version: {version} is not dagger.json's "
                              f"engineVersion {engine}")
        run = step.get("run", "")
        if TOOLS_IN_RUN.search(run):
            found.append(f"{path}: {where}.run: calls a check tool "
                         f"({TOOLS_IN_RUN.search(run)[1]}); put checks in the plan")
    return found


def main(argv: list[str]) -> int:
    try:
        engine = json.loads(Path(argv[0]).read_text())["engineVersion"]
        found = []
        for path in argv[1:]:
            found += problems_of(path, yaml.safe_load(Path(path).read_text()) or {}, engine)
    except (OSError, ValueError, KeyError, yaml.YAMLError) as error:
        return report("workflows", [f"cannot read {' '.join(argv)}: {error!r}"], "")
    return report("workflows", found, f"{len(argv) - 1} workflow(s) pinned and thin")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
