"""smoke/native's local config copies: a field the rewrite cannot read is the server's failing
config line naming file and field (never a silently unrewritten copy and a later misleading
failure); a file that does not parse is left to the server's own error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline import layout, toolchain
from pipeline.model import prometheus
from pipeline.smoke import native, stack
from pipeline.smoke.probes import PROBES, READINESS
from tests.support.repo import REPO, copy_repo

PROMETHEUS = "infra/monitoring/prometheus/prometheus.yml"
LOCAL = {name: f"127.0.0.1:{port}" for name, port in
         (("prometheus", 1), ("alertmanager", 2), ("target", 3), ("sink", 4))}


def broken(tmp_path: Path, rel: str, old: str, new: str) -> Path:
    root = copy_repo(tmp_path / "repo", layout.COMPOSE_FILE, layout.COMPOSE_LINT_ENV, layout.MONITORING,
                     "src/pipeline")
    path = root / rel
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    return root


def prometheus_copy(root: Path, tmp_path: Path):
    specs = stack.load(root)
    return native.prometheus_copy(root, specs["prometheus"], specs["alertmanager"], LOCAL,
                                  tmp_path / "rootfs")


def test_the_repo_configs_are_rewritten_to_local_addresses(tmp_path):
    root = copy_repo(tmp_path / "repo", layout.COMPOSE_FILE, layout.COMPOSE_LINT_ENV,
                     layout.MONITORING)
    files, served = prometheus_copy(root, tmp_path)
    [text] = files.values()
    assert served["backend"] == "backend:8000" and "127.0.0.1:3" in text
    am = stack.load(root)["alertmanager"]
    written = native.alertmanager_copy(root, am, "http://127.0.0.1:4", tmp_path / "am")
    assert any(content.startswith("http://127.0.0.1:4/") for content in written.values())


def test_a_scrape_target_of_the_wrong_shape_is_a_failing_config_line(tmp_path):
    root = broken(tmp_path, PROMETHEUS, '      - targets: ["backend:8000"]\n',
                  '      - targets: "backend:8000"\n')
    with pytest.raises(native.UnreadableConfig) as raised:
        prometheus_copy(root, tmp_path)
    line = raised.value.line
    assert line.name == "prometheus config" and line.status == "failed"
    assert line.detail.startswith(f"{PROMETHEUS}: scrape_configs[")
    assert ".static_configs[0].targets: expected a list, got str" in line.detail


def test_no_backend_target_is_a_failing_config_line(tmp_path):
    root = broken(tmp_path, PROMETHEUS, "  - job_name: backend\n", "  - job_name: api\n")
    with pytest.raises(native.UnreadableConfig) as raised:
        prometheus_copy(root, tmp_path)
    assert "no static target for job 'backend'" in raised.value.line.detail


def test_a_receiver_of_the_wrong_shape_is_a_failing_config_line(tmp_path):
    root = broken(tmp_path, layout.ALERTMANAGER_CONFIG, "  - name: blackhole\n",
                  "  - name: blackhole\n    webhook_configs: {url: http://x}\n")
    am = stack.load(root)["alertmanager"]
    with pytest.raises(native.UnreadableConfig) as raised:
        native.alertmanager_copy(root, am, "http://127.0.0.1:4", tmp_path / "am")
    assert raised.value.line.name == "alertmanager config"
    assert raised.value.line.detail.startswith(
        f"{layout.ALERTMANAGER_CONFIG}: receivers[")
    assert "].webhook_configs: expected a list, got dict" in raised.value.line.detail


def test_a_config_that_does_not_parse_is_left_to_the_server(tmp_path):
    root = broken(tmp_path, PROMETHEUS, "scrape_configs:", "scrape_configs: [")
    assert prometheus_copy(root, tmp_path) == ({}, {})


@pytest.mark.tools
def test_the_smoke_reports_the_config_line_and_starts_nothing(tmp_path):
    for name in ("prometheus", "alertmanager"):
        if not (toolchain.native_bin() / name).is_file():
            pytest.skip(f"{name} not installed: run scripts/bootstrap")
    root = broken(tmp_path, PROMETHEUS, '      - targets: ["backend:8000"]\n',
                  '      - targets: "backend:8000"\n')
    done = subprocess.run([sys.executable, "-m", "pipeline.smoke", "--source", str(root)],
                          capture_output=True, text=True, timeout=60, check=False)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "smoke: started" not in out
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("FAILED"))
    assert lines[first].startswith("FAILED  prometheus config (0.0s): " + PROMETHEUS)
    for name in (*READINESS, *PROBES):
        assert any(line.startswith(f"SKIPPED {name} (") for line in lines), name


def without_group_waits(route: dict) -> dict:
    return {key: [without_group_waits(r) for r in value] if key == "routes" else value
            for key, value in route.items() if key != "group_wait"}


def test_a_group_wait_cap_changes_only_the_wait_never_where_an_alert_goes():
    """DPP_SMOKE_GROUP_WAIT: the repo's route tree with shorter waits, the same receivers."""
    am = yaml.safe_load((REPO / layout.ALERTMANAGER_CONFIG).read_text())
    capped = native.capped_group_waits(am, 1.0)
    assert without_group_waits(capped["route"]) == without_group_waits(am["route"])
    assert {k: v for k, v in capped.items() if k != "route"} == \
        {k: v for k, v in am.items() if k != "route"}
    for labels in ({"alertname": "X", "severity": "critical", "namespace": "n"},
                   {"alertname": "X", "severity": "warning", "namespace": "n"},
                   {"alertname": "X", "severity": "info"}, {"alertname": "Watchdog"}):
        before, after = prometheus.routes_for(am, labels), prometheus.routes_for(capped, labels)
        assert [r.receiver for r in after] == [r.receiver for r in before], labels
        assert [r.group_wait for r in after] == [min(r.group_wait, 1.0) for r in before]
    assert any(r.group_wait > 1.0 for r in prometheus.routes_for(
        am, {"alertname": "X", "severity": "critical", "namespace": "n"}))  # a real cap


