"""Transitional: tests/monitoring still imports these from here; they live in tests/support/repo.py.
Delete this package when those imports read `from tests.support.repo import ...`."""

from tests.support.repo import CHART, REPO, binary, native, output, plan_check, render, run_check  # noqa: F401
