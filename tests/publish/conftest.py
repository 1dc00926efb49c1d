from __future__ import annotations

import pytest

from tests.publish.registry import running_registry


@pytest.fixture
def registry(tmp_path):
    with running_registry(tmp_path) as running:
        yield running
