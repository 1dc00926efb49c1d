"""An environment's tier (`global.environment`: development, staging or production), read
from its values files as helm merges them, so an environment is just a values-<env>.yaml.

Rules that differ by tier (image pinning, TLS, topology spread, resource budgets) ask
for the tier, never for an environment name: values-qa.yaml with `environment: staging`
is checked as staging, with no list of names to extend.
"""

from __future__ import annotations

import yaml

from pipeline.checks.problem import LoadError

KEY = ("global", "environment")


class TierError(LoadError):
    """No tier can be read; the message names the files and the key."""


def tier(values_files: list[str]) -> str:
    """`global.environment` of the merged values (the last file that sets it wins)."""
    found = None
    for path in values_files:
        try:
            with open(path, encoding="utf-8") as handle:
                values = yaml.safe_load(handle) or {}
        except (OSError, yaml.YAMLError) as error:
            raise TierError(f"{path}: cannot read the environment tier: {error}") from None
        node = values
        for key in KEY:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            found = str(node)
    if found is None:
        raise TierError(f"{'.'.join(KEY)} is set in none of {', '.join(values_files)}")
    return found
