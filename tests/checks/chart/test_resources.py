"""The resource budget of each environment's render (chart/resources-<env>)."""

from __future__ import annotations

import re
import sys

import pytest

from tests.support import warmchecks
from tests.support.repo import REPO, output, run_check

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


def test_a_request_that_is_not_a_quantity_names_the_workload_and_field(rendered):
    """The chart's schema refuses such a value; a render from elsewhere still gets a problem
    naming the workload, never a traceback."""
    text, replaced = re.subn(r"(requests:\n\s+cpu: )\S+", r"\1lots", rendered("dev"), count=1)
    assert replaced == 1
    done = warmchecks.run([sys.executable, "-m", "pipeline.checks.chart.resources", "--env", "dev"],
                          REPO, input=text)
    assert done.returncode == 1, done.stdout
    assert "spec.template.spec.containers[*].resources.requests: not a quantity: 'lots'" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_quantities_in_every_kubernetes_form():
    from pipeline.checks.chart.resources import quantity

    assert [quantity(v) for v in ("250m", "1Gi", "2", "1e3", "2E-3", ".5", "1.5k")] == \
        [0.25, 1024 ** 3, 2.0, 1000.0, 0.002, 0.5, 1500.0]
