"""The values documentation check: every key of values.yaml documented and in the schema."""

from __future__ import annotations

import json

from pipeline.checks.chart import valuesdoc
from tests.support.repo import CHART


def test_values_documented():
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert valuesdoc.undocumented((CHART / "values.yaml").read_text(), schema) == []


def test_undocumented_or_unknown_value_fails():
    schema = json.loads((CHART / "values.schema.json").read_text())
    text = (CHART / "values.yaml").read_text()
    undocumented = text.replace("  # replicas is the pod count when the HPA is off.\n", "", 1)
    assert any("backend.replicas: no comment above it" in str(p) for p in valuesdoc.undocumented(undocumented, schema))
    unknown = text.replace("  # replicas is the pod count", "  # replica is new\n  replica: 1\n  # replicas is the pod count", 1)
    assert any("backend.replica: not in values.schema.json" in str(p) for p in valuesdoc.undocumented(unknown, schema))
