"""The Dagger path of `lint`, offline: the real module function over a recording connection."""

from __future__ import annotations

import re

import anyio
import dagger
import pytest

from pipeline import plan, toolchain
from pipeline.executors import dagger as executor
from pipeline.executors import dagger_services
from pipeline.kubeapi import server
from pipeline.main import Pipeline
from pipeline.plan.model import KUBECONFIG, SCHEMAS
from tests.conftest import REPO
from tests.dagger_recorder import Recorder, chain_of


def repo_listing() -> list[str]:
    return sorted(plan.Tree.from_path(REPO).files)


@pytest.fixture
def recorder(monkeypatch) -> Recorder:
    return Recorder(answers={"glob": lambda call: repo_listing(), "exitCode": 0,
                             "combinedOutput": "ok", "stdout": "rendered"}).install(monkeypatch)


def run_lint(**kwargs) -> str:
    return anyio.run(lambda: Pipeline().lint(source=dagger.dag.directory(), **kwargs))


def expected_argv(argv: tuple[str, ...]) -> list[str]:
    kubeconfig = f"{dagger_services.CREDENTIALS}/{server.KUBECONFIG}"
    return [a.replace(SCHEMAS, executor.SCHEMAS_DIR).replace(KUBECONFIG, kubeconfig) for a in argv]


def check_calls(recorder: Recorder) -> dict[tuple[str, ...], list]:
    """Each executed check container, keyed by its final argv."""
    found = {}
    for call in recorder.leaves("exitCode"):
        found.setdefault(tuple(call.execs[-1]), []).append(call)
    return found


def test_every_check_runs_in_its_pinned_image_with_the_plan_argv_and_only_its_reads(recorder):
    checks = plan.build(plan.Tree.from_path(REPO))
    assert checks, "the plan is empty"
    run_lint()
    calls = check_calls(recorder)
    for check in checks:
        for step in filter(None, (check, check.stdin_from)):
            argv = tuple(expected_argv(step.argv))
            assert argv in calls, f"{check.id}: no container ran {argv}"
            wanted = {f"{executor.WORKDIR}/{p}" for p in check.reads}
            uses_schemas = any(SCHEMAS in a for a in step.argv)
            matching = [
                call for call in calls[argv]
                if call.image == toolchain.tool(step.tool).image_ref
                and {p for p in call.mounts if p.startswith(executor.WORKDIR + "/")} == wanted
                and (executor.SCHEMAS_DIR in call.mounts) == uses_schemas]
            assert matching, (f"{check.id}: {argv[0]} did not run in "
                              f"{toolchain.tool(step.tool).image_ref} with exactly {sorted(wanted)}")


def test_mounted_sources_are_the_declared_paths_of_the_source_directory(recorder):
    run_lint()
    for call in recorder.leaves("exitCode"):
        for path, source in call.mounts.items():
            if not path.startswith(executor.WORKDIR + "/"):
                continue
            selected = chain_of(source)
            rel = path.removeprefix(executor.WORKDIR + "/")
            assert selected[-1].name in ("file", "directory")
            assert selected[-1].args["path"] == rel


def test_checks_get_stdin_from_their_producer(recorder):
    checks = [c for c in plan.build(plan.Tree.from_path(REPO)) if c.stdin_from]
    run_lint()
    for check in checks:
        call = check_calls(recorder)[tuple(expected_argv(check.argv))][0]
        exec_field = call.fields("withExec")[-1]
        assert exec_field.args.get("stdin") == "rendered", check.id


def test_a_failing_check_fails_the_function_with_the_tool_output(monkeypatch):
    def exit_code(call):
        return 1 if call.execs[-1][0] == "yamllint" else 0

    Recorder(answers={"glob": lambda c: repo_listing(), "exitCode": exit_code,
                      "combinedOutput": "infra/x.yaml:3:1 [error] syntax error",
                      "stdout": ""}).install(monkeypatch)
    with pytest.raises(Exception) as raised:
        run_lint(only=["workflows"])
    assert "workflows/yamllint" in str(raised.value)
    assert "infra/x.yaml:3:1 [error] syntax error" in str(raised.value)


def test_list_runs_nothing(recorder):
    out = run_lint(list_checks=True, only=["workflows"])
    assert "workflows/yamllint" in out
    assert recorder.leaves("exitCode") == []


