"""LEGACY, until policies/edc.py and policies/appcontract.py read pipeline.model.compose.

They still read the compose file's raw YAML (engineer A moves them to checks/chart; the lead
swaps their compose reading to the model at merge, see model/compose.py); then this module
and contracts/composeenv.py are deleted. Nothing else may import it.
"""

from __future__ import annotations

import re

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose interpolation with every variable unset: `${X:-d}` -> d, `${X}` -> ''."""
    def replace(match: re.Match) -> str:
        return match.group(3) if match.group(2) in (":-", "-") else ""
    return VARIABLE.sub(replace, value)
