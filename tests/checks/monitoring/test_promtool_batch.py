"""promtool in batches (executors/batch_promtool.py), with the real promtool: one process a
subcommand, and each check still gets exactly what promtool prints for its file alone
(its own argv, run alone, is the expected text) and its own verdict."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import anyio
import pytest

from pipeline import plan
from pipeline.executors import ERROR, FAILED, PASSED, batch, native
from pipeline.executors.cache import ResultCache
from tests.pipeline.test_batch import counting
from tests.support.monitoring import RULES, edit

pytestmark = pytest.mark.tools
PROMETHEUS_K8S = "infra/monitoring/prometheus/prometheus.k8s.yml"
UNCLOSED = ('(min_over_time(up{job="edc-controlplane"}[5m]) == 0)',
            '(min_over_time(up{job="edc-controlplane"}[5m]) == 0')
DUPLICATE = ("      - record: job:http_requests_5xx:rate5m\n",
             "      - record: job:http_requests:rate5m\n"
             "        expr: sum by (job, namespace) (rate(http_requests_total[5m]))\n"
             "      - record: job:http_requests_5xx:rate5m\n")
WRONG_ANNOTATION = ("10% of the requests served", "11% of the requests served")
HEADERS = {"check": "Checking ", "test": "Unit Testing:  "}  # what opens a file's text

# (case, selector, [(file, old, new)], {broken check: what promtool says about it})
CASES = [
    ("rule-parse-error", "monitoring/promtool-rules-*", [(f"{RULES}/edc.yml", *UNCLOSED)],
     {"monitoring/promtool-rules-edc": (
         f'{RULES}/edc.yml: 16:15: group "dpp-edc-agent", rule 1, "EdcControlPlaneDown": '
         "could not parse expression: 1:90: parse error: unclosed left parenthesis")}),
    # lint only: promtool alone exits 3 (--lint-fatal), not 1
    ("rule-lint-error", "monitoring/promtool-rules-*", [(f"{RULES}/recording.yml", *DUPLICATE)],
     {"monitoring/promtool-rules-recording": (
         "lint error 1 duplicate rule(s) found.\nMetric: job:http_requests:rate5m")}),
    # two failing test files, neither hides the other (nor the passing ones after them)
    ("unit-tests", "monitoring/promtool-test-*",
     [(f"{RULES}/tests/platform_test.yml", *WRONG_ANNOTATION), (f"{RULES}/edc.yml", *UNCLOSED)],
     {"monitoring/promtool-test-platform": "alertname: HighErrorRate, time: 10m,",
      "monitoring/promtool-test-edc": "could not parse expression: 1:90: parse error: "
                                      "unclosed left parenthesis"}),
    ("config", "monitoring/promtool-config-*",
     [(PROMETHEUS_K8S, "scrape_interval: 15s", "scrape_interval: 15x")],
     {"monitoring/promtool-config-prometheus-k8s": (
         f'FAILED: parsing YAML file {PROMETHEUS_K8S}: unknown unit "x" in duration "15x"')}),
    # a rule file's lint error fails both configs loading it (exit 3 alone)
    ("config-with-a-broken-rule-file", "monitoring/promtool-config-*",
     [(f"{RULES}/recording.yml", *DUPLICATE)],
     {"monitoring/promtool-config-prometheus": "lint error 1 duplicate rule(s) found.",
      "monitoring/promtool-config-prometheus-k8s": "lint error 1 duplicate rule(s) found."}),
]


def promtools(started: list[list[str]]) -> list[list[str]]:
    return [argv for argv in started if Path(argv[0]).name == "promtool"]


def selected(root: Path, selector: str) -> list[plan.Check]:
    return plan.select(plan.build(plan.Tree.from_path(root)), [selector])


def run_batched(root: Path, checks: list[plan.Check], cache: ResultCache | None = None):
    return {r.check.id: r for r in anyio.run(
        lambda: native.run_locally(checks, root, 2, cache=cache))}


def alone(root: Path, check: plan.Check):
    """The check run by its own argv, one promtool process for its one file."""
    return anyio.run(native.run_check, check, root, native.environment(root))


@pytest.mark.parametrize(("selector", "edits", "broken"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_one_promtool_a_subcommand_and_each_check_gets_its_files_text_and_verdict(
        root, monkeypatch, selector, edits, broken):
    for path, old, new in edits:
        edit(root / path, old, new)
    checks = selected(root, selector)
    assert len(checks) >= 2
    started = counting(monkeypatch)
    results = run_batched(root, checks)
    [argv] = promtools(started)  # one process for every file of the subcommand
    assert argv[-len(checks):] == [c.argv[-1] for c in checks]
    for check in checks:
        result = results[check.id]
        if check.id in broken:
            assert result.status == FAILED, result.output
            assert result.output.startswith(f"{HEADERS[argv[1]]}{check.argv[-1]}\n"), result.output
            assert broken[check.id] in result.output, result.output
        else:
            assert result.status == PASSED, (check.id, result.output)
        by_itself = alone(root, check)
        assert (result.status, result.output) == (by_itself.status, by_itself.output), check.id


def test_a_bad_flag_is_every_members_error_in_promtools_words(root, monkeypatch):
    checks = [dataclasses.replace(c, argv=(*c.argv[:-1], "--no-such-flag", c.argv[-1]))
              for c in selected(root, "monitoring/promtool-rules-*")]
    assert all(batch.kind_of(c) for c in checks)  # still one batch
    started = counting(monkeypatch)
    results = run_batched(root, checks)
    assert len(promtools(started)) == 1
    for check in checks:
        assert results[check.id].status == FAILED
        assert "promtool: error: unknown long flag '--no-such-flag'" in results[check.id].output


def crash_after(text: str) -> str:
    """promtool's output cut by a Go panic (a runtime error exits 2)."""
    return text + ("panic: runtime error: invalid memory address or nil pointer dereference\n"
                   "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x1c3b2f0]\n\n"
                   "goroutine 1 [running]:\nmain.checkRules(...)\n")


