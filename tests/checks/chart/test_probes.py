"""The probes rule over a real prod render, mutated."""

from __future__ import annotations

import pytest

from pipeline.checks.chart import probes
from tests.support.docs import find, messages

pytestmark = pytest.mark.tools


def test_startup_probe_required_for_keycloak(prod_docs):
    docs = prod_docs  # this test's own copy (conftest)
    container = find(docs, "Deployment", "dpp-platform-keycloak")["spec"]["template"]["spec"]["containers"][0]
    del container["startupProbe"]
    assert ("Deployment/dpp-platform-keycloak: spec.template.spec.containers[keycloak].startupProbe: missing "
            "[probes]") in messages(probes.check_probes(docs, "production"))
