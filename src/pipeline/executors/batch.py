"""Validate in batches: checks that the plan marks with the same batch kind (Check.batch)
and that share a tool and an argv but their input run as one process over every
member's input, and the tool's output goes back to each check as the text it would have
printed for that input alone, with its own verdict.

A kind says how (one module per tool beside this one): which checks join, what they must
share, whether a member's input is its producer's render (written to a file) or its own
file (its argv's last), how the one argv is built, whether stdout and stderr are read
merged, and how the output splits back per member. Output that cannot be mapped back (a
crash, a bad flag) is every member's error, in the tool's own words.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.executors import batch_kubeconform as kubeconform
from pipeline.executors import batch_promtool as promtool
from pipeline.plan.model import Check

Split = Callable[[bytes, bytes, int, dict[Path, Check]], dict[str, tuple[str, str]]]


@dataclass(frozen=True)
class Kind:
    """How one tool runs many checks' inputs in one process."""

    joins: Callable[[Check], bool]  # the check's argv fits (else it runs alone)
    key: Callable[[Check], tuple]  # what members share
    argv: Callable[[list[str], list[str]], list[str]]  # (a member's argv, inputs) -> the batch's
    split: Split  # (stdout, stderr, exit code, input -> member) -> id -> (status, text)
    from_stdin: bool  # a member's input is its producer's render, else its own file
    merged: bool  # stdout and stderr read as one stream (as the check alone is)


# The plan's batch kinds (Check.batch) and how each runs.
KINDS: dict[str, Kind] = {
    "kubeconform": Kind(kubeconform.joins, kubeconform.key, kubeconform.batch_argv,
                        kubeconform.split, from_stdin=True, merged=False),
    **{name: Kind(sub.joins, promtool.key, promtool.batch_argv, sub.split, from_stdin=False,
                  merged=True)
       for name, sub in (("promtool-check-rules", promtool.CHECK_RULES),
                         ("promtool-check-config", promtool.CHECK_CONFIG),
                         ("promtool-test-rules", promtool.TEST_RULES))},
}


def kind_of(check: Check) -> Kind | None:
    """The check's batch kind, if it has one and its argv fits it."""
    kind = KINDS[check.batch] if check.batch else None
    return kind if kind is not None and kind.joins(check) else None


def units(checks: list[Check]) -> list[list[Check]]:
    """The checks in run units: those of a batch kind with the same key together."""
    batches: dict[tuple, list[Check]] = defaultdict(list)
    out: list[list[Check]] = []
    for check in checks:
        kind = kind_of(check)
        key = (check.batch, check.tool, kind.key(check)) if kind else ()
        if kind is None or _twin(kind, check, batches.get(key, [])):
            out.append([check])
            continue
        if key not in batches:
            out.append(batches[key])
        batches[key].append(check)
    return out


def _twin(kind: Kind, check: Check, members: list[Check]) -> bool:
    """A file is in a batch once: its section could not be told from its twin's."""
    return not kind.from_stdin and any(own_file(m) == own_file(check) for m in members)


def own_file(check: Check) -> str:
    """The input of a check of a file kind: its argv's last, a repo path."""
    return check.argv[-1]


def batch_argv(check: Check, argv: list[str], files: list[Path]) -> list[str]:
    """The batch's argv: a member's resolved argv with its input replaced by every input."""
    return KINDS[check.batch].argv(argv, files)


def split(output: bytes, errors: bytes, code: int,
          files: dict[Path, Check]) -> dict[str, tuple[str, str]]:
    """check id -> (status, text) for every member, from the batch's output."""
    return KINDS[next(iter(files.values())).batch].split(output, errors, code, files)
