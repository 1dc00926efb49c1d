"""Compose -> service specs, expectations and native rewriting (pure Python, no servers)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline.model import compose as model
from pipeline.smoke import stack
from tests.support.repo import REPO, copy_repo

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def resolved() -> dict:
    """What the real Compose prints for the repo's compose file (the model's input)."""
    try:
        binary = model.binary()
    except model.ComposeError:
        pytest.skip("docker-compose is not installed (scripts/bootstrap compose)")
    argv = model.config_argv(stack.COMPOSE_FILE, stack.COMPOSE_LINT_ENV)
    done = subprocess.run([binary, *argv[1:]], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["services"]


def test_monitoring_services_come_from_the_compose_file(resolved):
    specs = stack.load(REPO)
    assert {"prometheus", "alertmanager"} <= set(specs)
    for name, spec in specs.items():
        assert spec.image == resolved[name]["image"], name
        assert spec.command == (tuple(resolved[name]["command"]) if resolved[name]["command"] else None), name
        binds = {v["target"]: v for v in resolved[name].get("volumes") or [] if v["type"] == "bind"}
        for mount in spec.repo_mounts():
            assert (REPO / mount.source).exists(), (name, mount)
            assert binds[mount.target]["source"] == str(REPO / mount.source), (name, mount)
            assert mount.read_only == binds[mount.target].get("read_only", False), (name, mount)
    assert specs["prometheus"].source_of(specs["prometheus"].flag("config.file")) == \
        stack.config_source(specs["prometheus"])


def test_a_missing_mounted_file_is_named(tmp_path):
    root = copy_repo(tmp_path, stack.COMPOSE_FILE, stack.COMPOSE_LINT_ENV, "infra/monitoring")
    (root / "infra/monitoring/alertmanager/alertmanager.yml").unlink()
    with pytest.raises(stack.StackError) as raised:
        stack.load(root)
    assert "./infra/monitoring/alertmanager/alertmanager.yml" in str(raised.value)
    assert "alertmanager" in str(raised.value)


def test_compose_forms_long_syntax_secrets_configs_profiles_interpolation(tmp_path):
    root = copy_repo(tmp_path, "infra/monitoring")
    (root / stack.COMPOSE_FILE).write_text((FIXTURES / "compose-variants.yml").read_text())
    (root / stack.COMPOSE_LINT_ENV).parent.mkdir(parents=True)
    (root / stack.COMPOSE_LINT_ENV).write_text("VERSION=1.2.3\n")  # the required variable
    specs = stack.load(root)
    assert sorted(specs) == ["alertmanager", "prometheus"]  # the profile, not the name list
    prom, am = specs["prometheus"], specs["alertmanager"]
    assert prom.command[0] == "--config.file=/etc/prometheus/prometheus.yml"
    assert prom.listen_port == 9091 and prom.ports[0].published_port == 19091
    mounts = {m.target: m for m in prom.mounts}
    assert mounts["/etc/prometheus"].kind == "repo" and mounts["/etc/prometheus"].read_only
    assert mounts["/prometheus"].kind == "volume"
    assert mounts["/etc/prometheus/extra.yml"].source == \
        "infra/monitoring/prometheus/prometheus.yml"
    assert prom.source_of("/etc/prometheus/extra.yml") == \
        "infra/monitoring/prometheus/prometheus.yml"  # the innermost mount wins
    assert am.environment == {"TZ": "UTC", "LOG": "info"}
    am_mounts = {m.target: m for m in am.mounts}
    assert am_mounts["/run/secrets/webhook-url"].source == \
        "infra/monitoring/alertmanager/secrets.example/webhook-url"
    assert am_mounts["/host/proc"].kind == "host"
    # a required variable comes from the env file, as Compose reads it
    backend = model.resolve(root, stack.COMPOSE_FILE, stack.COMPOSE_LINT_ENV).services["backend"]
    assert backend.image == "example/backend:1.2.3"


def test_native_argv_keeps_compose_flags_and_adapts_addresses_and_paths(tmp_path):
    specs = stack.load(REPO)
    prom = stack.native_argv(specs["prometheus"], "prometheus", tmp_path, 4242)
    assert prom[0] == "prometheus"
    assert f"--config.file={tmp_path}/etc/prometheus/prometheus.yml" in prom
    assert f"--storage.tsdb.path={tmp_path}/prometheus" in prom
    assert "--web.listen-address=127.0.0.1:4242" in prom
    assert "--storage.tsdb.retention.time=15d" in prom  # compose flags without paths are kept
    assert "--rules.alert.resend-delay=5s" in prom  # stack.SMOKE_FLAGS
    am = stack.native_argv(specs["alertmanager"], "alertmanager", tmp_path, 4343)
    assert "--web.listen-address=127.0.0.1:4343" in am and "--cluster.listen-address=" in am


def test_rewrites_keep_the_repo_file_line_for_line(tmp_path):
    specs = stack.load(REPO)
    path = REPO / stack.config_source(specs["prometheus"])
    old = yaml.safe_load(path.read_text())
    new = stack.rewrite_addresses(old, {"backend:8000": "127.0.0.1:1234"})
    text = stack.rewrite_text(path.read_text(), old, new)
    assert len(text.splitlines()) == len(path.read_text().splitlines())
    assert "127.0.0.1:1234" in text and "backend:8000" not in text
    assert yaml.safe_load(text) == new


def test_every_receiver_is_redirected_to_the_sink():
    spec = stack.load(REPO)["alertmanager"]
    am = yaml.safe_load((REPO / stack.config_source(spec)).read_text())
    new, files, redirected = stack.receiver_overrides(am, "http://sink:1")
    for path, content in files.items():
        assert spec.mount_for(path) is not None, f"{path} is not mounted"
        assert content.startswith("http://sink:1/")
    assert set(redirected) == {r["name"] for r in am["receivers"]
                               if set(r) & {"webhook_configs", "slack_configs",
                                            "pagerduty_configs"}}
