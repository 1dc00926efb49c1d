"""Fixtures of the chart checks' tests: parsed renders from the session's one `helm template`."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest

from pipeline.model.kube import load


@pytest.fixture(scope="session")
def rendered_docs(rendered) -> Callable[..., list[dict]]:
    """`rendered_docs(env, monitoring=True)`: the documents of the session's render
    (`rendered`), parsed once per session; each call returns a fresh deep copy (a pickle round
    trip, ~1 ms against ~25 ms a parse), so a test may change what it gets."""
    parsed: dict[tuple[str, bool], bytes] = {}

    def docs(env: str, monitoring: bool = True) -> list[dict]:
        key = (env, monitoring)
        if key not in parsed:
            parsed[key] = pickle.dumps(load(rendered(env, monitoring=monitoring)))
        return pickle.loads(parsed[key])
    return docs


@pytest.fixture
def prod_docs(rendered_docs) -> list[dict]:
    """The prod render, a copy of its own for each test (tests mutate it)."""
    return rendered_docs("prod")


@pytest.fixture
def staging_docs(rendered_docs) -> list[dict]:
    return rendered_docs("staging")