def test_a_group_wait_cap_covers_the_default_and_leaves_what_is_not_a_duration():
    am = {"route": {"receiver": "a", "routes": [
        {"receiver": "b", "group_wait": "0s"}, {"receiver": "c", "group_wait": "soon"},
        {"receiver": "d", "group_wait": "2m", "routes": [{"receiver": "e"}]}]}}
    route = native.capped_group_waits(am, 0.5)["route"]
    assert route["group_wait"] == "500ms"  # Alertmanager's default 30s otherwise
    assert [r["group_wait"] for r in route["routes"]] == ["0s", "soon", "500ms"]
    assert "group_wait" not in route["routes"][2]["routes"][0]  # inherits the capped 500ms
    assert "group_wait" not in am["route"]  # a copy


def test_a_group_wait_cap_that_is_not_a_duration_is_a_setup_error(monkeypatch):
    monkeypatch.setenv(native.GROUP_WAIT_ENV, "1 second")
    with pytest.raises(native.SmokeSetupError) as raised:
        native.group_wait_cap()
    assert str(raised.value).startswith(f"{native.GROUP_WAIT_ENV}='1 second': not a valid "
                                        "duration string")
    monkeypatch.delenv(native.GROUP_WAIT_ENV)
    assert native.group_wait_cap() is None


INTERVALS = ("scrape_interval", "scrape_timeout", "evaluation_interval")


def without_intervals(prom: dict) -> dict:
    def strip(section: dict) -> dict:
        return {k: v for k, v in section.items() if k not in INTERVALS}
    return {**strip(prom), "global": strip(prom.get("global") or {}),
            "scrape_configs": [strip(job) for job in prom.get("scrape_configs") or []]}


