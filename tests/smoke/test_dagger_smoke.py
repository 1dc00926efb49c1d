"""The Dagger path of smoke, offline: containers.run_smoke_in_containers over the recording
connection."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

import anyio
import dagger
import pytest
import yaml

from pipeline import plan, toolchain
from pipeline.executors.dagger import WORKDIR
from pipeline.model import compose as model
from pipeline.smoke import containers, stack
from pipeline.smoke.report import Line, verdict
from tests.support.repo import REPO, copy_repo
from tests.dagger_recorder import Exit, Recorder, chain_of


def listing() -> list[str]:
    return sorted(plan.Tree.from_path(REPO).files)


def contents(call) -> str:
    return (REPO / call.arg("file", "path")).read_text()


REPORT = [{"name": "prometheus ready", "status": "passed", "detail": "ok", "seconds": 0.1,
           "logs": ""}]


def is_compose(call) -> bool:
    return bool(call.execs) and call.execs[-1][:1] == [model.BINARY]


@functools.cache
def compose_output(root: Path, argv: tuple[str, ...]) -> str:
    """What the real docker-compose prints for `argv` in `root`; once per tree and argv (no
    test changes a tree after its first query)."""
    return subprocess.run([model.binary(), *argv[1:]], cwd=root, capture_output=True, text=True,
                          check=True).stdout


@functools.cache
def repo_stack() -> dict[str, stack.ServiceSpec]:
    """stack.load(REPO), once: the tests only read it."""
    return stack.load(REPO)


def answers(root: Path = REPO, code: int = 0, report: list | None = None) -> dict:
    """The stand-in engine's answers. The compose image's `docker-compose config` is answered
    by the real tool running the recorded argv in `root` (so its JSON is what Compose prints);
    the checks' runner exits `code` printing `report`."""
    def stdout(call) -> str:
        if not is_compose(call):
            return json.dumps(REPORT if report is None else report)
        return compose_output(root, tuple(call.execs[-1]))

    return {"glob": lambda c: listing(), "contents": contents, "stdout": stdout,
            "exitCode": lambda call: 0 if is_compose(call) else code}


@pytest.fixture(autouse=True)
def compose_installed():
    try:
        model.binary()
    except model.ComposeError:
        pytest.skip("docker-compose is not installed (scripts/bootstrap compose)")


@pytest.fixture
def recorder(monkeypatch) -> Recorder:
    return Recorder(answers=answers()).install(monkeypatch)


def run_smoke_in_containers() -> str:
    return anyio.run(lambda: containers.run_smoke_in_containers(dagger.dag.directory()))


def bindings(chain) -> dict[str, list]:
    """alias -> chain of the bound service, for a container chain."""
    return {f.args["alias"]: chain_of(f.args["service"]) for f in chain
            if f.name == "withServiceBinding"}


def runner(recorder: Recorder):
    calls = [c for c in recorder.leaves("exitCode")
             if any("pipeline.smoke.probe_urls" in e for e in c.execs[-1:][0])]
    assert len(calls) == 1
    return calls[0]


def service_fields(chain, name):
    start = max(i for i, f in enumerate(chain) if f.name == "from")
    return [f for f in chain[start:] if f.name == name]


def test_each_compose_monitoring_service_is_a_service_from_its_image_and_mounts(recorder):
    out = run_smoke_in_containers()
    assert "prometheus ready" in out
    specs = repo_stack()
    bound = bindings(runner(recorder).chain)
    assert set(specs) <= set(bound)
    for name, spec in specs.items():
        chain = bound[name]
        assert chain[-1].name == "asService", name
        assert service_fields(chain, "from")[0].args["address"] == spec.image
        mounts = {f.args["path"]: f.args["source"] for f in chain
                  if f.name in ("withMountedFile", "withMountedDirectory")}
        assert set(mounts) == {m.target for m in spec.repo_mounts()}, name
        for mount in spec.repo_mounts():
            source = chain_of(mounts[mount.target])
            picked = [f for f in source if f.name in ("file", "directory") and f.args]
            if picked and picked[-1].args.get("path") == mount.source:
                continue
            # a test override (a secret file's or alertmanager.yml's contents)
            assert any(f.name == "withNewFile" for f in source), (name, mount)
        env = {f.args["name"]: f.args["value"] for f in chain if f.name == "withEnvVariable"}
        assert env == dict(spec.environment), name
        ports = {f.args["port"] for f in chain if f.name == "withExposedPort"}
        assert spec.listen_port in ports, name
        service = chain[-1].args
        if spec.command is not None:
            assert service["args"][:len(spec.command)] == list(spec.command), name
            assert service.get("useEntrypoint") is True, name


