"""The module's function registration: what `dagger functions` and `--help` will show."""

from __future__ import annotations

import logging
import re

import anyio
import dagger
import pytest
from dagger.mod._exceptions import FunctionError, record_exception

from pipeline import plan
from pipeline.executors import dagger as executor
from pipeline.executors import batch, dagger_services
from pipeline.main import LintFailed, Pipeline
from pipeline.plan.model import KUBECONFIG
from tests.support.repo import REPO
from tests.dagger_recorder import (Recorder, all_fields, batch_input, chain_of,
                                  reuse_apiserver_credentials)

FUNCTIONS = Pipeline.__dagger_object_type__.functions


GROUP_NAMES = [group.__name__.rsplit(".", 1)[-1] for group in plan.GROUPS]
CHECKS = {f"lint_{group}" for group in GROUP_NAMES}


@pytest.fixture(autouse=True)
def apiserver_credentials(monkeypatch):
    reuse_apiserver_credentials(monkeypatch)


def test_the_module_exposes_the_pipeline_functions():
    assert {"lint", "publish", "smoke", "render", "package"} <= set(FUNCTIONS)


def test_one_check_per_plan_group_and_nothing_else_is_a_check():
    """`dagger check` runs these concurrently and `dagger check -l` lists them."""
    assert {name for name, f in FUNCTIONS.items() if f.check} == CHECKS
    for name in CHECKS:
        parameters = FUNCTIONS[name].parameters.values()
        assert [p.name for p in parameters] == ["source"], name
        assert all(p.default_path == "/" for p in parameters), f"{name}: a required argument"


@pytest.mark.parametrize("group", GROUP_NAMES)
def test_a_check_runs_exactly_its_groups_checks(group, monkeypatch):
    recorder = Recorder(answers={"glob": lambda c: listing(), "exitCode": 0,
                                 "combinedOutput": "ok"}).install(monkeypatch)
    result = anyio.run(lambda: getattr(Pipeline(), f"lint_{group}")(source=dagger.dag.directory()))
    assert result is None
    ran = {tuple(c.execs[-1]) for c in recorder.leaves("exitCode")}
    kubeconfig = f"{dagger_services.CREDENTIALS}/kubeconfig"  # where the service's credentials mount
    selected = plan.select(plan.build(plan.Tree.from_path(REPO)), [group])
    wanted = {tuple(a.replace(KUBECONFIG, kubeconfig) for a in executor.container_argv(c.argv))
              for c in selected if not batch.kind_of(c)}
    wanted |= {tuple(batch.batch_argv(u[0], executor.container_argv(u[0].argv), [
        batch_input(c) for c in u]))
        for u in batch.units(selected) if batch.kind_of(u[0])}  # one process a batch (batch.py)
    assert ran - producers(recorder) == wanted


def producers(recorder: Recorder) -> set[tuple[str, ...]]:
    return {tuple(c.execs[-1]) for c in recorder.leaves("exitCode")
            if c.fields("withExec")[-1].args.get("redirectStdout")}


def test_a_failing_check_raises_the_report(monkeypatch):
    Recorder(answers={"glob": lambda c: listing(), "combinedOutput": "broken",
                      "exitCode": lambda c: 1 if c.execs[-1][0] == "yamllint" else 0}
             ).install(monkeypatch)
    with pytest.raises(LintFailed, match="workflows/yamllint"):
        anyio.run(lambda: Pipeline().lint_workflows(source=dagger.dag.directory()))


def summary(doc: str) -> str:
    """What `dagger functions` and `--help` show: the description's first line
    (cmd/dagger/module_inspect.go shortDescription, dagger v0.21.8)."""
    return doc.split("\n", 1)[0]


@pytest.mark.parametrize("name", sorted(set(FUNCTIONS) - {""}))
def test_every_summary_is_one_whole_line(name):
    function = FUNCTIONS[name]
    first_paragraph = function.doc.split("\n\n", 1)[0]
    assert first_paragraph == summary(function.doc), f"{name}: the summary wraps"
    assert summary(function.doc).endswith("."), name
    for parameter in function.parameters.values():
        assert "\n" not in parameter.doc, f"{name} --{parameter.name}: the summary wraps"


