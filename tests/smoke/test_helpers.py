"""The fake metrics target and the webhook sink, as the processes both executors run."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from pipeline.smoke import helpers
from tests.support.repo import REPO

CONTRACT = REPO / "infra/monitoring/metrics-contract.yaml"


def contract() -> dict:
    return yaml.safe_load(CONTRACT.read_text())


def test_every_contract_metric_is_served_with_its_labels_and_buckets():
    text = helpers.exposition(contract(), now=1_700_000_000)
    for name, metric in helpers.contract_metrics(contract()).items():
        assert f"# TYPE {name} {metric['type']}" in text, name
        for label, value in (metric.get("labels") or {}).items():
            assert f'{label}="{value}"' in text, (name, label)
        for bound in metric.get("buckets", []):
            assert f'le="{helpers._number(float(bound))}"' in text, (name, bound)
    assert "dpp_audit_hash_chain_valid 1" in text
    assert "dpp_audit_hash_chain_last_verification_timestamp_seconds 1700000000" in text


@pytest.fixture
def server(request):
    procs = []

    def start(*args: str) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.smoke.helpers", *args,
                                 "--host", "127.0.0.1", "--port", str(port)],
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().startswith("listening on 127.0.0.1:")
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_target_serves_the_exposition_format(server):
    base = server("target", "--contract", str(CONTRACT))
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        body = response.read().decode()
    assert "http_request_duration_seconds_bucket" in body


def test_sink_records_posts(server):
    base = server("sink")
    payload = {"version": "4", "status": "firing", "alerts": [{"labels": {"alertname": "A"}}]}
    request = urllib.request.Request(f"{base}/webhook/deadmansswitch",
                                     data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).read()
    time.sleep(0.1)
    received = json.loads(urllib.request.urlopen(f"{base}/received", timeout=5).read())
    assert received[0]["path"] == "/webhook/deadmansswitch"
    assert received[0]["payload"] == payload
