"""promtool in batches: one `check rules`, one `test rules`, one `check config` over every
file, each check getting the text promtool prints for its file alone and its own verdict.

One process a subcommand saves promtool's start-up (about 0.03 s CPU, 2 cores) for all
files but one: 13 processes become 4 (dashboards-promql reads stdin and stays alone);
evaluating the unit tests (`test rules`, about 1.8 s) is the same work either way.

What promtool 2.51.0 prints (prometheus v2.51.0, cmd/promtool):

- `check rules FILE...` (main.go CheckRules/checkRules): per file, in argv order, on
  stdout `Checking FILE`, then either `  SUCCESS: N rules found` (stdout) or `  FAILED:`
  and one line per error (stderr), then an empty line (skipped after a parse error). It
  goes on after a failing file; it exits 1 if any file had an error, 3 if only lint
  problems and --lint-fatal, else 0 (successExitCode/failureExitCode/lintErrExitCode).
- `check config FILE...` (main.go CheckConfig/checkConfig): per file `Checking FILE`, then
  `  FAILED: <error>` (stderr) or `  SUCCESS: N rule files found` and
  ` SUCCESS: FILE is valid prometheus config file syntax`, an empty line, and then the
  `check rules` text of every rule file that config loads; exit codes as `check rules`.
- `test rules FILE...` (unittest.go RulesUnitTest/ruleUnitTest): per file
  `Unit Testing:  FILE` (two spaces: Println of "Unit Testing: " and the name), then
  `  SUCCESS` or `  FAILED:` and each error followed by an empty line, then an empty line.
  Every file is tested whatever an earlier one did (rule_files resolve against each
  test file's own directory: resolveAndGlobFilepaths(filepath.Dir(filename))); it exits
  1 if any file failed, else 0.

Go writes os.Stdout and os.Stderr unbuffered, so the merged stream (as a check alone is
read) keeps that order: a member's text is what came before the first file's header
(a warning about the flags, printed once a run) and its own section up to the next
file's header. A member fails when its section says `FAILED:`; with --lint-fatal (which
the check kinds require) that is exactly when promtool alone exits non-zero for it.
Output that does not map onto the files (a bad flag, a crash: a Go panic exits 2) is
every member's error, in promtool's own words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.executors import ERROR, FAILED, PASSED
from pipeline.plan.model import Check

FAILED_LINE = re.compile(r"^  FAILED:", re.MULTILINE)


@dataclass(frozen=True)
class Subcommand:
    """What one promtool subcommand prints per file, and the exit codes it can end with."""

    words: tuple[str, ...]  # argv[1:] it starts with, e.g. ("check", "rules")
    header: str  # the line that opens a file's section; {file} is the file as given
    success: Callable[[str], re.Pattern]  # the line of a file that passed
    codes: frozenset[int]
    lint_fatal: bool  # batched only with --lint-fatal: then `FAILED:` is a non-zero exit

    def joins(self, check: Check) -> bool:
        """A promtool check of this subcommand over one file of the repo, not stdin."""
        return (check.stdin_from is None and tuple(check.argv[1:1 + len(self.words)]) == self.words
                and len(check.argv) > 1 + len(self.words) and not check.argv[-1].startswith("-")
                and (not self.lint_fatal or "--lint-fatal" in check.argv))

    def split(self, output: bytes, errors: bytes, code: int,
              files: dict[Path, Check]) -> dict[str, tuple[str, str]]:
        """check id -> (status, text) from promtool's merged output over `files`."""
        text = (errors + output).decode(errors="replace")
        parts = sections(text, [self.header.format(file=f) for f in files]) \
            if code in self.codes else None
        verdicts = [] if parts is None else [
            FAILED if FAILED_LINE.search(part) else
            PASSED if self.success(str(path)).search(part) else None
            for part, path in zip(parts, files)]
        if parts is None or None in verdicts:
            return {c.id: (FAILED if code else ERROR, text or f"promtool exited {code}")
                    for c in files.values()}
        if bool(code) != (FAILED in verdicts):
            return {c.id: (ERROR, f"promtool exited {code}, against its report:\n{text}")
                    for c in files.values()}
        return {check.id: (verdict, part)
                for check, verdict, part in zip(files.values(), verdicts, parts)}


def sections(text: str, headers: list[str]) -> list[str] | None:
    """Each header's section (from its line to the next header's), in order, each with
    what preceded the first header; None when a header is missing."""
    lines = text.splitlines(keepends=True)
    starts, at = [], 0
    for header in headers:
        while at < len(lines) and lines[at].rstrip("\r\n") != header:
            at += 1
        if at == len(lines):
            return None
        starts.append(at)
        at += 1
    before = "".join(lines[:starts[0]])
    ends = [*starts[1:], len(lines)]
    return [before + "".join(lines[start:end]) for start, end in zip(starts, ends)]


def key(check: Check) -> tuple:
    """Files checked with the same argv but the file share a process."""
    return check.argv[:-1]


def batch_argv(argv: list[str], files: list[Path]) -> list[str]:
    """One check's resolved argv with its file replaced by every member's."""
    return [*argv[:-1], *map(str, files)]


CHECK_RULES = Subcommand(
    ("check", "rules"), "Checking {file}",
    lambda file: re.compile(r"^  SUCCESS: \d+ rules found$", re.MULTILINE),
    frozenset({0, 1, 3}), lint_fatal=True)
CHECK_CONFIG = Subcommand(
    ("check", "config"), "Checking {file}",
    lambda file: re.compile(rf"^ SUCCESS: {re.escape(file)} is valid prometheus config file "
                            r"syntax$", re.MULTILINE),
    frozenset({0, 1, 3}), lint_fatal=True)
TEST_RULES = Subcommand(
    ("test", "rules"), "Unit Testing:  {file}",
    lambda file: re.compile(r"^  SUCCESS$", re.MULTILINE),
    frozenset({0, 1}), lint_fatal=False)