def test_kubernetes_schemas_are_built_by_the_bootstrap_code(recorder):
    if not any(SCHEMAS in a for c in plan.build(plan.Tree.from_path(REPO)) for a in c.argv):
        pytest.skip("no check of this plan uses Kubernetes schemas yet")
    run_lint()
    mounted = [c.mounts[executor.SCHEMAS_DIR] for c in recorder.leaves("exitCode")
               if executor.SCHEMAS_DIR in c.mounts]
    assert mounted
    chain = chain_of(mounted[0])
    execs = [f.args["args"] for f in chain if f.name == "withExec"]
    assert execs[-1][:2] == ["python", executor.KUBESCHEMAS_MODULE]
    assert execs[-1][4:] == toolchain.kube_versions()
    pin = toolchain.pins()["tools"]["kubernetes-schemas"]
    assert any(f"{pin['pypi']}=={pin['version']}" in e for e in execs)


def test_an_engine_error_in_one_check_is_collected_not_fatal(monkeypatch):
    def exit_code(call):
        if call.image == toolchain.tool("actionlint").image_ref:
            raise dagger.TransportError("pull access denied for rhysd/actionlint")
        return 0

    Recorder(answers={"glob": lambda c: repo_listing(), "exitCode": exit_code,
                      "combinedOutput": "ok", "stdout": ""}).install(monkeypatch)
    with pytest.raises(Exception) as raised:
        run_lint(only=["workflows"])
    report = str(raised.value)
    assert "ERROR workflows/actionlint" in report and "pull access denied" in report
    assert re.search(r"lint: 1 of 3 checks failed \(1 distinct error\), 2 passed", report)


HELM_LINT_TYPO = """==> Linting infra/helm/dpp-platform
[INFO] Chart.yaml: icon is recommended
[ERROR] values.yaml: - at '/global': additional properties 'environmnt' not allowed

[ERROR] templates/: values don't meet the specifications of the schema(s) in the following chart(s):
dpp-platform:
- at '/global': additional properties 'environmnt' not allowed


Error: 1 chart(s) linted, 1 chart(s) failed
"""  # helm 3.22.0's own words for a typo in values-dev.yaml


def test_the_dagger_report_is_the_shared_one_with_the_overlay_hint(monkeypatch):
    def exit_code(call):
        return 1 if call.execs[-1][:2] == ["helm", "lint"] and "values-dev.yaml" in " ".join(
            call.execs[-1]) else 0

    def contents(call):
        path = call.arg("file", "path")
        return (REPO / path).read_text().replace("  environment:", "  environmnt:")

    Recorder(answers={"glob": lambda c: repo_listing(), "exitCode": exit_code,
                      "combinedOutput": HELM_LINT_TYPO, "stdout": "",
                      "contents": contents}).install(monkeypatch)
    with pytest.raises(Exception) as raised:
        run_lint(only=["chart/helm-lint-dev-*"])
    text = str(raised.value)
    values = (REPO / "infra/helm/dpp-platform/values-dev.yaml").read_text().splitlines()
    line = values.index("  environment: development") + 1
    assert "=== chart: " in text and "same error in " in text
    assert f"hint: global.environmnt is set in infra/helm/dpp-platform/values-dev.yaml:{line}" in text


def test_python_checks_run_the_modules_own_code_never_the_sources(recorder):
    run_lint(only=["workflows/pins"])
    [call] = [c for c in recorder.leaves("exitCode") if c.execs[-1][:3] == ["python", "-m",
                                                                          "pipeline.policies.workflows"]]
    code = chain_of(call.mounts[f"{executor.MODULE_SRC}/pipeline"])
    assert [f.name for f in code] == ["currentModule", "source", "directory"]
    assert code[-1].args["path"] == "src/pipeline"
    assert call.env()["PYTHONPATH"] == executor.MODULE_SRC
    assert not any(p.startswith(f"{executor.WORKDIR}/src") for p in call.mounts)


def test_a_bare_check_name_selects_and_is_reported(recorder):
    out = run_lint(only=["pins"])
    assert out.splitlines()[0] == "--only pins: workflows/pins"
    assert out.splitlines()[-1] == "lint: 1 check passed"
