"""Turning results into what a person reads: failure details and a summary table."""

from __future__ import annotations

import shlex

from rich.console import Console
from rich.table import Table

from pipeline.executors import Result

MAX_OUTPUT_LINES = 200
STYLE = {"passed": "green", "failed": "red", "error": "bold red"}


def failure_text(result: Result) -> str:
    """The check, the files it reads, the command, and the tool's own message."""
    check = result.check
    lines = [f"--- {result.status.upper()}: {check.id}",
             f"reads: {', '.join(check.reads)}"]
    if check.stdin_from:
        lines.append(f"input: {shlex.join(check.stdin_from.argv)}")
    lines.append(f"command: {shlex.join(check.argv)}")
    output = result.output.rstrip().splitlines()
    if len(output) > MAX_OUTPUT_LINES:
        output = output[:MAX_OUTPUT_LINES] + [f"... ({len(output) - MAX_OUTPUT_LINES} more lines)"]
    lines += output or ["(the tool printed nothing)"]
    return "\n".join(lines)


def summary_table(results: list[Result]) -> Table:
    table = Table(title="lint", show_lines=False)
    table.add_column("check")
    table.add_column("status")
    table.add_column("time", justify="right")
    for result in sorted(results, key=lambda r: r.check.id):
        style = STYLE.get(result.status, "")
        table.add_row(result.check.id, f"[{style}]{result.status}[/]", f"{result.seconds:.1f}s")
    return table


def verdict(results: list[Result]) -> str:
    bad = [r for r in results if not r.ok]
    if not bad:
        return f"lint: all {len(results)} checks passed"
    return f"lint: {len(bad)} of {len(results)} checks failed: " + ", ".join(
        sorted(r.check.id for r in bad))


def render(results: list[Result], console: Console) -> None:
    """Print failures (tool output verbatim), then the table, then one verdict line."""
    for result in sorted(results, key=lambda r: r.check.id):
        if not result.ok:
            console.print(failure_text(result), markup=False, highlight=False, soft_wrap=True)
    console.print(summary_table(results))
    console.print(verdict(results), markup=False, highlight=False, soft_wrap=True)


def as_text(results: list[Result], width: int = 120) -> str:
    """The same report as plain text (what a Dagger function returns)."""
    console = Console(width=width, record=True, file=open("/dev/null", "w"),  # noqa: SIM115
                      force_terminal=False, color_system=None)
    render(results, console)
    return console.export_text()
