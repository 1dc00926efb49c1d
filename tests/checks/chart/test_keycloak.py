"""The keycloak rule over a real prod render, mutated."""

from __future__ import annotations

import pytest

from pipeline.checks.chart import keycloak
from tests.support.docs import find, messages

pytestmark = pytest.mark.tools


def test_keycloak_must_not_run_start_dev(prod_docs):
    docs = prod_docs  # this test's own copy (conftest)
    container = find(docs, "Deployment", "dpp-platform-keycloak")["spec"]["template"]["spec"]["containers"][0]
    container["args"] = ["start-dev"]
    out = messages(keycloak.check_keycloak(docs, "production"))
    assert any("containers[keycloak].args" in m for m in out), out
