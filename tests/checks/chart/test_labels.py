"""The labels rule over a real prod render, mutated."""

from __future__ import annotations

import pytest

from pipeline.checks.chart import labels
from tests.support.docs import find, messages

pytestmark = pytest.mark.tools


def test_labels_reject_chart_label_in_selector(prod_docs):
    docs = prod_docs  # this test's own copy (conftest)
    find(docs, "Deployment", "dpp-platform-backend")["spec"]["selector"]["matchLabels"]["helm.sh/chart"] = "x"
    out = messages(labels.check_labels(docs, "production"))
    assert any("Deployment/dpp-platform-backend: spec.selector.matchLabels" in m and "helm.sh/chart" in m
               for m in out), out


def test_labels_require_standard_labels(prod_docs):
    docs = prod_docs  # this test's own copy (conftest)
    del find(docs, "Service", "dpp-platform-redis")["metadata"]["labels"]["app.kubernetes.io/managed-by"]
    assert "Service/dpp-platform-redis: metadata.labels.app.kubernetes.io/managed-by: missing [labels]" \
        in messages(labels.check_labels(docs, "production"))
