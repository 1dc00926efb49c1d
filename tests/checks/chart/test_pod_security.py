"""The pod-security rule over a real prod render, mutated."""

from __future__ import annotations

import pytest

from pipeline.checks.chart import pod_security
from tests.support.docs import find, messages

pytestmark = pytest.mark.tools


def test_hostpath_volume_rejected(prod_docs):
    docs = prod_docs  # this test's own copy (conftest)
    pod = find(docs, "Deployment", "dpp-platform-opa")["spec"]["template"]["spec"]
    pod.setdefault("volumes", []).append({"name": "host", "hostPath": {"path": "/"}})
    out = messages(pod_security.check_pod_security(docs, "production"))
    assert any("Deployment/dpp-platform-opa: spec.template.spec.volumes[host]" in m for m in out), out
