"""Reading a check's input files: a missing or unparsable file is a LoadError naming it."""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from pipeline.checks.cli import read_input
from pipeline.checks.problem import LoadError, Problem
from pipeline.model import kube
from pipeline.model.values import merged


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
    """One YAML document, parsed as yaml.safe_load does but with libyaml (kube.LOADER): the
    values.yaml every chart check reads costs 4.5 ms instead of 51."""
    return _load(path, lambda handle: yaml.load(handle, kube.LOADER), "YAML", (yaml.YAMLError,))


def load_json(path: str | Path) -> Any:
    return _load(path, json.load, "JSON", (json.JSONDecodeError,))


def normpath(path: str | Path) -> str:
    """A '/'-separated path normalised without touching the disk (a/b/../c -> a/c)."""
    return posixpath.normpath(str(path).replace("\\", "/"))


def load_each(paths: Iterable[str], loader: Callable[[str], Any],
              problems: list[Problem]) -> dict[str, Any]:
    """Each file that loads, by path; one that does not is a problem naming it, and the
    check goes on with the others (so one broken file does not hide the rest's problems)."""
    found = {}
    for path in paths:
        try:
            found[path] = loader(path)
        except LoadError as error:
            problems.append(Problem("", str(error), rule="load"))
    return found


def load_stream(path: str) -> tuple[list[dict], str]:
    """The non-empty documents of a multi-document YAML file, or of stdin for "-" (a render
    piped from `helm template`), and its text (helm's `# Source:` comments name templates)."""
    text = read_input(path)
    try:
        documents = kube.load(text)
    except yaml.YAMLError as error:
        raise LoadError(f"{'<stdin>' if path == '-' else path}: not valid YAML: {error}") from error
    return documents, text


def load_values(paths: Iterable[str | Path], load: Callable[[Any], Any] = load_yaml) -> dict:
    """Values files merged as helm merges them (values.yaml first); a file whose top level is
    not a mapping is a LoadError naming it (helm refuses such a file too). `load`: load_yaml,
    or a memo of it for a check that merges the same files again (the merge copies what it
    changes: the layers stay as loaded)."""
    layers = []
    for path in paths:
        layer = load(path)
        if layer is not None and not isinstance(layer, dict):
            raise LoadError(f"{path}: the top level is a {type(layer).__name__}, not a mapping of values")
        layers.append(layer)
    return merged(layers)
