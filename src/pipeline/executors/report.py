"""Turning results into reports: text for people, JSON and JUnit XML for machines.

One renderer for both executors. A green run is one summary line (per-check lines
with --verbose); a red run shows only the failures, grouped by check group, each
distinct cause once, with the checks that failed the same way collapsed into one
"same error in N more checks" line.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

from pipeline.executors import ERROR, FAILED, PASSED, SKIPPED, Result, plural
from pipeline.executors.hints import hints

FORMATS = ("text", "json", "junit")
MAX_OUTPUT_LINES = 200
MAX_LISTED = 6
KUBE_VERSION = re.compile(r"\b1\.\d+\.\d+\b")
OVERLAY = re.compile(r"values-[\w.-]+?\.yaml")
# Lines that frame a tool's message but never carry its cause.
NOISE = re.compile(r"^(==> Linting |\[INFO\] |Summary: |Error: \d+ chart\(s\) linted"
                   r"|\d+ chart\(s\) linted)")
# Characters XML 1.0 cannot carry (ANSI escapes in a tool's output, say).
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
PREFIX = re.compile(r"^(Error: |\[ERROR\] [^:]*: )")

Reader = Callable[[str], "str | None"]


def status_line(status: str, name: str, seconds: float, detail: str = "") -> str:
    """`PASSED  name (1.2s)[: detail]`: the one line shape of a lint check and a smoke probe."""
    line = f"{status.upper():7} {name} ({seconds:.1f}s)"
    return f"{line}: {detail}" if detail else line


def check_line(result: Result) -> str:
    """One line a check: what --verbose prints as checks finish."""
    return status_line(result.status, result.check.id, result.seconds)


def significant(output: str) -> list[str]:
    """The lines that carry a tool's message, framing and prefixes taken off."""
    lines = [PREFIX.sub("", raw.strip()) for raw in output.splitlines()
             if raw.strip() and not NOISE.match(raw.strip())]
    return [line for line in lines if line and not line.endswith(":")]


def cause(result: Result) -> str:
    """What a failure says once its framing, environment and Kubernetes version are taken
    out: two checks with the same cause failed for the same reason (a values typo fails
    helm lint and every render of that environment alike)."""
    lines = [OVERLAY.sub("values-<env>.yaml", KUBE_VERSION.sub("<kube>", line))
             for line in significant(result.output)]
    return "\n".join(sorted(set(lines))) or f"{result.status}: (no output)"


def failure_text(result: Result, read: Reader | None = None) -> str:
    """The check, the files it reads, the command, the tool's own message, and hints."""
    check = result.check
    lines = [f"{result.status.upper()} {check.id}", f"  reads: {', '.join(check.reads)}"]
    if check.stdin_from:
        lines.append(f"  input: {shlex.join(check.stdin_from.argv)}")
    lines.append(f"  command: {shlex.join(check.argv)}")
    output = result.output.rstrip().splitlines()
    if len(output) > MAX_OUTPUT_LINES:
        output = output[:MAX_OUTPUT_LINES] + [f"... ({len(output) - MAX_OUTPUT_LINES} more lines)"]
    lines += [f"  {line}" for line in output] or ["  (the tool printed nothing)"]
    lines += [f"  hint: {hint}" for hint in hints(result, read)]
    return "\n".join(lines)


def grouped_failures(results: list[Result]) -> dict[str, list[list[Result]]]:
    """group -> causes, each the failed results sharing it (first = the one shown)."""
    out: dict[str, dict[str, list[Result]]] = {}
    for result in sorted(results, key=lambda r: r.check.id):
        if result.status in (FAILED, ERROR):
            out.setdefault(result.check.group, {}).setdefault(cause(result), []).append(result)
    return {group: list(causes.values()) for group, causes in out.items()}


def failures_text(results: list[Result], read: Reader | None = None) -> str:
    blocks = []
    for group, causes in grouped_failures(results).items():
        failed = sum(len(same) for same in causes)
        blocks.append(f"=== {group}: {plural(failed, 'check')} failed"
                      + (f", {plural(len(causes), 'distinct error')}" if len(causes) > 1 else ""))
        for first, *same in causes:
            block = failure_text(first, read)
            if same:
                ids = [r.check.id for r in same]
                listed = ", ".join(ids[:MAX_LISTED]) + (", ..." if len(ids) > MAX_LISTED else "")
                block += f"\n  same error in {plural(len(same), 'more check')}: {listed}"
            blocks.append(block)
    return "\n".join(blocks)


