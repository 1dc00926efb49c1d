"""How a plan runs: natively (subprocesses) or in Dagger containers; one result type."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.checks.problem import Outcome
from pipeline.plan.model import Check

# The one outcome enum (checks/problem.py), shared with smoke; str-valued, so JSON and the
# result cache keep "passed", "failed" ... SKIPPED: not run (--fail-fast stopped the run first).
PASSED, FAILED, ERROR, SKIPPED = Outcome.PASSED, Outcome.FAILED, Outcome.ERROR, Outcome.SKIPPED


@dataclass(frozen=True)
class Result:
    """The outcome of one check. `output` is the tool's own stdout and stderr."""

    check: Check
    status: Outcome | str  # an Outcome; a plain str when read back from the result cache
    seconds: float
    output: str = ""
    cached: bool = False  # reused from the native result cache (executors/cache.py)

    @property
    def ok(self) -> bool:
        return self.status == PASSED


def plural(count: int, word: str) -> str:
    """`1 check`, `2 checks`: what every summary line counts in."""
    return f"{count} {word}{'' if count == 1 else 's'}"
