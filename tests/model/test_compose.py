"""The compose model against what the real Compose v2 prints, and its errors on bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pipeline.layout import COMPOSE_FILE, COMPOSE_LINT_ENV
from pipeline.model import compose as model
from tests.conftest import REPO

pytestmark = pytest.mark.tools


@pytest.fixture(scope="session")
def binary() -> str:
    try:
        return model.binary()
    except model.ComposeError:
        pytest.skip("docker-compose is not installed (scripts/bootstrap compose)")


@pytest.fixture(scope="session")
def printed(binary) -> str:
    """`docker-compose config --format json` of the repo's compose file, as the tool prints it."""
    argv = model.config_argv(COMPOSE_FILE, COMPOSE_LINT_ENV)
    return subprocess.run([binary, *argv[1:]], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture(scope="session")
def project(printed) -> model.Project:
    return model.from_json(printed, COMPOSE_FILE, REPO)


def write(root: Path, text: str, name: str = "compose.yml") -> str:
    (root / name).write_text(text)
    return name


def test_every_service_compose_prints_is_in_the_model(project, printed):
    services = json.loads(printed)["services"]
    assert set(project.services) == set(services)
    assert {"vault", "edc-controlplane"} <= set(project.services)  # every profile is on
    for name, raw in services.items():
        service = project.services[name]
        assert service.image == raw["image"], name
        assert service.command == (tuple(raw["command"]) if raw["command"] else None), name
        assert dict(service.environment) == (raw.get("environment") or {}), name
        assert [str(p) for p in service.ports] == [
            ":".join(str(part) for part in (p.get("host_ip"), p.get("published"), p["target"]) if part)
            for p in raw.get("ports") or []], name
        assert set(service.depends_on) == set(raw.get("depends_on") or {}), name
        assert service.healthcheck.test == tuple(raw["healthcheck"]["test"]), name
        assert len([m for m in service.mounts if m.origin == "volumes"]) == len(raw.get("volumes") or []), name


def test_binds_are_repo_paths_named_volumes_and_host_paths(project):
    prometheus, node = project.service("prometheus"), project.service("node-exporter")
    mounts = {m.target: m for m in prometheus.mounts}
    assert mounts["/etc/prometheus"] == model.Mount("/etc/prometheus", "infra/monitoring/prometheus",
                                                    "repo", True)
    assert mounts["/prometheus"].kind == "volume" and mounts["/prometheus"].source == "prometheus-data"
    assert node.mounts == (model.Mount("/host", "/", "host", True),)
    assert str(prometheus.ports[0]) == "127.0.0.1:9090:9090"  # ${PROMETHEUS_BIND:-127.0.0.1}
    assert prometheus.depends_on["alertmanager"] == model.Dependency("service_started", True)
    assert project.service("vault").profiles == ("edc",)
    assert "prometheus-data" in project.volumes
    # the alertmanager secrets directory is ${ALERTMANAGER_SECRETS_DIR:-./...}: its default
    assert project.service("alertmanager").source_of("/etc/alertmanager/secrets/webhook-url") == \
        "infra/monitoring/alertmanager/secrets.example/webhook-url"


def test_required_variables_come_from_the_env_file_and_are_told_apart(project):
    backend = project.service("backend")
    assert backend.environment["DATABASE_PASSWORD"] == "lint-dummy-not-a-secret"  # lint.env
    written = model.written((REPO / COMPOSE_FILE).read_text(), COMPOSE_FILE)
    env = model.sourced_environment(backend, written["backend"])
    assert env["DATABASE_PASSWORD"] == {"variable": "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"}
    assert env["LOG_LEVEL"] == "info"  # a default is a value
    assert env["OIDC_ISSUER_URL"] == "http://localhost:8180/realms/dpp"


def test_dollars_are_the_values_compose_passes_on(tmp_path, binary):
    name = write(tmp_path, "services:\n  a:\n    image: x:1\n    command: echo \"hi there\" $$HOME\n"
                           "    environment: {PRICE: 'a$$b', EMPTY: '', SHELL_VALUE: null}\n"
                           "    healthcheck: {disable: true}\n    depends_on: [b]\n"
                           "  b:\n    image: y:1\n    healthcheck: {test: [NONE]}\n"
                           "    ports: ['8000-8001:9000-9001', '53:53/udp', 1234]\n")
    project = model.resolve(tmp_path, name)
    a, b = project.service("a"), project.service("b")
    assert a.command == ("echo", "hi there", "$HOME")  # Compose prints $$ (escapeDollarSign)
    assert dict(a.environment) == {"PRICE": "a$b", "EMPTY": "", "SHELL_VALUE": None}
    assert not a.healthcheck.defined and not b.healthcheck.defined
    assert a.depends_on == {"b": model.Dependency("service_started", True)}
    assert [str(p) for p in b.ports] == ["8000:9000", "8001:9001", "53:53/udp", "1234"]


def test_an_undefined_variable_is_named_with_the_file_and_field(tmp_path, binary):
    name = write(tmp_path, "services:\n  web:\n    image: example/web:${VERSION:?set VERSION}\n")
    with pytest.raises(model.ComposeError) as raised:
        model.resolve(tmp_path, name)
    assert str(raised.value) == (f"{name}: docker-compose config: error while interpolating "
                                 "services.web.image: required variable VERSION is missing a "
                                 "value: set VERSION")


def test_a_bad_port_is_refused_naming_the_file(tmp_path, binary):
    name = write(tmp_path, "services:\n  web:\n    image: x:1\n    ports: ['abc:80']\n")
    with pytest.raises(model.ComposeError, match=rf"^{name}: docker-compose config: invalid hostPort: abc$"):
        model.resolve(tmp_path, name)


def test_a_port_compose_never_prints_names_file_service_and_field():
    text = json.dumps({"services": {"web": {"image": "x:1", "ports": [{"target": "http"}]}}})
    with pytest.raises(model.ComposeError) as raised:
        model.from_json(text, "compose.yml", "/repo")
    assert str(raised.value).startswith("compose.yml: services.web.ports[0]: cannot read")


def test_an_undefined_secret_names_file_service_and_field(tmp_path, binary):
    name = write(tmp_path, "services:\n  web:\n    image: x:1\n    secrets: [nope]\n")
    with pytest.raises(model.ComposeError) as raised:
        model.resolve(tmp_path, name)
    assert str(raised.value) == (f"{name}: services.web.secrets[0]: 'nope' is not defined under "
                                 "top-level secrets:")


def test_a_missing_file_or_env_file_is_named(tmp_path, binary):
    with pytest.raises(model.ComposeError, match=r"^missing\.yml: not found in "):
        model.resolve(tmp_path, "missing.yml")
    name = write(tmp_path, "services:\n  web:\n    image: x:1\n")
    with pytest.raises(model.ComposeError, match=r"^infra/compose/lint\.env: not found in .*"
                                                 rf"the variables {name} requires"):
        model.resolve(tmp_path, name, COMPOSE_LINT_ENV)


def test_output_that_is_not_compose_json_is_named():
    with pytest.raises(model.ComposeError, match=r"^compose\.yml: `docker-compose config --format json` gave no JSON"):
        model.from_json("services:\n", "compose.yml", "/repo")
    with pytest.raises(model.ComposeError, match=r"^compose\.yml: no `services`"):
        model.from_json("{}", "compose.yml", "/repo")
