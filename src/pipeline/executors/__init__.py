"""How a plan runs: natively (subprocesses) or in Dagger containers; one result type."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.plan.model import Check

PASSED, FAILED, ERROR = "passed", "failed", "error"
SKIPPED = "skipped"  # not run (--fail-fast stopped the run first)


@dataclass(frozen=True)
class Result:
    """The outcome of one check. `output` is the tool's own stdout and stderr."""

    check: Check
    status: str
    seconds: float
    output: str = ""
    cached: bool = False  # reused from the native result cache (executors/cache.py)

    @property
    def ok(self) -> bool:
        return self.status == PASSED


def plural(count: int, word: str) -> str:
    """`1 check`, `2 checks`: what every summary line counts in."""
    return f"{count} {word}{'' if count == 1 else 's'}"
