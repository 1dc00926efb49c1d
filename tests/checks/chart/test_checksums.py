"""The checksums rule over a real prod render, mutated."""

from __future__ import annotations

import pytest

from pipeline.checks.chart import checksums
from tests.support.docs import find, messages

pytestmark = pytest.mark.tools


def test_checksum_annotation_required(prod_docs):
    docs = prod_docs  # this test's own copy (conftest)
    annotations = find(docs, "Deployment", "dpp-platform-keycloak")["spec"]["template"]["metadata"]["annotations"]
    del annotations["checksum/config"]
    out = messages(checksums.check_checksums(docs, "production"))
    assert any(m.startswith("Deployment/dpp-platform-keycloak: spec.template.metadata.annotations.checksum/config")
               for m in out), out