def test_helpers_are_bound_under_the_compose_hostnames(recorder):
    run_smoke_in_containers()
    prom_doc = yaml.safe_load((REPO / "infra/monitoring/prometheus/prometheus.yml").read_text())
    backend_host, backend_port = stack.backend_address(prom_doc).split(":")
    bound = bindings(runner(recorder).chain)
    for alias, kind, port in ((backend_host, "target", int(backend_port)),
                              (containers.SINK_HOST, "sink", containers.SINK_PORT)):
        chain = bound[alias]
        args = chain[-1].args["args"]
        assert args[:4] == ["python", "-m", "pipeline.smoke.helpers", kind], alias
        assert args[args.index("--port") + 1] == str(port)
        assert port in {f.args["port"] for f in chain if f.name == "withExposedPort"}
        assert "python:" in service_fields(chain, "from")[0].args["address"]
    prometheus = bindings(bound["prometheus"])
    assert {backend_host, "alertmanager", containers.SINK_HOST} <= set(prometheus)
    assert containers.SINK_HOST in bindings(bound["alertmanager"])
    assert "prometheus" in bindings(bound["grafana"])


def test_alertmanager_secret_files_point_at_the_sink(recorder):
    run_smoke_in_containers()
    chain = bindings(runner(recorder).chain)["alertmanager"]
    secrets = [f for f in chain if f.name == "withMountedDirectory"
               and f.args["path"] == "/etc/alertmanager/secrets"][0]
    written = {f.args["path"]: f.args["contents"] for f in chain_of(secrets.args["source"])
               if f.name == "withNewFile"}
    assert written["deadmansswitch-url"].startswith(
        f"http://{containers.SINK_HOST}:{containers.SINK_PORT}/webhook/deadmansswitch")


def test_the_checks_run_from_the_python_runner_with_the_service_urls(recorder):
    run_smoke_in_containers()
    argv = runner(recorder).execs[-1]
    assert argv[argv.index("--prometheus") + 1] == "http://prometheus:9090"
    assert argv[argv.index("--alertmanager") + 1] == "http://alertmanager:9093"
    assert argv[argv.index("--grafana") + 1] == "http://grafana:3000"


def test_a_failed_check_fails_the_function_with_the_report(monkeypatch):
    failed = [{**REPORT[0], "status": "failed", "detail": "prometheus exited"}]
    Recorder(answers=answers(code=1, report=failed)).install(monkeypatch)
    with pytest.raises(containers.SmokeFailed) as raised:
        run_smoke_in_containers()
    assert "FAILED  prometheus ready" in str(raised.value)
    assert verdict([Line(**failed[0])]) in str(raised.value)


# Prometheus v2.51.0 on a config whose scrape_timeout exceeds scrape_interval: the log line of
# cmd/prometheus/main.go:521 (err from config/config.go:529, wrapped at :115), then exit 2.
PROMETHEUS_BAD_CONFIG = (
    'ts=2026-11-29T05:40:00.000Z caller=main.go:585 level=info msg="Starting Prometheus Server" '
    'mode=server version="(version=2.51.0, branch=HEAD)"\n'
    'ts=2026-11-29T05:40:00.001Z caller=main.go:521 level=error msg="Error loading config '
    '(--config.file=/etc/prometheus/prometheus.yml)" file=/etc/prometheus/prometheus.yml '
    'err="parsing YAML file /etc/prometheus/prometheus.yml: global scrape timeout greater than '
    'scrape interval"')


