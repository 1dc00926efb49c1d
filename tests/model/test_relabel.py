"""Prometheus relabel semantics (model/relabel.py).

The cases marked "upstream" are taken from prometheus/prometheus v2.51.0
`model/relabel/relabel_test.go` (inputs and expected outputs unchanged).
"""

from __future__ import annotations

import pytest

from pipeline.model.relabel import RelabelError, parse_rules, populate, process


def relabel(labels, *rules):
    return process(labels, parse_rules(list(rules)))


def test_upstream_replace_with_braced_groups():
    out = relabel({"a": "foo", "b": "bar", "c": "baz"},
                  {"source_labels": ["a"], "regex": "f(.*)", "target_label": "d",
                   "replacement": "ch${1}-ch${1}"})
    assert out == {"a": "foo", "b": "bar", "c": "baz", "d": "choo-choo"}


def test_upstream_replace_chain_with_separator():
    out = relabel({"a": "foo", "b": "bar", "c": "baz"},
                  {"source_labels": ["a", "b"], "regex": "f(.*);(.*)r", "target_label": "a",
                   "replacement": "b${1}${2}m"},
                  {"source_labels": ["c", "a"], "regex": "(b).*b(.*)ba(.*)", "target_label": "d",
                   "replacement": "$1$2$2$3"})
    assert out == {"a": "boobam", "b": "bar", "c": "baz", "d": "boooom"}


def test_upstream_hashmod():
    assert relabel({"c": "baz"}, {"source_labels": ["c"], "target_label": "d", "action": "hashmod",
                                  "modulus": 1000})["d"] == "976"
    assert relabel({"a": "foo\nbar"}, {"source_labels": ["a"], "target_label": "b",
                                       "action": "hashmod", "modulus": 1000})["b"] == "734"


def test_regexes_are_anchored():
    # `.*-controlplane` matches a whole value only: "x-controlplane-y" is not kept.
    rule = {"source_labels": ["n"], "regex": ".*-controlplane", "action": "keep"}
    assert relabel({"n": "dpp-edc-controlplane"}, rule) is not None
    assert relabel({"n": "dpp-edc-controlplane-y"}, rule) is None
    # a trailing newline does not satisfy Go's `$` (Python's `$` would accept it)
    assert relabel({"n": "a\n"}, {"source_labels": ["n"], "regex": "a", "action": "keep"}) is None


def test_missing_source_labels_join_as_empty_strings():
    rule = {"source_labels": ["a", "missing", "b"], "regex": "x;;y", "action": "keep"}
    assert relabel({"a": "x", "b": "y"}, rule) is not None


def test_go_expansion_names_and_empty_result_deletes():
    # `$1x` is the group named "1x", which does not exist: it expands to "".
    assert relabel({"a": "foo"}, {"source_labels": ["a"], "regex": "(f)oo", "target_label": "b",
                                  "replacement": "$1x"}) == {"a": "foo"}
    # an empty replacement deletes the target label; `$$` is a literal dollar
    assert relabel({"a": "foo", "b": "old"}, {"source_labels": ["a"], "target_label": "b",
                                              "replacement": ""}) == {"a": "foo"}
    assert relabel({"a": "foo"}, {"source_labels": ["a"], "target_label": "b",
                                  "replacement": "$$1"})["b"] == "$1"


def test_labelmap_labeldrop_keepequal():
    labels = {"__meta_kubernetes_pod_label_app": "api", "__meta_kubernetes_pod_label_tier": "web",
              "job": "x"}
    out = relabel(labels, {"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"})
    assert out["app"] == "api" and out["tier"] == "web"
    out = relabel(out, {"action": "labeldrop", "regex": "tier"})
    assert "tier" not in out
    assert relabel({"a": "1", "b": "1"}, {"source_labels": ["a"], "target_label": "b",
                                          "action": "keepequal"}) is not None
    assert relabel({"a": "1", "b": "2"}, {"source_labels": ["a"], "target_label": "b",
                                          "action": "keepequal"}) is None


def test_populate_seeds_job_drops_meta_and_defaults_instance():
    out = populate({"__address__": "10.0.0.1", "__meta_x": "y"}, {"job_name": "backend"}, [])
    assert out == {"__address__": "10.0.0.1:80", "instance": "10.0.0.1:80", "job": "backend",
                   "__metrics_path__": "/metrics", "__scheme__": "http",
                   "__scrape_interval__": "1m", "__scrape_timeout__": "10s"}


def test_invalid_configs_are_errors():
    with pytest.raises(RelabelError, match="requires 'target_label'"):
        parse_rules([{"source_labels": ["a"], "action": "replace"}])
    with pytest.raises(RelabelError, match="unknown relabel action"):
        parse_rules([{"action": "keepall"}])
    with pytest.raises(RelabelError, match="does not compile"):
        parse_rules([{"source_labels": ["a"], "regex": "(", "action": "keep"}])
