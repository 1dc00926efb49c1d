"""`python -m pipeline.smoke [--source DIR]`: the native smoke on its own.

The same as `python -m pipeline smoke` (once wired into pipeline.cli, which should call
`add_flags` and `main` below); kept so tests and scripts/bench-smoke need no CLI wiring.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from pipeline.workspace import DEFAULT_SOURCE_HELP, default_source, module_code



def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, default=None,
                        help="the repository whose compose stack to smoke-test "
                             f"(default: {DEFAULT_SOURCE_HELP})")


def main(args: argparse.Namespace, console: Console) -> int:
    from pipeline.smoke import native

    source = (args.source or default_source()).resolve()
    if not source.is_dir():
        console.print(f"smoke: --source {source}: not a directory", markup=False)
        return 2
    console.print(f"smoke: {source} (pipeline code {module_code()})", markup=False,
                  highlight=False, soft_wrap=True)
    return native.run(source, console)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m pipeline.smoke", description=__doc__)
    add_flags(parser)
    console = Console(highlight=False)
    try:
        sys.exit(main(parser.parse_args(), console))
    except KeyboardInterrupt:
        console.print("smoke: interrupted", markup=False)
        sys.exit(130)
