"""The render model: documents, templates, workloads, effective env and the two selector shapes."""

from __future__ import annotations

import pytest

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
