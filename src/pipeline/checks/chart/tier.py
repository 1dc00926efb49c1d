"""An environment's tier (`global.environment`: development, staging or production), read
from its values files as helm merges them, so an environment is just a values-<env>.yaml.

Rules that differ by tier (image pinning, TLS, topology spread, resource budgets) ask
for the tier, never for an environment name: values-qa.yaml with `environment: staging`
is checked as staging, with no list of names to extend.
"""

from __future__ import annotations

from pipeline.checks.problem import LoadError
from pipeline.checks.files import load_values

KEY = ("global", "environment")


class TierError(LoadError):
    """No tier can be read; the message names the files and the key."""


def tier(values_files: list[str]) -> str:
    """`global.environment` of the values as helm merges them (a file that cannot be read is a
    LoadError naming it)."""
    return tier_of(load_values(values_files), values_files)


def tier_of(values: dict, values_files: list[str]) -> str:
    """`global.environment` of merged values; TierError naming the files when it is not set."""
    node: object = values
    for key in KEY:
        node = node.get(key) if isinstance(node, dict) else None
    if node is None:
        raise TierError(f"{'.'.join(KEY)} is set in none of {', '.join(values_files)}")
    return str(node)