def test_an_interval_cap_changes_only_when_prometheus_scrapes_and_evaluates():
    """DPP_SMOKE_INTERVAL: the repo's targets, relabelling, alerting and rule files, with
    the intervals (and the scrape timeout, which may not exceed them) at the cap."""
    prom = yaml.safe_load((REPO / PROMETHEUS).read_text())
    capped = native.capped_intervals(prom, 1.0)
    assert without_intervals(capped) == without_intervals(prom)
    assert prometheus.parse_duration(prom["global"]["scrape_interval"]) > 1.0  # a real cap
    assert {k: capped["global"][k] for k in INTERVALS} == dict.fromkeys(INTERVALS, "1000ms")
    assert capped["global"]["scrape_interval"] != prom["global"]["scrape_interval"]  # a copy


def test_an_interval_cap_covers_the_defaults_and_every_job():
    prom = {"scrape_configs": [
        {"job_name": "a", "scrape_interval": "2m", "scrape_timeout": "30s"},
        {"job_name": "b", "scrape_interval": "500ms"}, {"job_name": "c", "scrape_timeout": "soon"},
        {"job_name": "d"}]}
    capped = native.capped_intervals(prom, 1.0)
    # Prometheus' global default is 1m for both; an unset timeout becomes min(10s, interval)
    assert capped["global"] == {"scrape_interval": "1000ms", "evaluation_interval": "1000ms"}
    assert capped["scrape_configs"] == [
        {"job_name": "a", "scrape_interval": "1000ms", "scrape_timeout": "1000ms"},
        {"job_name": "b", "scrape_interval": "500ms"}, {"job_name": "c", "scrape_timeout": "soon"},
        {"job_name": "d"}]


def test_an_interval_cap_lowers_the_rule_groups_that_set_their_own(tmp_path):
    """Rule files as Prometheus finds them (relative to the config, globs): a group with a
    longer `interval` is capped in the copy; the rules and the other files do not change."""
    (tmp_path / "etc/rules").mkdir(parents=True)
    config = tmp_path / "etc/prometheus.yml"
    config.write_text("rule_files: [rules/*.yml, /absent/*.yml]\n")
    slow = {"groups": [{"name": "slow", "interval": "1m", "rules": [
        {"alert": "A", "expr": "vector(1)"}]}, {"name": "inherits", "rules": []}]}
    (tmp_path / "etc/rules/slow.yml").write_text(yaml.safe_dump(slow))
    (tmp_path / "etc/rules/plain.yml").write_text(yaml.safe_dump({"groups": [
        {"name": "plain", "rules": [], "interval": "500ms"}]}))
    written = native.capped_rule_groups(config, 1.0)
    assert list(written) == [tmp_path / "etc/rules/slow.yml"]
    copy = yaml.safe_load(written[tmp_path / "etc/rules/slow.yml"])
    assert copy["groups"][0] == {**slow["groups"][0], "interval": "1000ms"}
    assert copy["groups"][1] == slow["groups"][1]


def test_an_interval_cap_that_is_not_a_duration_is_a_setup_error(monkeypatch):
    monkeypatch.setenv(native.INTERVAL_ENV, "fast")
    with pytest.raises(native.SmokeSetupError) as raised:
        native.interval_cap()
    assert str(raised.value).startswith(f"{native.INTERVAL_ENV}='fast': not a valid duration")
    monkeypatch.delenv(native.INTERVAL_ENV)
    assert native.interval_cap() is None


def test_capped_expectations_wait_what_the_capped_servers_wait():
    from pipeline.smoke.expectations import expectations

    expect = expectations(REPO, stack.load(REPO))
    assert expect.watchdog_interval > 1.0 and expect.scrape_interval > 1.0  # a real cap
    capped = native.capped_expectations(expect, None, 1.0)
    assert (capped.evaluation_interval, capped.scrape_interval, capped.watchdog_interval) == \
        (1.0, 1.0, 1.0)
    assert capped.critical_routes == expect.critical_routes  # group_wait not capped
    both = native.capped_expectations(expect, 1.0, None)
    assert both.watchdog_interval == expect.watchdog_interval
    assert [r.group_wait for r in both.critical_routes] == \
        [min(r.group_wait, 1.0) for r in expect.critical_routes]
