"""The compose checks run on a copy of the files they read (the real Compose v2 resolves it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.layout import APP_CONTRACT, COMPOSE_FILE, EDC_SETTINGS, MONITORING
from tests.support.repo import copy_repo

# No src/pipeline: Python checks run the module's own code, never the tree's (executors/native.py).
PATHS = (COMPOSE_FILE, "infra/compose", MONITORING, APP_CONTRACT, EDC_SETTINGS)


@pytest.fixture
def root(tmp_path) -> Path:
    return copy_repo(tmp_path / "repo", *PATHS)