def test_a_service_with_a_broken_config_shows_its_own_error_line(monkeypatch):
    """The engine fails the runner with the service's ExecError (core/service.go: exited
    before its health check, with what it wrote while starting)."""
    prometheus = repo_stack()["prometheus"]

    def is_prometheus(argv):
        return argv[-len(prometheus.smoke_args):] == prometheus.smoke_args

    Recorder(answers=answers(),
             exits=[(is_prometheus, Exit(2, stderr=PROMETHEUS_BAD_CONFIG))]).install(monkeypatch)
    with pytest.raises(containers.SmokeFailed) as raised:
        run_smoke_in_containers()
    message = str(raised.value)
    headline = message.splitlines()[0]
    assert headline.startswith("smoke: the stack did not start: prometheus exited with code 2:")
    assert "global scrape timeout greater than scrape interval" in headline
    assert "--config.file=/etc/prometheus/prometheus.yml" in message
    assert "traceparent" not in message


UP = ("prometheus", "alertmanager", "grafana")


def test_up_exposes_the_smokes_services(recorder):
    """`dagger up` starts every @up function: the same service chains the smoke binds."""
    from pipeline.main import Pipeline

    functions = Pipeline.__dagger_object_type__.functions
    assert {name for name, f in functions.items() if f.service} == set(UP)
    run_smoke_in_containers()
    bound = bindings(runner(recorder).chain)
    for name in UP:
        service = anyio.run(lambda: getattr(Pipeline(), name)(source=dagger.dag.directory()))
        assert isinstance(service, dagger.Service)
        assert chain_of(service) == bound[name], name
        ports = {f.args["port"] for f in chain_of(service) if f.name == "withExposedPort"}
        assert repo_stack()[name].listen_port in ports


def test_up_of_a_service_compose_lacks_names_the_services(monkeypatch, tmp_path):
    root = copy_repo(tmp_path, stack.COMPOSE_FILE, stack.COMPOSE_LINT_ENV)
    doc = yaml.safe_load((root / stack.COMPOSE_FILE).read_text())
    doc["services"].pop("grafana")
    (root / stack.COMPOSE_FILE).write_text(yaml.safe_dump(doc))

    Recorder(answers=answers(root)).install(monkeypatch)
    with pytest.raises(containers.SmokeFailed, match="no grafana service"):
        anyio.run(lambda: containers.service(dagger.dag.directory(), "grafana"))


def test_the_stack_is_read_through_compose_in_its_pinned_image(recorder):
    run_smoke_in_containers()
    calls = [c for c in recorder.calls if is_compose(c)]
    assert calls, "the compose file was not resolved by docker-compose"
    assert {c.image for c in calls} == {toolchain.tool(model.TOOL).image_ref}
    assert calls[0].execs[-1] == list(stack.config_argv(WORKDIR))
    assert set(calls[0].mounts) == {f"{WORKDIR}/{stack.COMPOSE_FILE}", f"{WORKDIR}/{stack.COMPOSE_LINT_ENV}"}


def test_a_compose_file_compose_refuses_fails_smoke_in_its_words(monkeypatch, tmp_path):
    root = copy_repo(tmp_path, stack.COMPOSE_FILE, stack.COMPOSE_LINT_ENV)
    (root / stack.COMPOSE_LINT_ENV).write_text("")  # the required variables are unset
    refused = subprocess.run([model.binary(), *stack.config_argv(containers.WORKDIR)[1:]], cwd=root,
                             capture_output=True, text=True, check=False)
    assert refused.returncode != 0
    Recorder(answers=answers(root), exits=[(lambda argv: argv[:1] == [model.BINARY],
                                            Exit(refused.returncode, stderr=refused.stderr))]
             ).install(monkeypatch)
    with pytest.raises(containers.SmokeFailed) as raised:
        run_smoke_in_containers()
    assert str(raised.value) == f"{stack.COMPOSE_FILE}: docker-compose config: {refused.stderr.strip()}"
    assert "required variable" in str(raised.value)
