"""The module's function registration: what `dagger functions` and `--help` will show."""

from __future__ import annotations

import anyio
import pytest

from pipeline.main import Pipeline
from tests.dagger_recorder import Recorder, all_fields

FUNCTIONS = Pipeline.__dagger_object_type__.functions


def test_the_module_exposes_the_pipeline_functions():
    assert {"lint", "publish", "smoke"} <= set(FUNCTIONS)


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


def test_the_uploaded_module_source_is_only_what_the_runtime_needs():
    """dagger.json's `include` subtracts (`!`) from the repo root, the module's source dir.

    The functions read the repo through their `source` argument (DefaultPath), so the
    module source needs only the package and its build files; anything else in it would
    be uploaded and invalidate function caches on every unrelated edit.
    """
    import json

    from tests.conftest import REPO

    config = json.loads((REPO / "dagger.json").read_text())
    assert config["engineVersion"].startswith("v0.21.")
    excluded = {p[1:] for p in config["include"] if p.startswith("!")}
    needed = {"pyproject.toml", ".python-version", "src", "dagger.json", "LICENSE"}
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
                            "oidc_request_url", "oidc_request_token"}
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
