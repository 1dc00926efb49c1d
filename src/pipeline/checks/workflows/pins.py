"""The GitHub workflows stay thin and pinned.

    python -m pipeline.checks.workflows.pins DAGGER_JSON WORKFLOW...

Every `uses:` names a full 40-hex commit (a tag can be moved; a commit cannot); every
dagger/dagger-for-github step pins the CLI `version` to dagger.json's engineVersion (an
older CLI refuses the module, a floating `latest` has broken modules before); every dagger
step is a thin wrapper: `verb: call` or `check` with one function and its flags, no shell;
CI runs the functions a laptop runs (REQUIRED_CALLS); and no `run:` step calls helm,
kubeconform, promtool, amtool or pint itself: check logic lives in the plan, so a laptop
and CI run the same checks.
"""

from __future__ import annotations

import argparse
import re

from pipeline.checks.cli import run_check
from pipeline.checks.files import load_json, load_yaml
from pipeline.checks.problem import LoadError, Problem

RULE = "workflows"

PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
DAGGER_ACTION = "dagger/dagger-for-github@"
TOOLS_IN_RUN = re.compile(r"\b(helm|kubeconform|promtool|amtool|pint|actionlint|yamllint)\b")
VERBS = ("call", "check")
SHELL = re.compile(r"[;&|`<>]|\$\(")
# `dagger call FUNCTION` that some workflow must run: what a developer runs before a push.
REQUIRED_CALLS = ("lint", "smoke")


def steps(workflow: dict):
    for job_name, job in (workflow.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps") or []):
            yield f"jobs.{job_name}.steps[{index}]", step


def dagger_call(step: dict) -> tuple[str, str]:
    """(verb, first word of args) of a dagger/dagger-for-github step."""
    given = step.get("with") or {}
    args = str(given.get("args") or given.get("call") or "").split()
    return str(given.get("verb", "call")), args[0] if args else ""


def thin_wrapper(path: str, where: str, step: dict) -> list[Problem]:
    verb, _ = dagger_call(step)
    given = step.get("with") or {}
    found = []
    if verb not in VERBS:
        found.append(Problem(path, f"{verb} is not one of {', '.join(VERBS)}", field=f"{where}.with.verb",
                             rule=RULE))
    args = str(given.get("args") or "")
    if SHELL.search(args):
        found.append(Problem(path, f"shell syntax ({SHELL.search(args)[0]}); call one function with its "
                             "flags", field=f"{where}.with.args", rule=RULE))
    return found


def calls_of(workflow: dict) -> set[str]:
    return {dagger_call(step)[1] for _, step in steps(workflow)
            if step.get("uses", "").startswith(DAGGER_ACTION) and dagger_call(step)[0] == "call"}


def oidc_problems(path: str, workflow: dict) -> list[Problem]:
    """`id-token: write` lets any step mint an OIDC token (e.g. a signing certificate in the
    workflow's name): grant it per job, never to the whole workflow."""
    permissions = workflow.get("permissions")
    if isinstance(permissions, dict) and permissions.get("id-token") == "write":
        return [Problem(path, "write is granted to every job; grant it only on the job that signs "
                        "(jobs.<job>.permissions)", field="permissions.id-token", rule=RULE)]
    if permissions == "write-all":
        return [Problem(path, "write-all grants id-token: write to every job", field="permissions",
                        rule=RULE)]
    return []


def problems_of(path: str, workflow: dict, engine: str) -> list[Problem]:
    found = oidc_problems(path, workflow)
    for where, step in steps(workflow):
        uses = step.get("uses", "")
        if uses and not uses.startswith(("./", "docker://")) and not PINNED.match(uses):
            found.append(Problem(path, f"{uses} is not pinned to a full commit SHA", field=f"{where}.uses",
                                 rule=RULE))
        if uses.startswith(DAGGER_ACTION):
            version = str((step.get("with") or {}).get("version", "latest")).lstrip("v")
            if version != engine.lstrip("v"):
                found.append(Problem(path, f"{version} is not dagger.json's engineVersion {engine}",
                                     field=f"{where}.with.version", rule=RULE))
            found += thin_wrapper(path, where, step)
        run = step.get("run", "")
        if TOOLS_IN_RUN.search(run):
            found.append(Problem(path, f"calls a check tool ({TOOLS_IN_RUN.search(run)[1]}); put checks in "
                                 "the plan", field=f"{where}.run", rule=RULE))
    return found


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dagger_json", help="dagger.json (its engineVersion)")
    parser.add_argument("workflows", nargs="+", help="the workflow files")


def check(args: argparse.Namespace) -> tuple[list[Problem], str]:
    try:
        engine = load_json(args.dagger_json)["engineVersion"]
    except (KeyError, TypeError) as error:
        raise LoadError(f"{args.dagger_json}: no engineVersion") from error
    found, calls = [], set()
    for path in args.workflows:
        workflow = load_yaml(path) or {}
        found += problems_of(path, workflow, engine)
        calls |= calls_of(workflow)
    found += [Problem(", ".join(args.workflows), f"no job runs `dagger call {name}`: CI runs the functions "
                      f"a laptop runs ({', '.join(REQUIRED_CALLS)})", rule=RULE)
              for name in REQUIRED_CALLS if name not in calls]
    return found, f"{len(args.workflows)} workflow(s) pinned and thin"


if __name__ == "__main__":
    raise SystemExit(run_check(RULE, __doc__, arguments, check))