def test_a_crash_or_an_exit_that_contradicts_the_report_is_every_members_error(root):
    checks = selected(root, "monitoring/promtool-rules-*")
    files = {Path(c.argv[-1]): c for c in checks}
    kind = batch.kind_of(checks[0])
    passes = [alone(root, c).output for c in checks]  # promtool's own text, file by file
    everything = "".join(passes).encode()

    assert {s for s, _ in kind.split(everything, b"", 0, files).values()} == {PASSED}
    for output, code, status in (
            (crash_after(passes[0]).encode(), 2, FAILED),  # later files never checked
            (crash_after("".join(passes)).encode(), 2, FAILED),  # every header there
            (everything, 1, ERROR),  # exit 1 with every file passing
            (b"not promtool's report\n", 0, ERROR)):
        split = kind.split(output, b"", code, files)
        assert {s for s, _ in split.values()} == {status}, (code, split)
        assert all(output.decode() in text for _, text in split.values())


def test_a_cached_member_is_not_run_again_and_the_others_still_batch(root, tmp_path, monkeypatch):
    checks = selected(root, "monitoring/promtool-rules-*")
    store = tmp_path / "cache"
    first = run_batched(root, checks, ResultCache(root, store))
    assert all(r.status == PASSED and not r.cached for r in first.values())
    edit(root / RULES / "edc.yml", "groups:\n", "# edited\ngroups:\n")
    edit(root / RULES / "audit.yml", "groups:\n", "# edited\ngroups:\n")
    started = counting(monkeypatch)
    second = run_batched(root, checks, ResultCache(root, store))
    [argv] = promtools(started)
    assert argv[-2:] == [f"{RULES}/audit.yml", f"{RULES}/edc.yml"]
    assert sorted(i for i, r in second.items() if not r.cached) == [
        "monitoring/promtool-rules-audit", "monitoring/promtool-rules-edc"]
    assert all(r.status == PASSED for r in second.values())
