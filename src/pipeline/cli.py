"""`python -m pipeline <function>`: the native twin of `dagger call <function>`, same flags."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import generators, outputs, plan
from pipeline.executors import report
from pipeline.publish import DEFAULT_REGISTRY, DEFAULT_REPOSITORY, DEFAULT_USERNAME
from pipeline.smoke import cli as smoke_cli
from pipeline.workspace import DEFAULT_SOURCE_HELP, default_source, header

if TYPE_CHECKING:
    from rich.console import Console

    from pipeline.executors import Result

# Every run builds every command's flags and the plan; what runs a command (the executor,
# the event loop, rich's console and progress, publish, the servers' clients) is imported
# by the function that runs it, so `--help`, `--list` and a cached lint start fast.

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_CODES = ("exit status: 0 every check passed, 1 a check failed (or could not run), "
              "2 usage error (bad flag, --source or --only), 3 internal error (a bug: please "
              "report it with the traceback)")


class UsageError(Exception):
    """A bad flag value found after parsing (exit 2); the message names the flag."""


def split_selectors(values: list[str] | None) -> list[str]:
    """`--only a --only b` and `--only a,b` (Dagger's list form) mean the same."""
    return [part for value in values or [] for part in value.split(",") if part]


def add_source_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--source", type=Path, default=None, metavar="DIR",
                        help=f"the repository to {what} (default: {DEFAULT_SOURCE_HELP})")


def add_jobs_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help=f"{what} run at once (default: the number of cores, %(default)s)")


def add_lint_flags(parser: argparse.ArgumentParser) -> None:
    add_source_flag(parser, "check")
    parser.add_argument("--only", action="append", metavar="SELECTOR",
                        help="run only these checks: a group (chart), GROUP/NAME, a bare NAME "
                             "(pint) or a glob of ids (chart/*-dev-*); repeatable or "
                             "comma-separated (default: every check)")
    parser.add_argument("--list", action="store_true", dest="list_checks",
                        help="list the selected checks and exit")
    add_jobs_flag(parser, "checks")
    parser.add_argument("--fail-fast", action="store_true",
                        help="stop at the first failed check; the rest are reported as not run "
                             "(default: run every check)")
    parser.add_argument("--no-cache", action="store_true",
                        help="run every check, reusing no stored result (default: a check whose "
                             "tool pins, argv and read files are unchanged since it passed is "
                             "reused from the result cache in the tools home)")
    parser.add_argument("--format", choices=report.FORMATS, default="text",
                        help="the report on stdout: text for people, json, or junit (JUnit XML, "
                             "one test case a check) for CI; with json/junit the progress "
                             "lines go to stderr (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also print one line per check, passed ones included "
                             "(default: a passing run prints its summary only)")


def resolve_source(args: argparse.Namespace) -> Path:
    source = (args.source or default_source()).resolve()
    if not source.is_dir():
        raise UsageError(f"--source {source}: not a directory")
    return source