def listing() -> list[str]:
    return sorted(plan.Tree.from_path(REPO).files)


@pytest.mark.parametrize("name", sorted(set(FUNCTIONS) - {""}))
def test_every_function_and_argument_is_documented(name):
    function = FUNCTIONS[name]
    assert function.doc and len(function.doc) > 20, name
    for parameter in function.parameters.values():
        assert parameter.doc, f"{name}: argument {parameter.name} has no doc"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_directory_arguments_default_to_the_repo(name):
    for parameter in FUNCTIONS[name].parameters.values():
        if "Directory" in str(parameter.resolved_type):
            assert parameter.default_path == "/", f"{name}: --{parameter.name}"
            assert "**/.git" in parameter.ignore


def test_lint_flags_match_the_native_cli():
    names = {p.name for p in FUNCTIONS["lint"].parameters.values()}
    assert names == {"source", "only", "list", "verbose", "format"}


def test_typedefs_register_without_an_engine(monkeypatch):
    """Runs the SDK's own registration over the recorder: a bad annotation fails here."""
    recorder = Recorder(answers={"id": "module-id"}).install(monkeypatch)
    module = Pipeline.__dagger_module__
    # What the runtime does at import with DAGGER_MAIN_OBJECT=Pipeline.
    monkeypatch.setattr(module, "_main_name", "Pipeline")
    monkeypatch.setattr(module, "_main", Pipeline.__dagger_object_type__)
    result = anyio.run(module._typedefs)  # noqa: SLF001
    assert result is not None
    fields = [f for call in recorder.calls for f in all_fields(call.chain)]
    registered = {f.args.get("name") for f in fields if f.name == "function"}
    assert set(FUNCTIONS) - {""} <= registered  # "" is the constructor
    arguments = {f.args.get("name") for f in fields if f.name == "withArg"}
    assert {"source", "only", "list"} <= arguments
    marked = {}
    for f in fields:
        if f.name == "withFunction":
            chain = chain_of(f.args["function"])
            marked[chain[0].args["name"]] = {c.name for c in chain}
    assert {name for name, steps in marked.items() if "withCheck" in steps} == CHECKS


def runtime_call(monkeypatch, caplog, name: str, inputs: dict):
    """Call a function the way the runtime does (Module.get_result, as `dagger call` does)."""
    module = Pipeline.__dagger_module__
    monkeypatch.setattr(module, "_main_name", "Pipeline")
    monkeypatch.setattr(module, "_main", Pipeline.__dagger_object_type__)
    with caplog.at_level(logging.DEBUG):
        return anyio.run(lambda: module.get_result("Pipeline", {}, name, inputs))


def test_a_failed_lint_is_the_report_without_a_traceback(monkeypatch, caplog):
    recorder = Recorder(answers={"glob": lambda c: listing(), "combinedOutput": "bad yaml",
                                 "exitCode": lambda c: int(c.execs[-1][0] == "yamllint")}
                        ).install(monkeypatch)
    with pytest.raises(FunctionError) as raised:
        runtime_call(monkeypatch, caplog, "lint", {"source": "dir-id", "only": ["workflows"]})
    assert "workflows/yamllint" in str(raised.value) and "bad yaml" in str(raised.value)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    # What the engine receives (dagger.mod.cli.main -> record_exception): the report.
    anyio.run(record_exception, raised.value)
    error = [f for c in recorder.calls for f in all_fields(c.chain) if f.name == "error"][0]
    assert error.args["message"].startswith("pipeline.main.LintFailed: ")
    assert "workflows/yamllint" in error.args["message"]


@pytest.mark.parametrize("name, inputs, message", [
    ("render", {"env": "nosuch"}, "--env 'nosuch'"),
    ("lint", {"only": ["nosuch"]}, "--only nosuch: matches no check"),
    ("package", {"tag": "v1.4"}, "not a SemVer 2 version"),
    ("lint", {"format": "xml"}, "--format 'xml': expected one of"),
])
def test_a_bad_input_is_its_message_without_a_traceback(monkeypatch, caplog, name, inputs,
                                                        message):
    Recorder(answers={"glob": lambda c: listing()}).install(monkeypatch)
    with pytest.raises(FunctionError, match=re.escape(message)):
        runtime_call(monkeypatch, caplog, name, {"source": "dir-id", **inputs})
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


