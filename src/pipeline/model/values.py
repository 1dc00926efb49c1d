"""Helm values as helm merges them: values.yaml, then each -f file in order (maps merge,
later scalars win, a null removes the key)."""

from __future__ import annotations

from typing import Iterable


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


def merged(layers: Iterable[dict | None]) -> dict:
    """Values files (parsed) merged in helm's order: values.yaml first, each -f after it."""
    out: dict = {}
    for layer in layers:
        out = merge(out, layer or {})
    return out