def reader(source: Path):
    """A repo file's text, for the report's hints (None when absent)."""
    def read(path: str) -> str | None:
        try:
            return (source / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    return read


def human_console(args: argparse.Namespace, console: Console) -> Console:
    """Where the words for people go: stdout, or stderr when stdout carries a report."""
    if getattr(args, "format", "text") == "text":
        return console
    return stderr_console()


def make_console(stderr: bool = False) -> Console:
    """Tool output and paths printed as they are: never wrapped, highlighted or given emoji
    (rich's default turns a tool's `:x:` or `:100:` into a picture)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False)


def stderr_console() -> Console:
    return make_console(stderr=True)


def selected(source: Path, only: list[str], console: Console) -> list[plan.Check]:
    """The plan for `source`, narrowed by `--only`, saying what each selector matched."""
    checks = plan.require_some(plan.build(plan.Tree.from_path(source)), str(source))
    chosen = plan.select(checks, only)
    for selector in only:
        console.print(f"--only {selector}: {plan.describe_match(checks, selector)}",
                      markup=False, highlight=False, soft_wrap=True)
    return chosen


def run_lint(source: Path, checks: list[plan.Check], args: argparse.Namespace,
             console: Console) -> list[Result]:
    """Run the checks natively; progress on a terminal, per-check lines with --verbose."""
    import anyio

    return anyio.run(lint_results, source, checks, args, console)


async def lint_results(source: Path, checks: list[plan.Check], args: argparse.Namespace,
                       console: Console) -> list[Result]:
    """`run_lint` in a running event loop (publish lints between two registry steps)."""
    from pipeline.executors import native
    from pipeline.executors.cache import ResultCache

    jobs, fail_fast = args.jobs, getattr(args, "fail_fast", False)
    verbose = getattr(args, "verbose", False)
    cache = None if getattr(args, "no_cache", False) else ResultCache(source)
    if console.is_terminal:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                                   TextColumn)

        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                      MofNCompleteColumn(), console=console, transient=True) as progress:
            task = progress.add_task("lint", total=len(checks))
            return await native.run_locally(checks, source, jobs, lambda c: progress.update(
                task, description=f"lint: {c.id}"), lambda r: progress.advance(task), fail_fast,
                cache)

    def done(result: Result) -> None:
        if verbose:
            console.print(report.check_line(result), markup=False, highlight=False,
                          soft_wrap=True)
    return await native.run_locally(checks, source, jobs, lambda c: None, done, fail_fast, cache)


def lint(args: argparse.Namespace, console: Console) -> int:
    source = resolve_source(args)
    people = human_console(args, console)
    if args.list_checks:
        people = stderr_console()  # stdout: the list only
    people.print(header("lint", source), markup=False, highlight=False, soft_wrap=True)
    checks = selected(source, split_selectors(args.only), people)
    if args.list_checks:
        console.print(plan.list_lines(checks), markup=False, highlight=False, soft_wrap=True)
        return EXIT_PASSED
    started = time.monotonic()
    results = run_lint(source, checks, args, people)
    seconds = time.monotonic() - started
    if args.format == "text":
        report.render(results, console, verbose=args.verbose and console.is_terminal,
                      seconds=seconds, read=reader(source))
    else:
        console.file.write(report.as_format(args.format, results, str(source), seconds))
        people.print(report.verdict(results, seconds), markup=False, highlight=False,
                     soft_wrap=True)
    return EXIT_PASSED if all(r.ok for r in results) else EXIT_FAILED


def add_publish_flags(parser: argparse.ArgumentParser) -> None:
    add_source_flag(parser, "publish from")
    parser.add_argument("--tag", required=True, help="the release tag, SemVer 2 (e.g. v1.4.0)")
    parser.add_argument("--registry", default=DEFAULT_REGISTRY,
                        help="OCI registry host (default: %(default)s)")
    parser.add_argument("--repository", default=DEFAULT_REPOSITORY,
                        help="repository path in the registry, e.g. <owner>/<repo>/charts "
                             "(default: %(default)s)")
    parser.add_argument("--username", default=DEFAULT_USERNAME,
                        help="registry user name (default: %(default)s)")
    parser.add_argument("--registry-password", required=True, metavar="env:NAME|file:PATH",
                        help="where to read the registry password or token")
    parser.add_argument("--plain-http", action="store_true",
                        help="talk plain HTTP to the registry (a local test registry only)")
    add_signing_flags(parser)
    add_jobs_flag(parser, "lint checks")


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
    from pipeline.publish import PublishError
    from pipeline.publish import native as publish_native
    from pipeline.publish.provenance import Origin

    source = resolve_source(args)
    console.print(header("publish", source), markup=False, highlight=False, soft_wrap=True)

    async def lint_failures() -> str | None:
        """None when every check passed; "" otherwise (the report is printed already)."""
        started = time.monotonic()
        results = await lint_results(source, plan.build(plan.Tree.from_path(source)), args,
                                     console)
        report.render(results, console, seconds=time.monotonic() - started, read=reader(source))
        return None if all(r.ok for r in results) else ""

    try:
        reference = publish_native.publish_natively(
            source, args.tag, args.registry, args.repository, args.username,
            args.registry_password, args.plain_http, lint_failures,
            publish_native.SigningInputs(args.signing_key, args.signing_password,
                                         args.verify_key, args.certificate_identity,
                                         args.oidc_request_url, args.oidc_request_token),
            Origin(args.source_url, args.revision, args.created))
    except PublishError as error:
        console.print(f"publish: {error}", markup=False, soft_wrap=True)
        return EXIT_FAILED
    console.print(f"published {reference}", markup=False, soft_wrap=True)
    return EXIT_PASSED


def add_generate_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="generators to run (default: all): "
                             + ", ".join(g.name for g in generators.GENERATORS))
    add_source_flag(parser, "write into")


def generate(args: argparse.Namespace, console: Console) -> int:
    def say(line: str) -> None:
        console.print(line, markup=False, highlight=False, soft_wrap=True)

    source = resolve_source(args)
    try:
        return generators.run_native(source, args.names, say)
    except generators.GenerateError as error:
        say(str(error))
        return EXIT_USAGE


COMMANDS = {
    "lint": (lint, add_lint_flags, "validate the chart, ArgoCD apps, monitoring and workflows "
             "(the same plan `dagger call lint` runs)"),
    "publish": (publish, add_publish_flags, "check the tag, the registry and the credentials, "
                "lint, then package the chart with the tag's version, push it once, sign it with "
                "cosign and verify the signature"),
    "generate": (generate, add_generate_flags, "write the generated files (the chart's copies "
                 "of the monitoring files, the CRD schemas): `dagger generate`'s twin"),
    "render": (outputs.render, outputs.add_render_flags, "render the chart for one environment "
               "into a directory of manifests, as the checks and ArgoCD see it"),
    "package": (outputs.package, outputs.add_package_flags, "package the chart with the tag's "
                "version, by publish's packaging step (without its provenance stamp)"),
    "smoke": (smoke_cli.smoke_command, smoke_cli.add_flags, "start the compose monitoring stack (Prometheus, "
              "Alertmanager) on 127.0.0.1 and prove the alert path end to end"),
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__,
                                   epilog=EXIT_CODES)
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, add_flags, help_text) in COMMANDS.items():
        add_flags(commands.add_parser(name, help=help_text, description=help_text,
                                      epilog=EXIT_CODES))
    return root


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse; an unknown flag is refused with its subcommand's usage, not the root's."""
    root = parser()
    args, extra = root.parse_known_args(argv)
    if extra:
        subcommands = root._subparsers._group_actions[0].choices  # noqa: SLF001
        subcommands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)  # argparse exits 2 on a usage error
    console = make_console()
    handler = COMMANDS[args.command][0]
    try:
        return handler(args, console)
    except (plan.PlanError, UsageError) as error:
        console.print(f"{args.command}: {error}", markup=False, soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        console.print(f"{args.command}: interrupted", markup=False)
        return 130
    except BrokenPipeError:  # `... | head`: the reader left, nothing more to say
        sys.stderr.close()
        return EXIT_FAILED
    except Exception as crash:  # noqa: BLE001 - a bug of ours, never a check's failure
        traceback.print_exc()
        print(f"{args.command}: internal error: {type(crash).__name__}: {crash} "
              f"(a bug in the pipeline, not in the checked tree: please report it with the "
              f"traceback above)", file=sys.stderr)
        return EXIT_INTERNAL
