"""monitoring/metrics-contract (checks/monitoring/metrics.py): the contract against rules, panels, producers.

Each bad-input test breaks one thing in a copy of the real files and asserts
that the plan's check fails, naming the file and the problem.
"""

from __future__ import annotations

from pipeline.executors import FAILED
from tests.support.monitoring import (CONTRACT, DASHBOARDS, PROMETHEUS, RULES, edit, edit_cases,
                                      fails_after_edit, passes, run)

CHECK = "monitoring/metrics-contract"


def test_the_real_files_pass(root):
    passes(root, CHECK)


# One edit in one file: the check fails with each expected line in its output.
# (case, file, old, new, expected)
EDITS = [
    ("rule-on-a-metric-outside-the-contract", f"{RULES}/platform.yml",
     "instance:dpp_db_pool_utilisation:ratio > 0.9", "dpp_db_pool_saturation_ratio > 0.9",
     [f"{RULES}/platform.yml: group 'dpp-platform', alert DBConnectionPoolExhaustion: metric "
      f"dpp_db_pool_saturation_ratio is not in {CONTRACT}"]),
    ("default-instrumentator-buckets", CONTRACT,
     "buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10]", "buckets: [0.1, 0.5, 1]",
     [f"{RULES}/platform.yml: alert HighLatency: threshold 2 is not below the highest finite bucket 1 "
      "of http_request_duration_seconds"]),
    ("contract-job-not-scraped", PROMETHEUS,
     '"edc-exporter:9560"', '"edc-exporter:9561"',
     [f"{PROMETHEUS}: job edc-exporter: targets ['edc-exporter:9561'] lack ['edc-exporter:9560']"]),
    # a contract metric no software produces (the dpp-edc-exporter defect)
    ("contract-metric-with-no-producer",
     "infra/monitoring/query-exporter/config.yaml",
     "    metrics: [edc_assets]\n", "    metrics: []\n",
     [f"{CONTRACT}: metric edc_assets (job edc-exporter) has no producer: no query of "
      "infra/monitoring/query-exporter/config.yaml updates a metric of that name"]),
    ("contract-labels-differ-from-the-producer", CONTRACT,
     "labels: {database: edc, state: COMPLETED}", "labels: {database: edc, state: COMPLETED, type: CONSUMER}",
     [f"{CONTRACT}: metric edc_transfer_processes (job edc-exporter): labels ['database', 'state', "
      "'type'], but infra/monitoring/query-exporter/config.yaml produces ['database', 'state']"]),
]


@edit_cases(EDITS)
def test_one_bad_edit_fails_the_check(root, path, old, new, expected):
    output = fails_after_edit(root, CHECK, path, old, new)
    for line in expected:
        assert line in output, output


def test_a_panel_on_a_metric_outside_the_contract_fails(root):
    edit(root / DASHBOARDS / "edc-connector.json", "sum(edc_assets{", "sum(edc_asset_count{")
    status, output = run(root, CHECK)
    assert status == FAILED
    assert (f"{DASHBOARDS}/edc-connector.json: panel 4 'Assets', target A: metric edc_asset_count "
            f"is not in {CONTRACT}") in output
    # ... and the contract metric it replaced is now unused
    assert f"{CONTRACT}: metric edc_assets (job edc-exporter) is used by no rule and no dashboard" \
        in output
