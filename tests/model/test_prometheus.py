"""model/prometheus: matchers, durations, the route tree, static targets and rule files, each
checked against the real amtool / promtool where they decide the same question; and
model/relabel against the real Prometheus server (the module's last test)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from pipeline import layout, toolchain
from pipeline.checks.chart.scrape import ROLES, _in_namespaces, build_cluster, service_monitor_job
from pipeline.layout import NAMESPACE
from pipeline.model import prometheus
from pipeline.model.kube import load, of_kind
from pipeline.model.prometheus import ConfigError, Matcher, RouteEnd
from pipeline.model.relabel import parse_rules, populate
from pipeline.plan import Tree
from tests.support.postgres import free_port
from tests.support.repo import REPO

ALERTMANAGER = yaml.safe_load((REPO / layout.ALERTMANAGER_CONFIG).read_text())


def native_tool(name: str) -> Path:
    path = toolchain.native_bin() / name
    if not path.is_file():
        pytest.skip(f"{name} not installed (scripts/bootstrap)")
    return path


def agree(argv: list[str], parse, text: str) -> None:
    """The tool accepts its input exactly when `parse(text)` does."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    try:
        parse(text)
        ours = True
    except ValueError:
        ours = False
    assert (done.returncode == 0) == ours, done.stdout + done.stderr


# --- matchers ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ('severity="critical"', Matcher("severity", "=", "critical")),
    ("severity = critical", Matcher("severity", "=", "critical")),
    ('  job!~"node.*"  ', Matcher("job", "!~", "node.*")),
    ('code=~"5.."', Matcher("code", "=~", "5..")),
    ("namespace!=", Matcher("namespace", "!=", "")),
    ('quote="She said: \\"Hi\\""', Matcher("quote", "=", 'She said: "Hi"')),
    ('path="a\\\\b"', Matcher("path", "=", "a\\b")),
    ('line="x\\ny"', Matcher("line", "=", "x\ny")),
    ('spurious="a\\zb"', Matcher("spurious", "=", "a\\zb")),  # a literal backslash
    ("colon:name=v", Matcher("colon:name", "=", "v")),
    # the UTF-8 parser first (Go escapes, quoted or digit-led names), the classic one after
    ('tab="x\\ty"', Matcher("tab", "=", "x\\ty")),  # both parse, they disagree: classic
    ('"quoted name"=v', Matcher("quoted name", "=", "v")),
    ('9lives="x"', Matcher("9lives", "=", "x")),
    ("spaced=two words", Matcher("spaced", "=", "two words")),
])
def test_a_matcher_parses_as_in_alertmanager(text, expected):
    assert prometheus.parse_matcher(text) == expected


REFUSED = ["severity", 'a="unterminated', 'a="x"y"', 'a=~"("', "=x", "{a=b}"]


@pytest.mark.parametrize("text", REFUSED)
def test_a_matcher_alertmanager_refuses_is_a_value_error(text):
    with pytest.raises(ValueError):
        prometheus.parse_matcher(text)


@pytest.mark.tools
@pytest.mark.parametrize("text", [*REFUSED[:-1], 'severity="critical"', "severity = critical",
                                  'spurious="a\\zb"', 'tab="x\\ty"', '"quoted name"=v',
                                  '9lives="x"', "spaced=two words", "namespace!=",
                                  'a=b, c=~"x|y"', "a=b,,c=d"])
def test_what_amtool_accepts_we_parse(tmp_path, text):
    amtool = native_tool("amtool")
    agree([str(amtool), "check-config", str(one_route(tmp_path, text))],
          prometheus.parse_matchers, text)


def test_a_matcher_list_splits_on_commas_outside_quotes():
    assert prometheus.parse_matchers('{foo = "bar", dings != "bums", }') == [
        Matcher("foo", "=", "bar"), Matcher("dings", "!=", "bums")]
    assert prometheus.parse_matchers('greeting="hi, there",x=~"a|b"') == [
        Matcher("greeting", "=", "hi, there"), Matcher("x", "=~", "a|b")]


