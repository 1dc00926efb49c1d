"""The PromQL metric-name extractor the metrics contract check relies on."""

from __future__ import annotations

import pytest

from pipeline.checks.monitoring.promql import (PromQLTokenError, add_matcher, label_matcher,
                                              metric_names, selectors, substitute_grafana_variables)


@pytest.mark.parametrize(("expr", "names"), [
    ('sum by (job, namespace) (rate(http_requests_total{status=~"5.."}[5m]))',
     {"http_requests_total"}),
    ("sum(rate(x_total[5m])) by (le)", {"x_total"}),
    ("time() - max by (job) (dpp_last_timestamp_seconds) > 3600", {"dpp_last_timestamp_seconds"}),
    ('(up{job="edc"} == 0) or (edc_ready{component="cp"} == 0)', {"up", "edc_ready"}),
    ("a / on(instance) group_left(node, pod) b offset 5m", {"a", "b"}),
    ("a * ignoring(handler) group_right b", {"a", "b"}),
    ("sum without (pod, instance) (job:http_requests:rate5m)", {"job:http_requests:rate5m"}),
    ('{__name__="named_total", job="x"}', {"named_total"}),
    ('label_replace(foo, "dst", "$1", "src", "(sum|rate)")', {"foo"}),
    ('count_values("version", build_info)', {"build_info"}),
    ("topk(3, sum by (handler) (rate(reqs_total[1h30m])))", {"reqs_total"}),
    ("max_over_time(g[1h:5m]) @ end()", {"g"}),
    ("vector(1)", set()),
    ("1e3 * 0x1F + Inf - NaN + .5", set()),
    ("x and bool y unless z", {"x", "y", "z"}),
    ('histogram_quantile(0.95, sum(rate(h_bucket[$__rate_interval])) by (le))', {"h_bucket"}),
    ('rate(by_name_total[5m])', {"by_name_total"}),  # a metric whose name starts with a keyword
    ("sum(x) # a comment naming not_a_metric\n", {"x"}),
])
def test_metric_names(expr, names):
    assert metric_names(expr) == names


def test_an_unterminated_string_is_an_error():
    with pytest.raises(PromQLTokenError):
        metric_names('up{job="x}')


def test_an_unbalanced_brace_is_an_error():
    with pytest.raises(PromQLTokenError):
        metric_names("rate(x[5m)")


@pytest.mark.parametrize(("expr", "expected"), [
    ("rate(x[$__rate_interval])", "rate(x[5m])"),
    ("rate(x[${__rate_interval}])", "rate(x[5m])"),
    ('up{job="$job", instance=~"${instance:regex}"}', 'up{job="placeholder", instance=~"placeholder"}'),
    ("increase(x[$__range]) / $__range_s", "increase(x[1h]) / 3600"),
])
def test_grafana_variables_are_substituted(expr, expected):
    assert substitute_grafana_variables(expr) == expected


@pytest.mark.parametrize(("expr", "scoped"), [
    ('absent(up{job="edc"})', 'absent(up{namespace="ns", job="edc"})'),
    ("sum by (job, namespace) (rate(x_total[5m]))", 'sum by (job, namespace) (rate(x_total{namespace="ns"}[5m]))'),
    ("a:b:c > 0.05 and d:e:f >= 0.1", 'a:b:c{namespace="ns"} > 0.05 and d:e:f{namespace="ns"} >= 0.1'),
    ('{__name__="a"}', '{namespace="ns", __name__="a"}'),
    ("up {}", 'up {namespace="ns"}'),
    ('x{namespace="other"} + y', 'x{namespace="other"} + y{namespace="ns"}'),  # already scoped: kept
    ('kube_x{kube_namespace="a"}', 'kube_x{namespace="ns", kube_namespace="a"}'),
    ("vector(1)", "vector(1)"),
    ('label_replace(up, "namespace", "$1", "n", "(.*)")', 'label_replace(up{namespace="ns"}, "namespace", "$1", "n", "(.*)")'),
])
def test_add_matcher_scopes_every_selector(expr, scoped):
    assert add_matcher(expr, 'namespace="ns"', "namespace") == scoped
    assert all(label_matcher(s, "namespace") for s in selectors(scoped))
