"""What every contract check shares: loading files and reporting problems."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class LoadError(ValueError):
    """A file that is missing or does not parse."""


@dataclass
class Report:
    """Problems found by one check, each naming the file (and what inside it)."""

    check: str
    problems: list[str] = field(default_factory=list)

    def add(self, path: str | Path, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def finish(self, summary: str = "") -> int:
        for problem in self.problems:
            print(f"ERROR {problem}")
        if self.problems:
            print(f"{self.check}: FAILED - {len(self.problems)} problem(s)")
            return 1
        print(f"{self.check}: OK{(' - ' + summary) if summary else ''}")
        return 0


def load_yaml(path: str | Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except OSError as error:
        raise LoadError(f"{path}: cannot read: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise LoadError(f"{path}: not valid YAML: {error}") from error


def load_json(path: str | Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as error:
        raise LoadError(f"{path}: cannot read: {error.strerror}") from error
    except json.JSONDecodeError as error:
        raise LoadError(f"{path}: not valid JSON: {error}") from error


def rules_of(document: Any) -> list[tuple[str, dict]]:
    """(group name, rule) pairs of a Prometheus rule file; [] if it has none."""
    found = []
    if isinstance(document, dict):
        for group in document.get("groups") or []:
            if isinstance(group, dict):
                for rule in group.get("rules") or []:
                    if isinstance(rule, dict):
                        found.append((str(group.get("name", "")), rule))
    return found


def panels_of(dashboard: Any) -> list[dict]:
    """Every panel of a dashboard, rows' nested panels included."""
    found = []
    for panel in (dashboard.get("panels") if isinstance(dashboard, dict) else None) or []:
        if isinstance(panel, dict):
            found.append(panel)
            found += [p for p in panel.get("panels") or [] if isinstance(p, dict)]
    return found
