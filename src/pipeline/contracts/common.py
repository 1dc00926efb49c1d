"""What every contract check shares: loading files and reporting problems."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline.checks.files import load_json, load_yaml, normpath  # noqa: F401 (moved)
from pipeline.checks.problem import LoadError
from pipeline.model.prometheus import static_targets  # noqa: F401 (moved)


@dataclass
class Report:
    """Problems found by one check, each naming the file (and what inside it)."""

    check: str
    problems: list[str] = field(default_factory=list)

    def add(self, path: str | Path, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def load(self, path: str | Path, loader: Callable[[str | Path], Any]) -> tuple[bool, Any]:
        """(True, the parsed file), or (False, None) with the load error recorded as a problem."""
        try:
            return True, loader(path)
        except LoadError as error:
            self.problems.append(str(error))
            return False, None

    def finish(self, summary: str = "") -> int:
        for problem in self.problems:
            print(f"ERROR {problem}")
        if self.problems:
            print(f"{self.check}: FAILED - {len(self.problems)} problem(s)")
            return 1
        print(f"{self.check}: OK{(' - ' + summary) if summary else ''}")
        return 0