def test_a_bug_keeps_its_traceback(monkeypatch, caplog):
    def broken(call):
        raise RuntimeError("a bug of ours")

    Recorder(answers={"glob": broken}).install(monkeypatch)
    with pytest.raises(FunctionError, match="a bug of ours"):
        runtime_call(monkeypatch, caplog, "lint", {"source": "dir-id"})
    assert [r for r in caplog.records if r.exc_info]


def test_the_uploaded_module_source_is_only_what_the_runtime_needs():
    """dagger.json's `include` subtracts (`!`) from the repo root, the module's source dir.

    The functions read the repo through their `source` argument (DefaultPath), so the
    module source needs only the package and its build files; anything else in it would
    be uploaded and invalidate function caches on every unrelated edit.
    """
    import json

    from tests.support.repo import REPO

    config = json.loads((REPO / "dagger.json").read_text())
    assert config["engineVersion"].startswith("v0.21.")
    excluded = {p[1:] for p in config["include"] if p.startswith("!")}
    needed = {"pyproject.toml", "uv.lock", ".python-version", "src", "dagger.json", "LICENSE"}
    top_level = {p.name for p in REPO.iterdir() if p.name not in {".git", ".gitignore"}
                 and not p.name.endswith(".egg-info")}
    assert not needed & excluded
    assert top_level - needed <= excluded | {".venv", "sdk", ".pytest_cache"}, \
        "a new top-level path reaches the module source: add it to dagger.json include"


def test_publish_and_smoke_signatures():
    publish = {p.name: p for p in FUNCTIONS["publish"].parameters.values()}
    assert set(publish) == {"tag", "registry_password", "source", "registry", "repository",
                            "username", "source_url", "revision", "created", "signing_key",
                            "signing_password", "verify_key", "certificate_identity",
                            "oidc_request_url", "oidc_request_token", "plain_http",
                            "registry_service"}
    assert publish["plain_http"].default_value == "false"
    assert not publish["tag"].is_optional and not publish["registry_password"].is_optional
    assert "Secret" in str(publish["registry_password"].resolved_type)
    # Every credential is a Secret: never a string that lands in argv, logs or the cache.
    for name in ("signing_key", "signing_password", "oidc_request_url", "oidc_request_token"):
        assert "Secret" in str(publish[name].resolved_type) and publish[name].is_optional, name
    assert "File" in str(publish["verify_key"].resolved_type)
    assert publish["registry"].default_value == '"ghcr.io"'  # JSON, as registered
    assert FUNCTIONS["publish"].cache_policy == "never"
    assert FUNCTIONS["smoke"].cache_policy == "never"
    assert {p.name for p in FUNCTIONS["smoke"].parameters.values()} == {"source"}



def test_a_failed_step_escaping_a_function_keeps_the_tools_words(monkeypatch, caplog):
    """A helm image whose setup fails under `package`: the command and its stderr, no
    traceback (the ExecError escapes the function; str() of it is only "exit code: 1")."""
    from pipeline.publish import containers as publish_containers
    from tests.dagger_recorder import Exit

    real = publish_containers.tool_container
    monkeypatch.setattr(publish_containers, "tool_container",
                        lambda name: real(name).with_exec(["apk", "add", "ca-certificates"]))
    Recorder(answers={"glob": lambda c: listing()},
             exits=[(lambda argv: argv[0] == "apk",
                     Exit(99, stderr="ERROR: unable to select packages:\n  ca-certificates"))]
             ).install(monkeypatch)
    with pytest.raises(FunctionError) as raised:
        runtime_call(monkeypatch, caplog, "package", {"source": "dir-id", "tag": "v1.4.0"})
    message = str(raised.value)
    assert "`apk add ca-certificates` failed with exit code 99:" in message
    assert "unable to select packages" in message and "traceparent" not in message
    assert not [r for r in caplog.records if r.exc_info]
