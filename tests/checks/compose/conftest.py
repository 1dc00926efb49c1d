"""The compose checks run on a copy of the files they read (the real Compose v2 resolves it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.layout import APP_CONTRACT, COMPOSE_FILE, EDC_SETTINGS, MONITORING
from tests.conftest import copy_repo

PATHS = (COMPOSE_FILE, "infra/compose", MONITORING, APP_CONTRACT, EDC_SETTINGS, "src/pipeline")


@pytest.fixture
def root(tmp_path) -> Path:
    return copy_repo(tmp_path / "repo", *PATHS)
