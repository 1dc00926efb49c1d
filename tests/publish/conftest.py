from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import layout
from pipeline.plan import Tree, build
from tests.support.repo import REPO, copy_repo
from tests.publish.registry import running_registry
from tests.support.publish import Published, published_once


@pytest.fixture
def registry(tmp_path):
    """A fresh registry: for a test that pushes, or reads what is (not) in it."""
    with running_registry(tmp_path) as running:
        yield running


@pytest.fixture
def password(monkeypatch, registry):
    """The registry password where `--registry-password env:REGISTRY_PASSWORD` reads it."""
    monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)


@pytest.fixture(scope="module")
def shared_registry(tmp_path_factory):
    """One registry for a module's tests that only need one to answer: each stops before
    anything could be pushed (its lint, if reached, raises) and reads none of its state."""
    with running_registry(tmp_path_factory.mktemp("shared-registry")) as running:
        yield running


@pytest.fixture
def shared_password(monkeypatch, shared_registry):
    """`password` for the shared registry."""
    monkeypatch.setenv("REGISTRY_PASSWORD", shared_registry.password)


@pytest.fixture(scope="session")
def published(tmp_path_factory) -> Iterator[Published]:
    """v1.4.0 with its provenance from the checkout's git HEAD (publish's default)."""
    yield from published_once(tmp_path_factory)


@pytest.fixture(scope="session")
def release_tree(tmp_path_factory) -> Path:
    """The chart alone, without its environments (values-ENV.yaml) and its copies of
    infra/monitoring (files/), and without .git (give --revision and --created): for the
    CLI tests whose lint only has to pass before the publish they test.

    Its plan is the two chart-wide checks (values-docs, monitoring-files-sync), run for real
    and passing, instead of the whole repository's (a render per environment and Kubernetes
    version, kubeconform, promtool, ...: most of these tests' CPU). That the CLI lints its
    source and stops on a failure: test_the_cli_lints_the_source_and_refuses_a_broken_tree;
    that the repository's own lint passes: the lint tests."""
    every = Tree.from_path(REPO).files
    environments = {layout.values_file(env) for env in layout.environments(every)}
    files = [f for f in every if f.startswith(f"{layout.CHART}/") and f not in environments
             and not f.startswith(f"{layout.CHART_FILES}/")]
    root = copy_repo(tmp_path_factory.mktemp("release-tree"), *sorted(files))
    checks = build(Tree.from_path(root))
    assert sorted(c.id for c in checks) == ["chart/monitoring-files-sync", "chart/values-docs"]
    assert all(c.tool == "python" and c.stdin_from is None for c in checks), \
        f"the release tree's lint renders or runs tools: {[c.id for c in checks]}"
    return root
