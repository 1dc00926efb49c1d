"""The service-accounts rule over a real prod render, mutated."""

from __future__ import annotations

import pytest

from pipeline.checks.chart import service_accounts
from tests.support.docs import find, messages

pytestmark = pytest.mark.tools


def test_shared_service_account(prod_docs):
    docs = prod_docs  # this test's own copy (conftest)
    pod = find(docs, "Deployment", "dpp-platform-frontend")["spec"]["template"]["spec"]
    pod["serviceAccountName"] = "dpp-platform-backend"
    out = messages(service_accounts.check_service_accounts(docs, "production"))
    assert any("is shared by" in m and "Deployment/dpp-platform-frontend" in m for m in out), out