def test_a_regex_matcher_is_anchored_and_a_missing_label_is_empty():
    assert Matcher("code", "=~", "5..").matches({"code": "503"})
    assert not Matcher("code", "=~", "5..").matches({"code": "5031"})
    assert Matcher("team", "=", "").matches({})
    assert Matcher("team", "!~", ".+").matches({})


def one_route(tmp_path: Path, matcher: str) -> Path:
    config = {"route": {"receiver": "miss", "routes": [{"receiver": "hit", "matchers": [matcher]}]},
              "receivers": [{"name": "miss"}, {"name": "hit"}]}
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.tools
@pytest.mark.parametrize(("matcher", "labels"), [
    ('foo=~"a|b"', {"foo": "a"}), ('foo=~"a|b"', {"foo": "ab"}),
    ("foo!=bar", {"foo": "bar"}), ("foo!=bar", {"other": "x"}),
    ('foo!~"ba."', {"foo": "baz"}), ('foo!~"ba."', {"foo": "qux"}),
    ('quote="say \\"hi\\""', {"quote": 'say "hi"'}),
    ('tab="x\\ty"', {"tab": "x\ty"}), ('tab="x\\ty"', {"tab": "x\\ty"}),
    ('spurious="a\\zb"', {"spurious": "a\\zb"}),
    ('team=""', {"severity": "x"}), ('team=""', {"team": "dpp"}),
])
def test_matching_agrees_with_amtool(tmp_path, matcher, labels):
    amtool = native_tool("amtool")
    config = one_route(tmp_path, matcher)
    done = subprocess.run([str(amtool), "config", "routes", "test", f"--config.file={config}",
                           *(str(Matcher(k, "=", v)) for k, v in labels.items())],
                          capture_output=True, text=True, check=False)
    ours = [end.receiver for end in prometheus.routes_for(yaml.safe_load(config.read_text()),
                                                          labels)]
    answer = done.stdout.strip().splitlines()[-1]  # after amtool's parser warnings, if any
    assert answer.split(",") == ours, done.stdout + done.stderr


# --- durations -----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "seconds"), [
    ("0", 0), ("0s", 0), ("1m30s", 90), ("250ms", 0.25), ("1d1h", 90000),
    ("1y2w3d4h5m6s7ms", 31536000 + 2 * 604800 + 3 * 86400 + 4 * 3600 + 5 * 60 + 6.007),
])
def test_durations(text, seconds):
    assert prometheus.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1.5m", "15", "1h1d", "10S", "1 m"])
def test_a_duration_prometheus_refuses_is_a_value_error(text):
    with pytest.raises(ValueError):
        prometheus.parse_duration(text)


def test_a_duration_field_names_the_field():
    assert prometheus.duration_field({}, "interval", 7.0) == 7.0
    with pytest.raises(ConfigError) as raised:
        prometheus.duration_field({"group_wait": 15}, "group_wait", 0.0, "route.")
    assert raised.value.field == "route.group_wait"


@pytest.mark.tools
@pytest.mark.parametrize("text", ["0", "0s", "1m30s", "250ms", "1d1h", "1y2w3d4h5m6s7ms",
                                  "", "1.5m", "15", "1h1d", "10S"])
def test_durations_agree_with_promtool(tmp_path, text):
    promtool = native_tool("promtool")
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"evaluation_interval": text}}))
    agree([str(promtool), "check", "config", str(config)], prometheus.parse_duration, text)


# --- the route tree ------------------------------------------------------------------------

