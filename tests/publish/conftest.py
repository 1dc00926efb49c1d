from __future__ import annotations

import pytest

from tests.publish.registry import running_registry


@pytest.fixture
def registry(tmp_path):
    with running_registry(tmp_path) as running:
        yield running


@pytest.fixture
def password(monkeypatch, registry):
    """The registry password where `--registry-password env:REGISTRY_PASSWORD` reads it."""
    monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)
