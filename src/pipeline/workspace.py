"""Which tree a command works on, and which code checks it: both said out loud.

The tree is the repository you stand in (`git rev-parse --show-toplevel` of the current
directory, else the directory itself), never the checkout a virtualenv was installed
from: with one venv shared by several clones, that silently checked the wrong clone.
The code is always the running `pipeline` package (plan, executor and Python checks
alike), whichever tree is checked.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pipeline

DEFAULT_SOURCE_HELP = "the git top level of the current directory, else the directory"


def default_source(start: Path | None = None) -> Path:
    """The git top level of `start` (default: the current directory), else `start` itself."""
    start = (start or Path.cwd()).resolve()
    try:
        found = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=start,
                               capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return start
    top = found.stdout.strip()
    return Path(top).resolve() if found.returncode == 0 and top else start


def module_code() -> Path:
    """The `pipeline` package this process runs: the code every check of a run comes from."""
    return Path(pipeline.__file__).resolve().parent


def header(command: str, source: Path) -> str:
    """The first line of every run: the tree checked and the code checking it."""
    return f"{command}: checking {source} with the pipeline code in {module_code()}"
