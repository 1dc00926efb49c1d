from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import layout
from pipeline.plan import Tree
from tests.support.repo import REPO, copy_repo
from tests.publish.registry import running_registry


@pytest.fixture
def registry(tmp_path):
    with running_registry(tmp_path) as running:
        yield running


@pytest.fixture
def password(monkeypatch, registry):
    """The registry password where `--registry-password env:REGISTRY_PASSWORD` reads it."""
    monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)


@pytest.fixture(scope="session")
def release_tree(tmp_path_factory) -> Path:
    """This checkout without infra/argocd (and without .git: give --revision and --created),
    for the CLI tests whose lint passes before the publish they test.

    Without the ArgoCD apps the plan has no API-server dry-runs (plan/apiserver.py), the
    checks the result cache cannot reuse and about half of lint's CPU; every other check
    runs, once a session (the cache reuses its results for the next test)."""
    files = [f for f in Tree.from_path(REPO).files if not f.startswith(f"{layout.ARGOCD}/")]
    return copy_repo(tmp_path_factory.mktemp("release-tree"), *sorted(files))
