"""The native executor against the real tools, through the CLI a user runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.repo import copy_repo, run_pipeline

pytestmark = pytest.mark.tools


def workflows_only_repo(tmp_path: Path) -> Path:
    return copy_repo(tmp_path / "repo", ".yamllint.yaml", ".github")


def test_a_clean_tree_passes(tmp_path):
    root = workflows_only_repo(tmp_path)
    done = run_pipeline("lint", "--source", str(root), "--only", "workflows", "--verbose")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED  workflows/yamllint (" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("lint: all 2 checks passed in ")


def test_a_failing_check_prints_the_tools_message_with_its_file(tmp_path):
    root = workflows_only_repo(tmp_path)
    broken = root / ".github" / "broken.yaml"
    broken.write_text("key: [unclosed\n")
    done = run_pipeline("lint", "--source", str(root), "--only", "workflows/yamllint")
    assert done.returncode == 1
    assert ".github/broken.yaml" in done.stdout
    assert "syntax error" in done.stdout  # yamllint's own words
    assert "FAILED workflows/yamllint\n" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("lint: 1 of 1 check failed")


def test_one_failure_does_not_stop_the_other_checks(tmp_path):
    root = workflows_only_repo(tmp_path)
    (root / ".github" / "broken.yaml").write_text("key: [unclosed\n")
    done = run_pipeline("lint", "--source", str(root), "--jobs", "1", "--verbose")
    assert done.returncode == 1
    statuses = [line.split()[0] for line in done.stdout.splitlines()
                if line.startswith(("PASSED", "FAILED", "ERROR"))]
    assert len(statuses) >= 2 and "PASSED" in statuses


def test_a_missing_tool_gives_one_line_naming_the_bootstrap(tmp_path):
    root = workflows_only_repo(tmp_path)
    done = run_pipeline("lint", "--source", str(root), "--only", "workflows/yamllint",
                        env={"DPP_TOOLS_HOME": str(tmp_path / "empty"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    lines = [line.strip() for line in done.stdout.splitlines() if "not found" in line]
    assert lines == [f"yamllint not found: run `scripts/bootstrap` to install yamllint 1.38.0 "
                     f"into {tmp_path / 'empty' / 'bin'}"]


def test_list_and_only(tmp_path):
    root = workflows_only_repo(tmp_path)
    listed = run_pipeline("lint", "--source", str(root), "--list", "--only", "workflows")
    assert listed.returncode == 0 and "workflows/yamllint" in listed.stdout
    unknown = run_pipeline("lint", "--source", str(root), "--only", "nosuchgroup")
    assert unknown.returncode == 2
    assert "--only nosuchgroup: matches no check" in unknown.stdout


def test_the_dagger_list_form_of_only_is_accepted(tmp_path):
    root = workflows_only_repo(tmp_path)
    done = run_pipeline("lint", "--source", str(root), "--list",
                        "--only", "workflows/yamllint,workflows/actionlint")
    assert done.returncode == 0 and "workflows/yamllint" in done.stdout


# Dagger functions whose twin has another name: a check is `lint --only GROUP`, a generator
# `generate NAME`. The `dagger up` services have none (natively, smoke starts Prometheus and
# Alertmanager for its own run; Grafana cannot run here).
TWIN_COMMANDS = {"lint_chart": "lint", "lint_argocd": "lint", "lint_monitoring": "lint",
                 "lint_compose": "lint", "lint_workflows": "lint", "lint_apiserver": "lint",
                 "chart_files": "generate", "crd_schemas": "generate"}
DAGGER_ONLY = {"prometheus", "alertmanager", "grafana"}
# What only a container needs: the service a registry host name resolves to.
DAGGER_ONLY_FLAGS = {"publish": {"registry_service"}}


def test_every_dagger_function_has_its_native_twin_with_the_same_flags():
    """`python -m pipeline <function>` accepts every flag `dagger call <function>` takes."""
    from pipeline.cli import parser
    from pipeline.main import Pipeline

    subcommands = parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    for name, function in Pipeline.__dagger_object_type__.functions.items():
        if not name or name in DAGGER_ONLY:
            continue
        twin = subcommands[TWIN_COMMANDS.get(name, name)]
        native_flags = {a.dest.replace("_checks", "") for a in twin._actions}
        dagger_flags = {p.name.replace("-", "_") for p in function.parameters.values()}
        dagger_flags -= DAGGER_ONLY_FLAGS.get(name, set())
        assert dagger_flags <= native_flags, f"{name}: {dagger_flags - native_flags} missing"


def test_smoke_refuses_a_source_that_is_not_a_directory(tmp_path):
    done = run_pipeline("smoke", "--source", str(tmp_path / "nope"))
    assert done.returncode == 2
    assert f"smoke: --source {tmp_path / 'nope'}: not a directory" in done.stdout


def test_go_tools_run_with_a_larger_gc_target_unless_the_user_set_one(monkeypatch):
    """The checks' Go tools get GOGC=400 (less CPU collecting garbage); a user's GOGC wins."""
    from pipeline.executors import native

    monkeypatch.delenv("GOGC", raising=False)
    assert native.environment()["GOGC"] == native.GO_GC_PERCENT == "400"
    monkeypatch.setenv("GOGC", "150")
    assert native.environment()["GOGC"] == "150"
