"""`python -m pipeline smoke [--source DIR]` (and `python -m pipeline.smoke`): the native smoke.

pipeline.cli wires `add_flags` and `smoke_command` into its subcommands; smoke/__main__.py
runs the same two on their own, so tests and scripts/bench-smoke need no CLI wiring.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.workspace import DEFAULT_SOURCE_HELP, default_source, module_code

if TYPE_CHECKING:
    from rich.console import Console


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, default=None,
                        help="the repository whose compose stack to smoke-test "
                             f"(default: {DEFAULT_SOURCE_HELP})")


def smoke_command(args: argparse.Namespace, console: Console) -> int:
    """The native smoke of `--source`: 0 green, 1 a failed probe, 2 no stack to probe."""
    from pipeline.smoke import native  # starts servers: imported only when it runs

    source = (args.source or default_source()).resolve()
    if not source.is_dir():
        console.print(f"smoke: --source {source}: not a directory", markup=False)
        return 2
    console.print(f"smoke: {source} (pipeline code {module_code()})", markup=False,
                  highlight=False, soft_wrap=True)
    return native.run_smoke_natively(source, console)
