"""`python -m pipeline.smoke [--source DIR]`: the native smoke on its own (smoke/cli.py)."""

from __future__ import annotations

import argparse
import sys

from pipeline.cli import make_console
from pipeline.smoke.cli import add_flags, smoke_command

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m pipeline.smoke", description=__doc__)
    add_flags(parser)
    console = make_console()
    try:
        sys.exit(smoke_command(parser.parse_args(), console))
    except KeyboardInterrupt:
        console.print("smoke: interrupted", markup=False)
        sys.exit(130)
