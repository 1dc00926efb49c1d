"""Fixtures of the chart checks' tests: parsed renders from the session's one `helm template`."""

from __future__ import annotations

import pytest

from pipeline.model.kube import load


@pytest.fixture
def prod_docs(rendered) -> list[dict]:
    """The prod render, parsed afresh for each test (tests mutate it)."""
    return load(rendered("prod"))


@pytest.fixture
def staging_docs(rendered) -> list[dict]:
    return load(rendered("staging"))
