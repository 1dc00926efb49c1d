"""Helm values as helm merges them: values.yaml, then each -f file in order (maps merge,
later scalars win, a null removes the key)."""

from __future__ import annotations

from pathlib import Path

from pipeline.checks.files import load_yaml


def merge(base: dict, overlay: dict) -> dict:
    """`overlay` coalesced into a copy of `base`, as helm coalesces a values file."""
    out = dict(base)
    for key, value in (overlay or {}).items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def merged(paths: list[str | Path]) -> dict:
    """The values of these files merged in order; a missing or bad file is a LoadError."""
    out: dict = {}
    for path in paths:
        out = merge(out, load_yaml(path) or {})
    return out
