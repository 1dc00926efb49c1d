"""Fixtures of the monitoring tests."""

from __future__ import annotations

import pytest

from tests.monitoring.helpers import monitoring_repo


@pytest.fixture
def root(tmp_path):
    """A fresh copy of the files the monitoring and compose checks read."""
    return monitoring_repo(tmp_path)