def verdict(results: list[Result], seconds: float | None = None) -> str:
    reused = sum(r.cached for r in results)
    took = (f" in {seconds:.1f}s" if seconds is not None else "") + (
        f" ({reused} reused from the result cache)" if reused else "")
    bad = [r for r in results if r.status in (FAILED, ERROR)]
    skipped = sum(r.status == SKIPPED for r in results)
    passed = sum(r.status == PASSED for r in results)
    if not bad and not skipped:
        return (f"lint: all {plural(passed, 'check')} passed{took}" if passed != 1
                else f"lint: 1 check passed{took}")
    causes = sum(len(c) for c in grouped_failures(results).values())
    parts = [f"{len(bad)} of {plural(len(results), 'check')} failed"]
    if bad:
        parts[0] += f" ({plural(causes, 'distinct error')})"
    parts.append(f"{passed} passed")
    if skipped:
        parts.append(f"{skipped} not run (--fail-fast)")
    return f"lint: {', '.join(parts)}{took}"


def report_lines(results: list[Result], verbose: bool = False, seconds: float | None = None,
                 read: Reader | None = None) -> list[str]:
    """Per-check lines (verbose only), the failures grouped, then one verdict line."""
    lines = [check_line(r) for r in sorted(results, key=lambda r: r.check.id)] if verbose else []
    if any(r.status in (FAILED, ERROR) for r in results):
        lines.append(failures_text(results, read))
    return lines + [verdict(results, seconds)]


def render(results: list[Result], console: Console, verbose: bool = False,
           seconds: float | None = None, read: Reader | None = None) -> None:
    for line in report_lines(results, verbose, seconds, read):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def as_text(results: list[Result], verbose: bool = False, seconds: float | None = None,
            read: Reader | None = None) -> str:
    """The same report as plain text (what a Dagger function returns)."""
    return "\n".join(report_lines(results, verbose, seconds, read)) + "\n"


def as_json(results: list[Result], source: str, seconds: float | None = None) -> str:
    """One object: the tree, the verdict, and every check with its status and output."""
    return json.dumps({
        "source": str(source),
        "passed": all(r.ok for r in results),
        "summary": verdict(results, seconds),
        "counts": {status: sum(r.status == status for r in results)
                   for status in (PASSED, FAILED, ERROR, SKIPPED)},
        "checks": [{"id": r.check.id, "group": r.check.group, "name": r.check.name,
                    "status": r.status, "seconds": round(r.seconds, 3),
                    "command": list(r.check.argv),
                    "input": list(r.check.stdin_from.argv) if r.check.stdin_from else None,
                    "reads": list(r.check.reads), "output": r.output}
                   for r in sorted(results, key=lambda r: r.check.id)],
    }, indent=2)


def as_junit(results: list[Result], seconds: float | None = None) -> str:
    """JUnit XML: one test suite a check group, one test case a check (the output attached)."""
    from xml.etree import ElementTree

    suites = ElementTree.Element("testsuites", name="lint", tests=str(len(results)))
    by_group: dict[str, list[Result]] = {}
    for result in sorted(results, key=lambda r: r.check.id):
        by_group.setdefault(result.check.group, []).append(result)
    for group, members in by_group.items():
        suite = ElementTree.SubElement(
            suites, "testsuite", name=group, tests=str(len(members)),
            failures=str(sum(r.status == FAILED for r in members)),
            errors=str(sum(r.status == ERROR for r in members)),
            skipped=str(sum(r.status == SKIPPED for r in members)),
            time=f"{sum(r.seconds for r in members):.3f}")
        for result in members:
            case = ElementTree.SubElement(suite, "testcase", classname=group,
                                          name=result.check.name, time=f"{result.seconds:.3f}")
            if result.status == PASSED:
                continue
            tag = {FAILED: "failure", ERROR: "error", SKIPPED: "skipped"}[result.status]
            first = next(iter(significant(result.output)), result.status)
            element = ElementTree.SubElement(case, tag, message=XML_INVALID.sub("", first[:200]))
            element.text = XML_INVALID.sub("", result.output) if result.status != SKIPPED else None
    if seconds is not None:
        suites.set("time", f"{seconds:.3f}")
    ElementTree.indent(suites)
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True)


def as_format(form: str, results: list[Result], source: str, seconds: float | None = None,
              verbose: bool = False, read: Reader | None = None) -> str:
    """The report in one of FORMATS, as both executors return it."""
    if form == "json":
        return as_json(results, source, seconds) + "\n"
    if form == "junit":
        return as_junit(results, seconds) + "\n"
    return as_text(results, verbose, seconds, read)
