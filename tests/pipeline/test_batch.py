"""Render once, validate in batches (executors/renders.py, executors/batch.py): one helm
template a render, one kubeconform a Kubernetes version, and still one line a check."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from pipeline import plan
from pipeline.executors import ERROR, FAILED, PASSED, batch, native
from pipeline.plan.chart import CHART, CRD_SCHEMAS
from tests.support.repo import copy_repo

pytestmark = pytest.mark.tools
REDIS = f"{CHART}/templates/redis/deployment.yaml"


def chart_tree(dest: Path, invalid_in: str = "") -> Path:
    """The chart and CRD schemas; with `invalid_in`, that environment's redis Deployment
    carries a field the Kubernetes schema does not know (spec.bogusField)."""
    root = copy_repo(dest, CHART, CRD_SCHEMAS)
    if invalid_in:
        redis = root / REDIS
        redis.write_text(redis.read_text().replace(
            "spec:\n  replicas: 1\n",
            f"spec:\n  {{{{- if eq .Values.global.environment \"{invalid_in}\" }}}}\n"
            "  bogusField: 1\n  {{- end }}\n  replicas: 1\n", 1))
    return root


def counting(monkeypatch) -> list[list[str]]:
    """Every process the native executor starts, argv as run."""
    started: list[list[str]] = []
    real = native.execute

    async def execute(argv, *args, **kwargs):
        started.append(list(argv))
        return await real(argv, *args, **kwargs)

    monkeypatch.setattr(native, "execute", execute)
    return started


def run(root: Path, *selectors: str, jobs: int = 2):
    checks = plan.select(plan.build(plan.Tree.from_path(root)), list(selectors))
    return checks, {r.check.id: r for r in anyio.run(native.run_locally, checks, root, jobs)}


def test_one_kubeconform_a_version_and_each_failure_names_its_environment_resource_and_field(
        tmp_path, monkeypatch):
    root = chart_tree(tmp_path / "tree", invalid_in="production")
    started = counting(monkeypatch)
    checks, results = run(root, "chart/kubeconform-*-1.37.0*", "chart/kubeconform-*-1.30.0*")
    assert len(checks) == 12
    validators = [argv for argv in started if Path(argv[0]).name == "kubeconform"]
    assert len(validators) == 2, validators  # one process a Kubernetes version
    assert all(argv.count("-output") == 1 and len([a for a in argv if a.endswith(".yaml")]) == 6
               for argv in validators)
    for check_id, result in results.items():
        if "-prod-" in check_id:
            assert result.status == FAILED, check_id
            assert ("stdin - Deployment dpp-platform-redis is invalid" in result.output
                    and "additional properties 'bogusField' not allowed" in result.output), \
                result.output
        else:
            assert result.status == PASSED, (check_id, result.output)
            assert "Invalid: 0, Errors: 0" in result.output


def test_each_render_is_produced_once_and_shared(tmp_path, monkeypatch):
    root = chart_tree(tmp_path / "tree")
    started = counting(monkeypatch)
    # One Kubernetes version's kubeconform batch (each environment, with and without the
    # monitoring API) and the policies, which read the same monitoring renders.
    checks, results = run(root, "chart/kubeconform-*-1.37.0*", "chart/policies-*")
    assert all(r.status == PASSED for r in results.values()), \
        {k: r.output[-300:] for k, r in results.items() if r.status != PASSED}
    renders = [tuple(argv[1:]) for argv in started if argv[1:2] == ["template"]]
    wanted = {c.stdin_from.argv[1:] for c in checks if c.stdin_from}
    assert sorted(renders) == sorted(wanted), "a render was produced more than once"
    readers = [c for c in checks if c.stdin_from and c.stdin_from.argv[1:] in wanted]
    assert len(readers) > len(wanted)  # some renders do have several readers


def test_a_render_that_fails_fails_its_own_check_and_the_batch_still_runs(tmp_path):
    root = chart_tree(tmp_path / "tree")
    values = root / CHART / "values-staging.yaml"
    values.write_text(values.read_text() + "\nglobal: [broken\n")
    _, results = run(root, "chart/kubeconform-*-1.37.0")
    assert results["chart/kubeconform-staging-1.37.0"].status == FAILED
    assert "values-staging.yaml" in results["chart/kubeconform-staging-1.37.0"].output
    assert results["chart/kubeconform-dev-1.37.0"].status == PASSED
    assert results["chart/kubeconform-prod-1.37.0"].status == PASSED


def test_output_that_is_not_kubeconforms_report_is_every_members_failure_in_its_words():
    checks = [c for c in plan.build(plan.Tree.from_path(Path(__file__).parents[2])) if c.batch][:2]
    files = {Path(f"/x/{i}.yaml"): c for i, c in enumerate(checks)}
    split = batch.split(b"", b"failed to read schema: no such file\n", 1, files)
    assert {status for status, _ in split.values()} == {FAILED}
    assert all("failed to read schema: no such file" in text for _, text in split.values())
    clean_exit_but_garbage = batch.split(b"not json", b"", 0, files)
    assert {status for status, _ in clean_exit_but_garbage.values()} == {ERROR}


def test_checks_batch_only_with_their_kind_and_the_same_argv_but_their_input():
    """kubeconform: the same argv, each input on stdin; promtool (executors/batch_promtool.py):
    one subcommand with the same flags, each member its own file, no stdin."""
    checks = plan.build(plan.Tree.from_path(Path(__file__).parents[2]))
    units = batch.units(checks)
    assert sorted(c.id for u in units for c in u) == sorted(c.id for c in checks)
    for unit in units:
        assert len({c.batch for c in unit}) == 1
        if unit[0].tool == "kubeconform" and batch.kind_of(unit[0]):
            assert len({c.argv for c in unit}) == 1
            assert all(c.stdin_from and c.argv[-1] == "-" for c in unit)
        elif batch.kind_of(unit[0]):
            assert len({c.argv[:-1] for c in unit}) == 1
            assert len({c.argv[-1] for c in unit}) == len(unit)  # a file once a batch
            assert not any(c.stdin_from for c in unit)
        if len(unit) > 1:
            assert all(c.batch and c.tool in ("kubeconform", "promtool") for c in unit)
    assert max(len(u) for u in units) == 6  # three environments, with and without the monitoring API
    promtool = [u for u in units if u[0].tool == "promtool"]
    assert sorted(len(u) for u in promtool) == [1, 2, 5, 5]  # dashboards-promql reads stdin: alone
    assert [c.name for u in promtool if len(u) == 1 for c in u] == ["dashboards-promql"]


def test_every_batch_kind_of_the_plan_is_known_and_every_batch_check_joins_it():
    checks = plan.build(plan.Tree.from_path(Path(__file__).parents[2]))
    for check in checks:
        if check.batch:
            assert check.batch in batch.KINDS, check.id
            assert batch.kind_of(check), f"{check.id}: its argv does not fit {check.batch}"
