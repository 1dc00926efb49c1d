"""Transitional: the render model moved to pipeline.model.kube. What is left here serves the
checks not moved into pipeline.checks yet (policies/scrape.py, policies/promrules.py,
contracts/composevars.py, kubeapi/dryrun.py); delete this file with the last of them."""

from __future__ import annotations

import sys

from pipeline.model.kube import (component, containers, effective_env, load, of_kind,  # noqa: F401
                                 pod_template, rid, template_sources, workloads)


def report(tool: str, problems: list, ok_message: str) -> int:
    """Print problems (stderr) or the ok line (stdout); the exit status."""
    for problem in problems:
        print(f"{tool}: {problem}", file=sys.stderr)
    if problems:
        print(f"{tool}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{tool}: {ok_message}")
    return 0
