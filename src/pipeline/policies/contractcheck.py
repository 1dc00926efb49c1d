"""The command line both contract policies share: a contract file, over a chart render on
stdin (--env) or over the compose file (--compose)."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

import yaml

from pipeline.policies.manifests import Problem, load, report

Checker = Callable[[object, list, str], tuple[list[Problem], int]]


def main(argv: list[str] | None, *, rule: str, prog: str, doc: str,
         load_contract: Callable[[str], list], check_render: Checker, check_compose: Checker,
         subjects: str, holds: str, absent: str) -> int:
    """Run one contract policy; `checked` counts the subjects (e.g. "EDC workload(s)") found,
    and a render without any passes saying `absent`."""
    parser = argparse.ArgumentParser(prog=prog, description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contract", required=True)
    parser.add_argument("--env", help="the environment of the render on stdin")
    parser.add_argument("--compose", help="check this compose file instead of a render")
    args = parser.parse_args(argv)
    contract = load_contract(args.contract)
    if args.compose:
        with open(args.compose, encoding="utf-8") as handle:
            problems, checked = check_compose(yaml.safe_load(handle) or {}, contract, args.compose)
        return report(rule, problems, f"{args.compose}: {checked} {subjects} {holds} {args.contract}")
    docs = load(sys.stdin.read())
    if not docs:
        print(f"{rule}: no manifests on input", file=sys.stderr)
        return 1
    problems, checked = check_render(docs, contract, args.env or "render")
    if not checked:
        return report(rule, problems, f"{args.env}: {absent} (nothing to check)")
    return report(rule, problems, f"{args.env}: {checked} {subjects} {holds} {args.contract}")
