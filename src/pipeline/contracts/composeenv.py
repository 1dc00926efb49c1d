"""LEGACY (see contracts/compose.py): a compose service's environment from the raw YAML, for
policies/edc.py and policies/appcontract.py until they read pipeline.model.compose."""

from __future__ import annotations

import re

from pipeline.contracts.compose import interpolate

# ${VAR:?msg} / ${VAR?msg}: the operator must set VAR (compose refuses to start otherwise).
REQUIRED_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?\?")


def environment(service: dict) -> dict[str, object]:
    """{name: value} of a service's `environment` (mapping or KEY=VALUE list), interpolated
    with the defaults; a value from a required variable as {"variable": raw} (set, but only
    known at `up`; the way a secret must come)."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(str(item).partition("=")[::2] for item in raw)
    out: dict[str, object] = {}
    for key, value in raw.items():
        text = "" if value is None else str(value)
        resolved = interpolate(text)
        out[str(key)] = {"variable": text} if not resolved and REQUIRED_VARIABLE.search(text) \
            else resolved
    return out
