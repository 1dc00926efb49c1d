"""The EDC metrics come from a real exporter: query-exporter over a real PostgreSQL.

A PostgreSQL server is started (tests/support/postgres.py), the tractusx-edc 0.7.3
tables are created (testdata/edc-0.7.3-schema.sql) and filled with known rows, the pinned
query-exporter runs natively with infra/monitoring/query-exporter/config.yaml exactly as
the chart and compose run it (credentials from the libpq environment), and its /metrics is
scraped: every metric of the contract's edc-exporter job must be there with the contract's
labels and the exact counts of the rows.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline import toolchain
from pipeline.checks.files import load_yaml
from tests.support.repo import REPO
from tests.support import postgres

pytestmark = pytest.mark.tools  # PostgreSQL and query-exporter natively

CONFIG = REPO / "infra/monitoring/query-exporter/config.yaml"
CONTRACT = REPO / "infra/monitoring/metrics-contract.yaml"
SCHEMA = Path(__file__).parent / "testdata/edc-0.7.3-schema.sql"
PASSWORD = "exporter-test-password"
SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

# (state code, rows) per table; 999 is no state of the 0.7.1 enums.
NEGOTIATIONS = {1200: 3, 1400: 2, 200: 1, 999: 1}
TRANSFERS = {800: 4, 850: 1, 600: 2}
ASSETS = 5


@pytest.fixture(scope="module")
def edc_database():
    try:
        server = postgres.start()
    except postgres.PostgresUnavailable as missing:
        pytest.fail(str(missing))
    try:
        server.psql(f"CREATE ROLE edc LOGIN PASSWORD '{PASSWORD}'")
        server.psql("CREATE DATABASE edc OWNER edc")
        server.psql(SCHEMA.read_text() + "\nALTER TABLE edc_contract_negotiation OWNER TO edc;"
                    "ALTER TABLE edc_transfer_process OWNER TO edc; ALTER TABLE edc_asset OWNER TO edc;",
                    database="edc")
        rows = []
        for code, count in NEGOTIATIONS.items():
            rows += [f"INSERT INTO edc_contract_negotiation (id, counterparty_id, counterparty_address, "
                     f"type, state) VALUES ('cn-{code}-{i}', 'BPNL000000000001', 'http://p/api/v1/dsp', "
                     f"'CONSUMER', {code});" for i in range(count)]
        for code, count in TRANSFERS.items():
            rows += [f"INSERT INTO edc_transfer_process (transferprocess_id, type, state) VALUES "
                     f"('tp-{code}-{i}', 'PROVIDER', {code});" for i in range(count)]
        rows += [f"INSERT INTO edc_asset (asset_id, created_at, properties) VALUES "
                 f"('asset-{i}', 1700000000000, '{{\"name\": \"passport {i}\"}}');" for i in range(ASSETS)]
        server.psql("\n".join(rows), database="edc")
        yield server
    finally:
        server.stop()


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = frozenset(LABEL.findall(match.group("labels") or ""))
            samples[(match.group("name"), labels)] = float(match.group("value"))
    return samples


@pytest.fixture(scope="module")
def exposition(edc_database):
    binary = toolchain.native_bin() / toolchain.tool("query-exporter").binary
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run scripts/bootstrap query-exporter")
    port = postgres.free_port()
    env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(edc_database.port), "PGDATABASE": "edc",
           "PGUSER": "edc", "PGPASSWORD": PASSWORD, "PGSSLMODE": "disable"}
    process = subprocess.Popen([str(binary), "--config", str(CONFIG), "-H", "127.0.0.1", "-p", str(port)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        samples: dict = {}
        while time.monotonic() < deadline:
            try:
                samples = scrape(f"http://127.0.0.1:{port}/metrics")
                names = {name for name, _ in samples}
                if {"edc_contract_negotiations", "edc_transfer_processes", "edc_assets"} <= names:
                    break
            except OSError:  # not listening yet: its imports take about a second
                pass
            time.sleep(0.1)
        yield samples
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        assert PASSWORD not in (output or ""), "the exporter logged the database password"


def value(samples, name, **labels) -> float:
    key = (name, frozenset({"database": "edc", **labels}.items()))
    assert key in samples, f"no {name}{labels} in {sorted(n for n, _ in samples)}"
    return samples[key]


def test_counts_by_state_are_the_rows_of_the_database(exposition):
    assert value(exposition, "edc_contract_negotiations", state="FINALIZED") == 3
    assert value(exposition, "edc_contract_negotiations", state="TERMINATED") == 2
    assert value(exposition, "edc_contract_negotiations", state="REQUESTED") == 1
    assert value(exposition, "edc_contract_negotiations", state="UNKNOWN") == 1
    assert value(exposition, "edc_transfer_processes", state="COMPLETED") == 4
    assert value(exposition, "edc_transfer_processes", state="TERMINATED") == 1
    assert value(exposition, "edc_transfer_processes", state="STARTED") == 2
    assert value(exposition, "edc_assets") == ASSETS


def test_every_state_is_reported_from_the_first_run(exposition):
    """A terminal state without rows is 0, not absent: delta() over it counts from the start."""
    negotiation_states = {dict(labels)["state"] for name, labels in exposition
                          if name == "edc_contract_negotiations"}
    assert len(negotiation_states) == 16  # 15 ContractNegotiationStates + UNKNOWN
    assert value(exposition, "edc_contract_negotiations", state="INITIAL") == 0
    assert value(exposition, "edc_transfer_processes", state="DEPROVISIONED") == 0
    assert value(exposition, "edc_transfer_processes", state="UNKNOWN") == 0


def test_the_contract_names_what_the_exporter_serves(exposition):
    contract = load_yaml(CONTRACT)["jobs"]["edc-exporter"]
    served = {name: {k for k, _ in labels} for name, labels in exposition}
    for name, spec in contract["metrics"].items():
        assert name in served, f"contract metric {name} is not served by query-exporter"
        assert served[name] == set(spec["labels"]), (name, served[name], spec["labels"])


def test_chart_and_compose_run_the_release_the_tests_run():
    """One pin: toolchain.toml's query-exporter is the image tag of the chart and of compose."""
    from pipeline.layout import COMPOSE_FILE, COMPOSE_LINT_ENV
    from pipeline.model import compose as model

    pin = toolchain.tool("query-exporter")
    values = load_yaml(REPO / "infra/helm/dpp-platform/values.yaml")
    image = values["edc"]["exporter"]["image"]
    assert f"{image['registry']}/{image['repository']}:{image['tag']}" == f"docker.io/{pin.image}"
    resolved = model.resolve(REPO, COMPOSE_FILE, COMPOSE_LINT_ENV)
    assert resolved.service("edc-exporter").image == pin.image