@pytest.mark.tools
@pytest.mark.parametrize("labels", [
    {"alertname": "Watchdog", "severity": "none"},
    {"alertname": "SmokeTestCritical", "severity": "critical", "namespace": "smoke-test"},
    {"alertname": "X", "severity": "warning"},
    {"alertname": "X", "severity": "info"},
    {"alertname": "UnlabelledAlert"},
])
def test_route_matching_agrees_with_amtool(labels):
    amtool = native_tool("amtool")
    config = REPO / layout.ALERTMANAGER_CONFIG
    ours = [end.receiver for end in prometheus.routes_for(ALERTMANAGER, labels)]
    done = subprocess.run([str(amtool), "config", "routes", "test", f"--config.file={config}",
                           *(f"{k}={v}" for k, v in labels.items())],
                          capture_output=True, text=True, check=False)
    assert done.stdout.strip().split(",") == ours, done.stdout + done.stderr


def test_continue_and_inherited_group_wait():
    config = {"route": {"receiver": "root", "group_wait": "10s", "routes": [
        {"receiver": "first", "matchers": ["severity=critical"], "continue": True},
        {"receiver": "second", "match": {"severity": "critical"}, "group_wait": "1m"},
        {"receiver": "never", "match_re": {"severity": ".*"}}]}}
    assert prometheus.routes_for(config, {"severity": "critical"}) == [
        RouteEnd("first", 10.0), RouteEnd("second", 60.0)]
    assert prometheus.routes_for(config, {"severity": "info"}) == [RouteEnd("never", 10.0)]
    assert prometheus.routes_for({}, {}) == [RouteEnd("", prometheus.DEFAULT_GROUP_WAIT)]


def test_a_route_of_the_wrong_shape_names_its_field():
    with pytest.raises(ConfigError) as raised:
        prometheus.routes_for({"route": {"routes": [{"matchers": ["9x"]}]}}, {})
    assert raised.value.field == "route.routes[0].matchers[0]"
    with pytest.raises(ConfigError) as raised:
        prometheus.routes_for({"route": {"routes": {"receiver": "x"}}}, {})
    assert raised.value.field == "route.routes"


# --- static targets ------------------------------------------------------------------------

def test_static_targets_of_the_compose_config():
    config = yaml.safe_load((REPO / layout.PROMETHEUS_DIR / "prometheus.yml").read_text())
    targets = prometheus.static_targets(config)
    assert targets["backend"] == ["backend:8000"]
    assert targets["alerting"] == prometheus.alertmanager_targets(config) == ["alertmanager:9093"]
    assert "alerting" not in prometheus.scrape_targets(config)
    assert prometheus.static_targets(None) == {}


@pytest.mark.parametrize(("config", "field"), [
    ({"scrape_configs": {"job_name": "x"}}, "scrape_configs"),
    ({"scrape_configs": [{"job_name": "x", "static_configs": {"targets": ["a:1"]}}]},
     "scrape_configs[0].static_configs"),
    ({"scrape_configs": [{"job_name": "x", "static_configs": [{"targets": "a:1"}]}]},
     "scrape_configs[0].static_configs[0].targets"),
    ({"alerting": {"alertmanagers": [["am:9093"]]}}, "alerting.alertmanagers[0]"),
    (["not", "a", "mapping"], "(top level)"),
])
def test_static_targets_of_the_wrong_shape_name_the_field(config, field):
    with pytest.raises(ConfigError) as raised:
        prometheus.static_targets(config)
    assert raised.value.field == field


def test_receivers_of_the_wrong_shape_name_the_field():
    assert [r["name"] for r in prometheus.receivers(ALERTMANAGER)] == [
        r["name"] for r in ALERTMANAGER["receivers"]]
    with pytest.raises(ConfigError) as raised:
        prometheus.receivers({"receivers": [{"name": "x", "webhook_configs": [["url"]]}]})
    assert raised.value.field == "receivers[0].webhook_configs[0]"


# --- rule files ----------------------------------------------------------------------------

