"""One problem type, one outcome enum and one renderer for every check, lint and smoke.

Modelled on helm's `pkg/lint/support.Message` (severity, path, message): a problem
names the file, the resource or field inside it, and the cause.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import PurePath
from typing import IO, Callable, Iterable


class Severity(str, Enum):
    ERROR = "error"  # fails the check
    WARNING = "warning"  # shown, does not fail
    INFO = "info"


class Outcome(str, Enum):
    """What became of a check (or a smoke probe). A str, so `== "passed"` still holds."""

    PASSED = "passed"
    FAILED = "failed"  # the check ran and found problems
    ERROR = "error"  # the check could not run (tool missing, crash, timeout)
    SKIPPED = "skipped"  # not run (--fail-fast stopped first; a tool not available here)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Problem:
    """One finding: where (file, resource, field), why, and which rule said so."""

    path: str  # the file, repo-relative ("" when the input is a render on stdin)
    message: str
    resource: str = ""  # kind/name, a scrape job, an alert, a compose service ...
    field: str = ""  # the field inside the resource (spec.template.spec.containers[0].image)
    rule: str = ""  # the rule that found it
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.path, self.resource, self.field) if part)
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} [{self.rule}]" if self.rule else text

    @property
    def fails(self) -> bool:
        return self.severity is Severity.ERROR


class LoadError(ValueError):
    """A file that is missing or does not parse; its message names the file and the cause."""


def render(problems: Iterable[Problem]) -> str:
    """The one text form: `ERROR path: resource: field: message [rule]`, a line each."""
    return "\n".join(f"{p.severity.name} {p}" for p in problems)


def finish(check: str, problems: list[Problem], summary: str = "",
           out: IO[str] | None = None) -> int:
    """Print the problems and the verdict line; the exit code (0 clean, 1 a failing problem)."""
    out = out or sys.stdout
    if problems:
        print(render(problems), file=out)
    failing = [p for p in problems if p.fails]
    if failing:
        print(f"{check}: FAILED - {len(failing)} problem(s)", file=out)
        return 1
    print(f"{check}: OK{(' - ' + summary) if summary else ''}", file=out)
    return 0


def collector(problems: list[Problem], rule: str) -> Callable[..., None]:
    """`add(path, message, resource="", field="")`: append an error of `rule` to `problems`
    (a check that walks many files reports everything it finds, not just the first)."""
    def add(path: str | PurePath, message: str, resource: str = "", field: str = "") -> None:
        problems.append(Problem(str(path), message, resource=resource, field=field, rule=rule))
    return add
