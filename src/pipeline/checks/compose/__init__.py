"""The compose group's checks, over the one compose model (pipeline.model.compose).

Each check gets the compose file's path and, on stdin, what the real Compose v2 resolved
from it: the plan's Step runs `docker-compose ... config --format json` (plan/compose.py),
so both executors feed the checks the same JSON from the pinned tool.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.checks.cli import read_input
from pipeline.checks.problem import LoadError
from pipeline.model.compose import ComposeError, Project, Written, read


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("compose_file")
    parser.add_argument("--resolved", default="-",
                        help="`docker-compose config --format json` of the file (default: stdin)")


def project(args: argparse.Namespace) -> tuple[Project, dict[str, Written], Path]:
    """The model of the checked file, the file as written (model.compose.Written: where a value
    comes from), and the directory Compose resolved its paths from."""
    resolved, as_written = read_compose(args.compose_file, args.resolved)
    return resolved, as_written, Path(args.compose_file).resolve().parent


def read_compose(path: str, resolved: str = "-") -> tuple[Project, dict[str, Written]]:
    """The compose model of `path` from Compose's JSON (`resolved`, default stdin: the plan's
    Step) and the file as written; a file Compose or the model refuses is a LoadError."""
    try:
        return read(path, read_input(resolved))
    except ComposeError as error:
        raise LoadError(str(error)) from error
