"""The smoke's report: one line a probe (the lint's line shape, executors.report.status_line),
the failures' server logs, one verdict; as JSON between the Dagger runner and the function."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from pipeline.checks.problem import Outcome
from pipeline.executors import plural
from pipeline.executors.report import status_line

PASSED, FAILED, SKIPPED = Outcome.PASSED, Outcome.FAILED, Outcome.SKIPPED


@dataclass
class Line:
    """One report line: a probe, its outcome, what it saw; on failure the service's last logs."""

    name: str
    status: Outcome
    detail: str = ""
    seconds: float = 0.0
    logs: str = ""

    def __post_init__(self) -> None:
        self.status = Outcome(self.status)  # from JSON: "passed" -> Outcome.PASSED

    @property
    def ok(self) -> bool:
        return self.status != FAILED


def not_run(names: tuple[str, ...] | list[str], why: str) -> list[Line]:
    return [Line(name, SKIPPED, f"not run: {why}") for name in names]


def verdict(lines: list[Line]) -> str:
    failed = [line.name for line in lines if line.status == FAILED]
    skipped = sum(line.status == SKIPPED for line in lines)
    passed = sum(line.status == PASSED for line in lines)
    if failed:
        return f"smoke: {len(failed)} of {plural(len(lines), 'check')} failed: {', '.join(failed)}"
    return (f"smoke: all {passed} checks passed" if passed != 1 else "smoke: 1 check passed") \
        + (f", {skipped} skipped" if skipped else "")


def render_text(lines: list[Line]) -> str:
    """The plain report: one line per probe, then failures' logs, then the verdict."""
    out = [status_line(line.status, line.name, line.seconds, line.detail) for line in lines]
    for line in lines:
        if line.status == FAILED and line.logs:
            out.append(f"--- last log lines for {line.name}:")
            out += line.logs.rstrip().splitlines()
    out.append(verdict(lines))
    return "\n".join(out) + "\n"


def exit_code(lines: list[Line]) -> int:
    return 0 if all(line.ok for line in lines) else 1


def to_json(lines: list[Line]) -> str:
    return json.dumps([{**asdict(line), "status": line.status.value} for line in lines])


def from_json(text: str) -> list[Line]:
    """The lines the runner printed; ValueError/TypeError/KeyError when it printed none."""
    return [Line(**entry) for entry in json.loads(text)]
