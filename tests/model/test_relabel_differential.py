"""model/relabel.py against the real Prometheus: the same targets, the same answer.

The targets checks/chart/scrape.py discovers in the staging render (and cluster-objects.yaml)
are handed to the pinned Prometheus server through file_sd, each job with the relabel
configs of prometheus.k8s.yml or of a rendered ServiceMonitor's translation. Prometheus'
own /api/v1/targets must then list exactly the targets, labels and scrape URLs our
relabelling computes, and drop the same number per job.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml

from pipeline.checks.files import load_yaml
from pipeline.checks.chart.scrape import ROLES, _in_namespaces, build_cluster, service_monitor_job
from pipeline.layout import NAMESPACE
from pipeline.model.relabel import parse_rules, populate
from pipeline.model.kube import load, of_kind
from tests.support.repo import REPO, binary
from tests.support.postgres import free_port

pytestmark = pytest.mark.tools

K8S = REPO / "infra/monitoring/prometheus/prometheus.k8s.yml"
CLUSTER = REPO / "infra/monitoring/kubernetes/cluster-objects.yaml"
POLL = 0.25  # seconds between two looks at /api/v1/targets (each look: ~10 ms CPU here)


def jobs_and_targets(staging: str):
    docs = load(staging)
    cluster = build_cluster(docs, NAMESPACE, load(CLUSTER.read_text()))
    config = load_yaml(K8S)
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


def reload(port: int, deadline: float) -> None:
    """POST /-/reload (--web.enable-lifecycle): answered once the config is applied, 500
    with the cause if Prometheus refused it (Prometheus 2.51 web/web.go Handler.reload)."""
    while True:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/-/reload", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30):
                return
        except urllib.error.HTTPError as refused:
            raise AssertionError(f"Prometheus refused the config: {refused.read()!r}") from None
        except OSError:  # not listening yet
            if time.monotonic() > deadline:
                raise
            time.sleep(POLL)


def test_prometheus_keeps_and_labels_exactly_what_we_compute(tmp_path, rendered):
    global_cfg = load_yaml(K8S).get("global") or {}
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": global_cfg}))
    port = free_port()
    # Started first, and given the jobs by a reload: its discovery publishes targets on a 5 s
    # ticker that runs from its start (Prometheus 2.51 discovery/manager.go sender, updatert;
    # scrape/manager.go reloader), so the render and our relabelling run meanwhile.
    server = subprocess.Popen([binary("prometheus"), f"--config.file={config}",
                               f"--storage.tsdb.path={tmp_path / 'data'}",
                               f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        global_cfg, found = jobs_and_targets(rendered("staging"))
        scrape_configs = []
        for index, (job, targets) in enumerate(found):
            sd_file = tmp_path / f"sd-{index}.json"
            sd_file.write_text(json.dumps([{"targets": [t["__address__"]],
                                            "labels": {k: v for k, v in t.items() if k != "__address__"}}
                                           for t in targets]))
            real = {k: v for k, v in job.items() if k != "kubernetes_sd_configs"}
            real["file_sd_configs"] = [{"files": [str(sd_file)]}]
            scrape_configs.append(real)
        config.write_text(yaml.safe_dump({"global": global_cfg, "scrape_configs": scrape_configs}))
        deadline = time.monotonic() + 60
        reload(port, deadline)
        expected, dropped = ours(found, global_cfg)
        assert sum(len(v) for v in expected.values()) >= 15, expected
        active: dict[str, list[str]] = {}
        gone: dict[str, int] = {}
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5) as answer:
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
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
    assert {job: sorted(v) for job, v in active.items()} == {j: v for j, v in expected.items() if v}, errors
    assert gone == {j: n for j, n in dropped.items() if n}, errors
