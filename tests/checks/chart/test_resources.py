"""The resource budget of each environment's render (chart/resources-<env>)."""

from __future__ import annotations

import pytest

from tests.support.repo import output, run_check

pytestmark = pytest.mark.tools


def test_dev_budget_fails_when_exceeded():
    ok = run_check("chart/resources-dev")
    assert ok.returncode == 0, output(ok)
    assert "fits the budget (4 CPU, 8Gi)" in ok.stdout
    result = run_check("chart/resources-dev", "--set", "keycloak.resources.requests.memory=7Gi")
    assert result.returncode != 0
    assert "memory requests" in output(result) and "exceed the budget of 8Gi" in output(result)


def test_resources_summary_prints_each_workload():
    result = run_check("chart/resources-prod")
    assert result.returncode == 0, output(result)
    for workload in ("Deployment/dpp-platform-backend", "StatefulSet/dpp-platform-minio", "total"):
        assert workload in result.stdout