def test_rule_files_are_the_yml_directly_in_the_rules_directory():
    rules = layout.RULES_DIR
    assert prometheus.rule_files([f"{rules}/b.yml", f"{rules}/a.yml", f"{rules}/tests/a_test.yml",
                                  f"{rules}/notes.md", "infra/monitoring/prometheus/prometheus.yml"]
                                 ) == [f"{rules}/a.yml", f"{rules}/b.yml"]


def test_the_rule_files_of_the_repo_are_the_yml_files_of_the_rules_directory():
    """Against the directory itself (the plan and smoke both ask the model)."""
    on_disk = sorted(f"{layout.RULES_DIR}/{p.name}" for p in (REPO / layout.RULES_DIR).glob("*.yml"))
    assert on_disk and prometheus.rule_files(Tree.from_path(REPO).files) == on_disk


def test_listed_rule_files_resolve_against_the_config_directory():
    config = yaml.safe_load((REPO / layout.PROMETHEUS_K8S).read_text())
    listed = prometheus.listed_rule_files(config, layout.PROMETHEUS_K8S)
    assert f"{layout.RULES_DIR}/kubernetes.yml" in listed
    assert listed <= set(prometheus.rule_files(Tree.from_path(REPO).files))


def test_file_fields_are_found_at_any_depth():
    found = dict(prometheus.file_fields(ALERTMANAGER))
    assert found and all(key.endswith("_file") for key in found)
    assert list(prometheus.file_fields({"a": [{"http_config": {"password_file": "/s"}}]})) == [
        ("password_file", "/s")]


# --- relabelling: model/relabel.py against the real Prometheus -------------------------------
#
# The targets checks/chart/scrape.py discovers in the staging render (and cluster-objects.yaml)
# are handed to the pinned Prometheus server through file_sd, each job with the relabel
# configs of prometheus.k8s.yml or of a rendered ServiceMonitor's translation. Prometheus'
# own /api/v1/targets must then list exactly the targets, labels and scrape URLs our
# relabelling computes, and drop the same number per job.

K8S = REPO / "infra/monitoring/prometheus/prometheus.k8s.yml"
CLUSTER = REPO / "infra/monitoring/kubernetes/cluster-objects.yaml"
POLL = 0.1  # seconds between two looks at /api/v1/targets
RELABEL_DIFFERENTIAL = "test_prometheus_keeps_and_labels_exactly_what_we_compute"


def jobs_and_targets(staging: str):
    docs = load(staging)
    cluster = build_cluster(docs, NAMESPACE, load(CLUSTER.read_text()))
    config = yaml.safe_load(K8S.read_text())
    jobs = [j for j in config["scrape_configs"] if j.get("kubernetes_sd_configs")]
    for monitor in of_kind(docs, "ServiceMonitor"):
        for index, endpoint in enumerate(monitor["spec"]["endpoints"]):
            jobs.append(service_monitor_job(monitor, NAMESPACE, index, endpoint))
    found = []
    for job in jobs:
        targets = [t for sd in job["kubernetes_sd_configs"] for t in ROLES[sd["role"]](cluster)
                   if _in_namespaces(t, sd)]
        found.append((job, targets))
    return config.get("global") or {}, found


def ours(found, global_cfg) -> tuple[dict[str, list[str]], dict[str, int]]:
    """What model/relabel.py keeps of each job's targets (labels and scrape URL), and how
    many it drops."""
    expected, dropped = {}, {}
    for job, targets in found:
        rules = parse_rules(job.get("relabel_configs"))
        kept = [populate(t, job, rules, global_cfg["scrape_interval"], global_cfg["scrape_timeout"])
                for t in targets]
        kept = [k for k in kept if k is not None]
        expected[job["job_name"]] = sorted(
            json.dumps([{k: v for k, v in k_.items() if not k.startswith("__")},
                        f"{k_['__scheme__']}://{k_['__address__']}{k_['__metrics_path__']}"], sort_keys=True)
            for k_ in kept)
        dropped[job["job_name"]] = len(targets) - len(kept)
    return expected, dropped


