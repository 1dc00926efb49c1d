"""The render model: documents, templates, workloads, effective env and the two selector shapes."""

from __future__ import annotations

import pytest
import yaml

from pipeline.model import kube
from pipeline.model.kube import (containers, effective_env, label_selector_matches, load, service_selects,
                                 template_sources, workloads)

POD = {"app.kubernetes.io/name": "dpp", "app.kubernetes.io/component": "backend"}


# ----------------------------------------------------------------- LabelSelector
# apimachinery LabelSelectorAsSelector: nil -> Nothing(), {} -> Everything()

def test_an_empty_label_selector_selects_every_pod():
    assert label_selector_matches({}, POD)
    assert label_selector_matches({}, {})
    assert label_selector_matches({"matchLabels": {}, "matchExpressions": []}, POD)


def test_a_nil_label_selector_selects_nothing():
    assert not label_selector_matches(None, POD)


@pytest.mark.parametrize("selector, selected", [
    ({"matchLabels": {"app.kubernetes.io/component": "backend"}}, True),
    ({"matchLabels": {"app.kubernetes.io/component": "frontend"}}, False),
    ({"matchExpressions": [{"key": "app.kubernetes.io/component", "operator": "In",
                            "values": ["backend", "worker"]}]}, True),
    ({"matchExpressions": [{"key": "app.kubernetes.io/component", "operator": "NotIn",
                            "values": ["backend"]}]}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, True),
    ({"matchLabels": {"app.kubernetes.io/name": "dpp"},
      "matchExpressions": [{"key": "app.kubernetes.io/component", "operator": "DoesNotExist"}]}, False),
])
def test_match_labels_and_expressions_all_must_hold(selector, selected):
    assert label_selector_matches(selector, POD) is selected


# ----------------------------------------------------------------- Service spec.selector

def test_a_service_without_a_selector_selects_no_pods():
    assert not service_selects(None, POD)
    assert not service_selects({}, POD)
    assert not service_selects({}, {})


def test_a_service_selector_is_a_subset_of_the_pod_labels():
    assert service_selects({"app.kubernetes.io/component": "backend"}, POD)
    assert not service_selects({"app.kubernetes.io/component": "backend", "extra": "x"}, POD)


# ----------------------------------------------------------------- documents

# As helm emits it: block style, a `# Source:` comment heading each document.
RENDER = """---
# Source: dpp-platform/templates/backend/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dpp-platform-backend
  labels:
    app.kubernetes.io/component: backend
spec:
  template:
    metadata:
      labels: {app.kubernetes.io/component: backend}
    spec:
      initContainers: [{name: migrate}]
      containers:
        - name: backend
          envFrom: [{configMapRef: {name: env}}]
          env:
            - {name: LEVEL, value: debug}
            - name: DB_PASSWORD
              valueFrom: {secretKeyRef: {name: db, key: password}}
---
# Source: dpp-platform/templates/config.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: env
data:
  LEVEL: info
  MODE: prod
---
# Source: dpp-platform/templates/cron.yaml
apiVersion: batch/v1
kind: CronJob
metadata:
  name: dpp-platform-backup
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: backup}]
"""


def test_documents_and_the_template_of_each():
    docs = load(RENDER + "---\n# empty\n")
    assert [d["kind"] for d in docs] == ["Deployment", "ConfigMap", "CronJob"]
    assert template_sources(RENDER) == {
        "Deployment/dpp-platform-backend": "dpp-platform/templates/backend/deployment.yaml",
        "ConfigMap/env": "dpp-platform/templates/config.yaml",
        "CronJob/dpp-platform-backup": "dpp-platform/templates/cron.yaml"}
    assert template_sources(RENDER, "infra/helm/dpp-platform")["ConfigMap/env"] == \
        "infra/helm/dpp-platform/templates/config.yaml"


def test_workloads_and_their_containers_with_field_paths():
    docs = load(RENDER)
    found = {doc["kind"]: base for doc, _, base in workloads(docs)}
    assert found == {"Deployment": "spec.template.spec", "CronJob": "spec.jobTemplate.spec.template.spec"}
    deployment = next(template for doc, template, _ in workloads(docs) if doc["kind"] == "Deployment")
    assert [path for _, path in containers(deployment["spec"], "spec.template.spec")] == [
        "spec.template.spec.initContainers[migrate]", "spec.template.spec.containers[backend]"]


def test_effective_env_is_envfrom_then_env():
    docs = load(RENDER)
    container = docs[0]["spec"]["template"]["spec"]["containers"][0]
    assert effective_env(container, docs) == {
        "LEVEL": "debug", "MODE": "prod",
        "DB_PASSWORD": {"secretKeyRef": {"name": "db", "key": "password"}}}


# ----------------------------------------------------------------- parsed ahead (the warm server)

SAFE_LOADED = list(yaml.safe_load_all(RENDER))  # PyYAML's pure-Python loader, not the code under test


@pytest.fixture
def ahead(monkeypatch) -> dict:
    """An empty table of parses made ahead, and a count of the parses load() makes itself."""
    monkeypatch.setattr(kube, "AHEAD", {})
    parses = []
    real = yaml.load_all
    monkeypatch.setattr(yaml, "load_all", lambda *a, **k: parses.append(1) or real(*a, **k))
    return {"parses": parses}


def test_a_parse_made_ahead_is_taken_once_for_exactly_the_same_text(ahead):
    kube.parse_ahead(RENDER)
    assert len(ahead["parses"]) == 1
    docs = load(RENDER)
    assert len(ahead["parses"]) == 1  # taken, not parsed again
    assert docs == SAFE_LOADED
    docs[0]["kind"] = "Changed"  # the taker's to change: the next load parses afresh
    assert load(RENDER)[0]["kind"] == "Deployment" and len(ahead["parses"]) == 2


def test_a_different_text_of_the_same_length_is_parsed_for_itself(ahead):
    kube.parse_ahead(RENDER)
    other = RENDER.replace("LEVEL: info", "LEVEL: warn")
    assert len(other) == len(RENDER)
    assert load(other)[1]["data"]["LEVEL"] == "warn"
    assert len(ahead["parses"]) == 2
    assert kube.content_key(other) != kube.content_key(RENDER)


@pytest.mark.parametrize("text, error", [("kind: [1, 2\nspec: {}\n", yaml.YAMLError),
                                         ("kind: ConfigMap\nwhen: 2020-13-45\n", ValueError)])
def test_a_text_that_does_not_parse_is_not_kept_and_load_fails_as_before(ahead, text, error):
    kube.parse_ahead(text)  # no exception here: it is load()'s to report
    assert kube.AHEAD == {}
    with pytest.raises(error) as ahead_then:
        load(text)
    kube.AHEAD.clear()
    with pytest.raises(error) as plain:
        kube._parse(text)
    assert str(ahead_then.value) == str(plain.value)
