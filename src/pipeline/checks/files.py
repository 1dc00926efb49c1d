"""Reading a check's input files: a missing or unparsable file is a LoadError naming it."""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any, Callable

import yaml

from pipeline.checks.problem import LoadError


def _load(path: str | Path, parse: Callable[[Any], Any], kind: str,
          errors: tuple[type[Exception], ...]) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return parse(handle)
    except OSError as error:
        raise LoadError(f"{path}: cannot read: {error.strerror}") from error
    except errors as error:
        raise LoadError(f"{path}: not valid {kind}: {error}") from error


def load_yaml(path: str | Path) -> Any:
    return _load(path, yaml.safe_load, "YAML", (yaml.YAMLError,))


def load_json(path: str | Path) -> Any:
    return _load(path, json.load, "JSON", (json.JSONDecodeError,))


def normpath(path: str | Path) -> str:
    """A '/'-separated path normalised without touching the disk (a/b/../c -> a/c)."""
    return posixpath.normpath(str(path).replace("\\", "/"))