@dataclass
class RelabelServer:
    """Prometheus serving the staging render's jobs through file_sd, and what they are."""

    process: subprocess.Popen
    port: int
    log: Path
    global_cfg: dict
    found: list

    def errors(self) -> str:
        return self.log.read_text()


def prometheus_binary() -> str | None:
    """The pinned Prometheus (scripts/bootstrap), else one on PATH, else None."""
    native = toolchain.native_bin() / "prometheus"
    return str(native) if native.is_file() else shutil.which("prometheus")


def start_relabel_server(binary: str, directory: Path, staging: str) -> RelabelServer:
    """Prometheus started with every job of `staging`, each job's targets in its file_sd file."""
    global_cfg, found = jobs_and_targets(staging)
    scrape_configs = []
    for index, (job, targets) in enumerate(found):
        sd_file = directory / f"sd-{index}.json"
        sd_file.write_text(json.dumps([{"targets": [t["__address__"]],
                                        "labels": {k: v for k, v in t.items() if k != "__address__"}}
                                       for t in targets]))
        real = {k: v for k, v in job.items() if k != "kubernetes_sd_configs"}
        real["file_sd_configs"] = [{"files": [str(sd_file)]}]
        scrape_configs.append(real)
    config = directory / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": global_cfg, "scrape_configs": scrape_configs}))
    port, log = free_port(), directory / "prometheus.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
                                    f"--web.listen-address=127.0.0.1:{port}"],
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    return RelabelServer(process, port, log, global_cfg, found)


@pytest.fixture(scope="module", autouse=True)
def relabel_server(request, tmp_path_factory, rendered) -> Iterator[RelabelServer | None]:
    """The server of RELABEL_DIFFERENTIAL, started with the module's first test when that test
    is selected: its discovery publishes targets on a 5 s ticker that runs from its start
    (Prometheus 2.51 discovery/manager.go sender, updatert; scrape/manager.go reloader, never
    under 5 s), so the module's other tests (amtool, promtool) run meanwhile, and its test, the
    module's last, reads what it publishes. Stopped with the module."""
    selected = any(item.name == RELABEL_DIFFERENTIAL and item.module is request.module
                   for item in request.session.items)
    binary = prometheus_binary()
    if not (selected and binary):
        yield None
        return
    server = start_relabel_server(binary, tmp_path_factory.mktemp("relabel"), rendered("staging"))
    try:
        yield server
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)


@pytest.mark.tools
def test_prometheus_keeps_and_labels_exactly_what_we_compute(relabel_server):
    if relabel_server is None:
        pytest.skip("prometheus not installed (scripts/bootstrap)")
    server = relabel_server
    expected, dropped = ours(server.found, server.global_cfg)
    assert sum(len(v) for v in expected.values()) >= 15, expected
    deadline = time.monotonic() + 60
    active: dict[str, list[str]] = {}
    gone: dict[str, int] = {}
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"Prometheus exited ({server.process.returncode}): "
                                 f"{server.errors()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/v1/targets",
                                        timeout=5) as answer:
                data = json.load(answer)["data"]
        except OSError:
            time.sleep(POLL)
            continue
        active, gone = {}, {}
        for target in data["activeTargets"]:
            active.setdefault(target["scrapePool"], []).append(
                json.dumps([target["labels"], target["scrapeUrl"]], sort_keys=True))
        for target in data["droppedTargets"]:
            pool = target["discoveredLabels"].get("job", "")
            gone[pool] = gone.get(pool, 0) + 1
        if sum(len(v) for v in active.values()) >= sum(len(v) for v in expected.values()) and \
                sum(gone.values()) >= sum(dropped.values()):
            break
        time.sleep(POLL)
    assert {job: sorted(v) for job, v in active.items()} == {j: v for j, v in expected.items() if v}, \
        server.errors()
    assert gone == {j: n for j, n in dropped.items() if n}, server.errors()
