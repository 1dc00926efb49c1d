"""The one command-line shape of a Python check: `python -m pipeline.checks.<group>.<rule> ARGS`.

A check module declares its arguments and a function from the parsed arguments to its
problems and a one-line summary; `run_check` does the rest the same way for all of them
(parsing, a LoadError as a problem naming the file, the one renderer, the exit code), so
no check module writes its own `main`, printing or exit codes:

    def arguments(parser): parser.add_argument("--contract", required=True) ...
    def check(args) -> tuple[list[Problem], str]: ...
    if __name__ == "__main__":
        raise SystemExit(run_check("metrics-contract", __doc__, arguments, check))
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from pipeline.checks.problem import LoadError, Problem, finish

Arguments = Callable[[argparse.ArgumentParser], None]
Check = Callable[[argparse.Namespace], "tuple[list[Problem], str]"]


def run_check(name: str, doc: str | None, arguments: Arguments, check: Check,
              argv: list[str] | None = None) -> int:
    """Parse `argv`, run `check`, print its problems and verdict; 0 clean, 1 problems, 2 usage."""
    parser = argparse.ArgumentParser(prog=name, description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    arguments(parser)
    args = parser.parse_args(argv)
    try:
        problems, summary = check(args)
    except LoadError as error:
        problems, summary = [Problem(path="", message=str(error), rule="load")], ""
    return finish(name, problems, summary)


def read_input(path: str) -> str:
    """The text of an input file, or of stdin for "-" (a render piped from `helm template`)."""
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise LoadError(f"{path}: cannot read: {error.strerror}") from error
