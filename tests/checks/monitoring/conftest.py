"""Fixtures of the monitoring tests."""

from tests.support.monitoring import root  # noqa: F401 (the fixture)
