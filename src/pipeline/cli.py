"""`python -m pipeline <function>`: the native twin of `dagger call <function>`, same flags."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import anyio
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from pipeline import plan
from pipeline.executors import Result, native, report
from pipeline.publish import DEFAULT_REGISTRY, DEFAULT_REPOSITORY, DEFAULT_USERNAME, PublishError
from pipeline.publish import native as publish_native
from pipeline.publish.provenance import Origin
from pipeline.smoke import __main__ as smoke_cli

REPO = Path(__file__).resolve().parents[2]


def split_selectors(values: list[str] | None) -> list[str]:
    """`--only a --only b` and `--only a,b` (Dagger's list form) mean the same."""
    return [part for value in values or [] for part in value.split(",") if part]


def add_lint_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, default=REPO,
                        help="the repository to check (default: this checkout)")
    parser.add_argument("--only", action="append", metavar="GROUP[/NAME]",
                        help="run only these checks: a group, GROUP/NAME or a glob (repeatable)")
    parser.add_argument("--list", action="store_true", dest="list_checks",
                        help="list the selected checks and exit")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="checks run at once (default: the number of cores)")




def run_lint(source: Path, only: list[str], jobs: int, console: Console) -> list[Result]:
    """Build the plan for `source`, run it natively and print the report."""
    checks = plan.select(plan.build(plan.Tree.from_path(source)), only)
    if console.is_terminal:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                      MofNCompleteColumn(), console=console, transient=True) as progress:
            task = progress.add_task("lint", total=len(checks))
            results = anyio.run(native.run, checks, source, jobs, lambda c: progress.update(
                task, description=f"lint: {c.id}"), lambda r: progress.advance(task))
    else:
        def done(result: Result) -> None:
            console.print(f"{result.status.upper():6} {result.check.id} ({result.seconds:.1f}s)",
                          markup=False, highlight=False, soft_wrap=True)
        results = anyio.run(native.run, checks, source, jobs, lambda c: None, done)
    report.render(results, console)
    return results


def lint(args: argparse.Namespace, console: Console) -> int:
    source = args.source.resolve()
    if not source.is_dir():
        console.print(f"lint: --source {source}: not a directory", markup=False)
        return 2
    only = split_selectors(args.only)
    if args.list_checks:
        checks = plan.select(plan.build(plan.Tree.from_path(source)), only)
        console.print(plan.list_lines(checks), markup=False, highlight=False, soft_wrap=True)
        return 0
    results = run_lint(source, only, args.jobs, console)
    return 0 if all(r.ok for r in results) else 1


def add_publish_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, default=REPO,
                        help="the repository to publish from (default: this checkout)")
    parser.add_argument("--tag", required=True, help="the release tag, SemVer 2 (e.g. v1.4.0)")
    parser.add_argument("--registry", default=DEFAULT_REGISTRY, help="OCI registry host")
    parser.add_argument("--repository", default=DEFAULT_REPOSITORY,
                        help="repository path in the registry, e.g. <owner>/<repo>/charts")
    parser.add_argument("--username", default=DEFAULT_USERNAME, help="registry user name")
    parser.add_argument("--registry-password", required=True, metavar="env:NAME|file:PATH",
                        help="where to read the registry password or token")
    parser.add_argument("--plain-http", action="store_true",
                        help="talk plain HTTP to the registry (a local test registry only)")
    add_signing_flags(parser)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="lint checks run at once (default: the number of cores)")


# Secrets of the signing step, read like --registry-password (never on the command line).
SIGNING_SECRETS = (("--signing-key", "the cosign private key (key-pair signing)"),
                   ("--signing-password", "the cosign key's password (default: none)"),
                   ("--oidc-request-url", "ACTIONS_ID_TOKEN_REQUEST_URL (keyless)"),
                   ("--oidc-request-token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN (keyless)"))


def add_signing_flags(parser: argparse.ArgumentParser) -> None:
    """cosign signing (key pair or keyless) and provenance, as `dagger call publish` takes."""
    for flag, what in SIGNING_SECRETS:
        parser.add_argument(flag, default="", metavar="env:NAME|file:PATH",
                            help=f"where to read {what}")
    parser.add_argument("--verify-key", default="", metavar="PATH",
                        help="cosign public key the signature is verified against")
    parser.add_argument("--certificate-identity", default="", metavar="URL",
                        help="keyless (GitHub Actions): the workflow identity to verify")
    parser.add_argument("--source-url", help="provenance: the repository's https URL "
                        "(default: the git `origin` remote)")
    parser.add_argument("--revision", help="provenance: the commit id (default: git HEAD)")
    parser.add_argument("--created", help="provenance: the commit's date, RFC 3339 "
                        "(default: HEAD's committer date)")


def publish(args: argparse.Namespace, console: Console) -> int:
    source = args.source.resolve()

    def lint_passes() -> bool:
        return all(r.ok for r in run_lint(source, [], args.jobs, console))

    try:
        reference = publish_native.publish(
            source, args.tag, args.registry, args.repository, args.username,
            args.registry_password, args.plain_http, lint_passes,
            publish_native.SigningInputs(args.signing_key, args.signing_password,
                                         args.verify_key, args.certificate_identity,
                                         args.oidc_request_url, args.oidc_request_token),
            Origin(args.source_url, args.revision, args.created))
    except PublishError as error:
        console.print(f"publish: {error}", markup=False, soft_wrap=True)
        return 1
    console.print(f"published {reference}", markup=False, soft_wrap=True)
    return 0


COMMANDS = {
    "lint": (lint, add_lint_flags, "validate the chart, ArgoCD apps, monitoring and workflows "
             "(the same plan `dagger call lint` runs)"),
    "publish": (publish, add_publish_flags, "lint, package the chart with the tag's version "
                "and push it to an OCI registry once"),
    "smoke": (smoke_cli.main, smoke_cli.add_flags, "start the compose monitoring stack (Prometheus, "
              "Alertmanager) on 127.0.0.1 and prove the alert path end to end"),
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    for name, (_, add_flags, help_text) in COMMANDS.items():
        add_flags(commands.add_parser(name, help=help_text, description=help_text))
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)  # long paths and tool output stay whole
    handler = COMMANDS[args.command][0]
    try:
        return handler(args, console)
    except plan.PlanError as error:
        console.print(f"{args.command}: {error}", markup=False)
        return 2
    except KeyboardInterrupt:
        console.print(f"{args.command}: interrupted", markup=False)
        return 130
