"""What the two contract checks (edc-settings, app-contract) share: one command line (a
contract file, over a chart render on stdin with --env or over the compose file with
--compose, read as the compose checks read it), and where a problem is."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from functools import partial
from typing import Callable, Iterator, NamedTuple

from pipeline.checks.chart.render import read_render, render_arguments
from pipeline.checks.cli import run_check
from pipeline.checks.compose import read_compose
from pipeline.checks.problem import Problem
from pipeline.model.compose import Project, Service, Written
from pipeline.model.kube import component, workloads

# (subject, its contract entries, where) -> (problems, how many subjects were checked)
Checker = Callable[[object, list, str], "tuple[list[Problem], int]"]


class Where(NamedTuple):
    """Where a subject lives: a file (the compose file), or a resource of a render."""

    path: str = ""
    resource: str = ""

    def problem(self, rule: str, field: str, message: str) -> Problem:
        return Problem(path=self.path, resource=self.resource, field=field, message=message, rule=rule)


@dataclass(frozen=True)
class ContractCheck:
    rule: str
    load_contract: Callable[[str], list]
    check_render: Checker
    check_compose: Checker
    subjects: str  # "EDC workload(s)"
    holds: str  # "carry every setting of"
    absent: str  # what a render without any subject means


def compose_services(doc: tuple[Project, dict[str, Written]], entries: list, path: str, rule: str
                     ) -> tuple[list[tuple[object, Service, Written]], list[Problem]]:
    """(entry, its compose service, as written) of every contract entry, by its `compose`
    name; a missing service is a problem."""
    project, written = doc
    found, problems = [], []
    for entry in entries:
        service = project.services.get(entry.compose)
        if service is None:
            problems.append(Where(path).problem(rule, f"services.{entry.compose}", "missing"))
        else:
            found.append((entry, service, written[entry.compose]))
    return found, problems


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--contract", required=True)
    parser.add_argument("--env", help="the environment of the render on stdin")
    parser.add_argument("--compose", help="check this compose file instead of a render")
    render_arguments(parser, chart=False)


def check(policy: ContractCheck, args: argparse.Namespace) -> tuple[list[Problem], str]:
    """One contract over the compose file or a render; a render without subjects passes, saying so."""
    contract = policy.load_contract(args.contract)
    if args.compose:
        problems, checked = policy.check_compose(read_compose(args.compose), contract, args.compose)
        return problems, f"{args.compose}: {checked} {policy.subjects} {policy.holds} {args.contract}"
    render = read_render(args.file)
    problems, checked = policy.check_render(render.docs, contract, args.env or "render")
    if not checked:
        return problems, f"{args.env}: {policy.absent} (nothing to check)"
    return problems, f"{args.env}: {checked} {policy.subjects} {policy.holds} {args.contract}"


def run_contract(policy: ContractCheck, doc: str | None, argv: list[str] | None = None) -> int:
    """The command line of a contract check: run_check with the shared arguments."""
    return run_check(policy.rule, doc, arguments, partial(check, policy), argv)


def render_workloads(docs: list[dict], wanted: str) -> Iterator[tuple[dict, dict, str]]:
    """The workloads of one app.kubernetes.io/component (the contract's subject in a render)."""
    return ((doc, template, base) for doc, template, base in workloads(docs) if component(doc) == wanted)
