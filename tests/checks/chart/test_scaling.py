"""The hpa-replicas, pdb and topology-spread rules over a real prod render, mutated."""

from __future__ import annotations

import pytest

from pipeline.checks.chart import scaling
from tests.support.docs import find, messages

pytestmark = pytest.mark.tools


def test_hpa_managed_workload_must_omit_replicas(prod_docs):
    docs = prod_docs  # this test's own copy (conftest)
    find(docs, "Deployment", "dpp-platform-backend")["spec"]["replicas"] = 3
    out = messages(scaling.check_hpa_replicas(docs, "production"))
    assert any(m.startswith("Deployment/dpp-platform-backend: spec.replicas: must be left out") for m in out), out


def test_pdb_over_single_replica_blocks_drain(prod_docs):
    docs = prod_docs  # this test's own copy (conftest)
    hpa = find(docs, "HorizontalPodAutoscaler", "dpp-platform-backend")
    hpa["spec"]["minReplicas"] = 1
    out = messages(scaling.check_pdb(docs, "production"))
    assert any(m.startswith("PodDisruptionBudget/dpp-platform-backend: spec.selector: covers 1 pod") for m in out), out


def test_an_empty_pdb_selector_covers_every_workload(prod_docs):
    """policy/v1: `selector: {}` selects every pod of the namespace (not none)."""
    docs = prod_docs  # this test's own copy (conftest)
    find(docs, "PodDisruptionBudget", "dpp-platform-backend")["spec"]["selector"] = {}
    out = messages(scaling.check_pdb(docs, "production"))
    assert not any("PodDisruptionBudget/dpp-platform-backend: spec.selector: selects no workload" in m
                   for m in out), out


def test_a_pdb_without_a_selector_selects_nothing(prod_docs):
    """A null selector selects no pods: the PDB protects nothing."""
    docs = prod_docs  # this test's own copy (conftest)
    del find(docs, "PodDisruptionBudget", "dpp-platform-backend")["spec"]["selector"]
    assert "PodDisruptionBudget/dpp-platform-backend: spec.selector: selects no workload of the release [pdb]" \
        in messages(scaling.check_pdb(docs, "production"))


def test_a_spread_constraint_must_select_its_own_pods(prod_docs):
    docs = prod_docs  # this test's own copy (conftest)
    constraint = find(docs, "Deployment", "dpp-platform-backend")["spec"]["template"]["spec"][
        "topologySpreadConstraints"][0]
    constraint["labelSelector"] = {"matchLabels": {"app.kubernetes.io/component": "frontend"}}
    out = messages(scaling.check_topology_spread(docs, "production"))
    assert any(m.startswith("Deployment/dpp-platform-backend: spec.template.spec.topologySpreadConstraints[0]"
                            ".labelSelector: does not select the workload's own pods") for m in out), out
