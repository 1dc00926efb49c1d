"""The NetworkPolicy reachability check fails on any missing or extra edge."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from tests.support import warmchecks
from tests.support.repo import REPO, output, run_check

pytestmark = pytest.mark.tools

EDGES = REPO / "infra/helm/network-edges.yaml"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_matrix_equals_intended_edges(env):
    result = run_check(f"chart/netpol-{env}")
    assert result.returncode == 0, output(result)
    assert "exactly the intended edges" in result.stdout


def test_wrong_monitoring_namespace_loses_edges():
    result = run_check("chart/netpol-dev", "--set", "networkPolicy.monitoring.namespace=observability")
    assert result.returncode != 0
    assert "missing edge monitoring -> backend:8000/TCP" in output(result)


def test_wrong_dns_namespace_adds_and_loses_edges():
    result = run_check("chart/netpol-dev", "--set", "networkPolicy.dns.namespace=tenant-a")
    assert result.returncode != 0
    assert "missing edge backend -> kube-dns:53/UDP" in output(result)
    assert "extra edge backend -> lookalike-dns:53/UDP" in output(result)


def test_disabling_policies_fails():
    result = run_check("chart/netpol-dev", "--set", "networkPolicy.enabled=false")
    assert result.returncode != 0


def run_with_edges(tmp_path: Path, mutate, render_text: str) -> str:
    spec = yaml.safe_load(EDGES.read_text())
    mutate(spec)
    edges = tmp_path / "edges.yaml"
    edges.write_text(yaml.safe_dump(spec))
    out = warmchecks.run([sys.executable, "-m", "pipeline.checks.chart.netpol", "--edges", str(edges), "--env", "dev"],
                         REPO, input=render_text)
    assert out.returncode != 0, out.stdout
    return out.stdout + out.stderr


def test_edge_removed_from_data_is_extra(tmp_path, rendered):
    def drop(spec):
        spec["environments"]["dev"]["edges"] = [
            [e for e in group if e != "backend -> redis:6379"] for group in spec["environments"]["dev"]["edges"]]
    assert "extra edge backend -> redis:6379/TCP" in run_with_edges(tmp_path, drop, rendered("dev"))


def test_edge_added_to_data_is_missing(tmp_path, rendered):
    def add(spec):
        spec["environments"]["dev"]["edges"].append(["frontend -> postgresql:5432"])
    assert "missing edge frontend -> postgresql:5432/TCP" in run_with_edges(tmp_path, add, rendered("dev"))


def test_lookalike_in_other_namespace_reaches_nothing(rendered):
    out = warmchecks.run([sys.executable, "-m", "pipeline.checks.chart.netpol", "--edges", str(EDGES), "--env", "dev",
                          "--print"], REPO, input=rendered("dev"))
    assert out.returncode == 0, out.stderr
    assert "lookalike" not in out.stdout.replace("-> lookalike", "")
    assert "backend -> postgresql:5432/TCP" in out.stdout


def test_keycloak_cluster_edges_need_two_replicas():
    """JGroups (7800) and FD_SOCK2 (57800) between Keycloaks exist only for a cluster."""
    result = run_check("chart/netpol-prod", "--set", "keycloak.replicas=1")
    assert result.returncode != 0
    assert "missing edge keycloak -> keycloak:7800/TCP" in output(result)
    assert "missing edge keycloak -> keycloak:57800/TCP" in output(result)


def test_a_policy_error_names_the_policy_and_its_template_and_dumps_nothing():
    result = run_check("chart/netpol-dev", "--set", "networkPolicy.dns.namespace=tenant-a")
    assert result.returncode != 0
    line = next(x for x in output(result).splitlines() if "missing edge backend -> kube-dns:53/UDP" in x)
    assert "egress of backend limited by" in line and "NetworkPolicy/dpp-platform-dns" in line
    assert "[infra/helm/dpp-platform/templates/networkpolicy.yaml]" in line
    extra = next(x for x in output(result).splitlines() if "extra edge backend -> lookalike-dns:53/UDP" in x)
    assert "admitted by NetworkPolicy/dpp-platform-dns" in extra
    assert "computed edge" not in output(result)  # no matrix before the useful lines


def test_print_labels_the_matrix():
    result = run_check("chart/netpol-dev", check_args=("--print",))
    assert result.returncode == 0, output(result)
    assert result.stdout.startswith("INFO infra/helm/network-edges.yaml: dev: computed edge "), result.stdout


def test_an_edge_without_a_port_is_a_problem_naming_the_edges_file(tmp_path, rendered):
    def portless(spec):
        spec["environments"]["dev"]["edges"].append(["backend -> postgresql"])
    out = run_with_edges(tmp_path, portless, rendered("dev"))
    assert "edges.yaml: dev: port '' is not NUMBER[/PROTOCOL]" in out, out
    assert "Traceback" not in out
