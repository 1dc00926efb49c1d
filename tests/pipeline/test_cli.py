"""The command line as a user meets it: which tree, which code, exit codes, formats, flags.

Everything here runs Python checks only (workflows/pins), so no native tool is needed.
"""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import anyio
import pytest

from pipeline import cli, plan
from pipeline.executors import ERROR, FAILED, PASSED, SKIPPED, native
from pipeline.plan.model import Check, Step
from tests.support.repo import REPO, run_pipeline, workflows_repo

def git_init(root: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def test_lint_from_a_second_clone_checks_that_clone_with_the_first_clones_code(tmp_path):
    """The venv of clone 1 (PYTHONPATH = this checkout, as conftest sets it) run inside
    clone 2: the tree is clone 2 (found from a subdirectory), the code is clone 1's, and
    clone 2's own copy of src/pipeline (sabotaged to pass everything) is never run."""
    second = git_init(workflows_repo(tmp_path / "second", pinned=False))
    sabotaged = second / "src" / "pipeline" / "checks" / "workflows"
    sabotaged.mkdir(parents=True)
    (sabotaged.parent / "__init__.py").write_text("raise SystemExit(0)\n")
    for name in ("__init__.py", "pins.py"):
        (sabotaged / name).write_text("raise SystemExit(0)\n")
    (second / "src" / "pipeline" / "__init__.py").write_text("")
    done = run_pipeline("lint", "--only", "pins", cwd=second / ".github" / "workflows")
    lines = done.stdout.splitlines()
    assert lines[0] == (f"lint: checking {second.resolve()} with the pipeline code in "
                        f"{REPO / 'src' / 'pipeline'}"), done.stdout
    assert "ci.yml: jobs.lint.steps[0].uses: actions/checkout@v4 is not pinned" in done.stdout
    assert done.returncode == 1, done.stdout + done.stderr


def test_outside_git_the_current_directory_is_the_tree(tmp_path):
    root = workflows_repo(tmp_path / "plain")
    done = run_pipeline("lint", "--only", "workflows/pins", cwd=root)
    assert done.stdout.splitlines()[0].startswith(f"lint: checking {root.resolve()} with")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_green_run_is_the_tree_line_and_one_summary_line(tmp_path):
    root = workflows_repo(tmp_path / "repo")
    done = run_pipeline("lint", "--source", str(root), "--only", "workflows/pins")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[1] == "--only workflows/pins: workflows/pins"
    assert len(lines) == 3 and lines[2].startswith("lint: 1 check passed in ")  # not "all 1 checks"
    verbose = run_pipeline("lint", "--source", str(root), "--only", "pins", "--verbose")
    assert any(line.startswith("PASSED  workflows/pins (") for line in verbose.stdout.splitlines())


def test_exit_1_when_a_check_fails_with_its_own_message(tmp_path):
    root = workflows_repo(tmp_path / "repo", pinned=False)
    done = run_pipeline("lint", "--source", str(root), "--only", "pins")
    assert done.returncode == 1
    assert "=== workflows: 1 check failed" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("lint: 1 of 1 check failed (1 distinct error)")


@pytest.mark.parametrize("args, says", [
    (["--only", "nosuch"], "lint: --only nosuch: matches no check (groups: workflows; "),
    (["--source", "/nonexistent/tree"], "lint: --source /nonexistent/tree: not a directory"),
])
def test_exit_2_on_a_usage_error(tmp_path, args, says):
    root = workflows_repo(tmp_path / "repo")
    done = run_pipeline("lint", "--source", str(root), *args)
    assert done.returncode == 2
    assert says in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_a_bad_flag_shows_the_subcommands_usage():
    done = run_pipeline("lint", "--nosuch-flag")
    assert done.returncode == 2
    assert done.stderr.startswith("usage: python -m pipeline lint ")
    assert "unrecognized arguments: --nosuch-flag" in done.stderr


def test_help_states_defaults_and_exit_codes():
    done = run_pipeline("lint", "--help")
    text = " ".join(done.stdout.split())
    for expected in ("(default: the git top level of the current directory, else the directory)",
                     "(default: text)", "(default: every check)", "(default: run every check)",
                     "exit status: 0 every check passed, 1 a check failed",
                     "3 internal error"):
        assert expected in text, expected


def test_exit_3_on_an_internal_error(monkeypatch, capsys, tmp_path):
    def broken(tree):
        raise RuntimeError("the plan builder broke")

    monkeypatch.setattr(plan, "build", broken)
    code = cli.main(["lint", "--source", str(workflows_repo(tmp_path / "repo"))])
    err = capsys.readouterr().err
    assert code == 3
    assert "lint: internal error: RuntimeError: the plan builder broke" in err
    assert "Traceback" in err


def test_a_checks_output_is_printed_as_the_tool_wrote_it(monkeypatch, capsys, tmp_path):
    """rich's defaults would turn `:x:` and `:100:` into emoji and a `[dev]` into a style."""
    said = "image: repo:tag :x: rows:100: [dev] [bold]not bold[/bold] " + "long " * 40
    monkeypatch.setattr(plan, "build", lambda tree: [
        check("verbatim", f"print({said!r}); raise SystemExit(1)")])
    code = cli.main(["lint", "--source", str(workflows_repo(tmp_path / "repo")), "--no-cache"])
    out = capsys.readouterr().out
    assert code == 1
    assert said.rstrip() in out, out


def consoles_made(path: Path) -> list[str]:
    """`file:function` of each `Console(...)` call in a module (`<module>` outside functions)."""
    made = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Call) and \
                    getattr(child.func, "id", getattr(child.func, "attr", None)) == "Console":
                made.append(f"{path.relative_to(REPO / 'src')}:{where}")
            visit(child, child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
                  else where)

    visit(ast.parse(path.read_text()), "<module>")
    return made


def test_every_console_is_made_by_make_console():
    """The whole class: a rich Console made anywhere else would print tools' words as emoji or
    wrapped lines again (the smoke's did)."""
    made = [m for path in sorted((REPO / "src/pipeline").rglob("*.py")) for m in consoles_made(path)]
    assert made == ["pipeline/cli.py:make_console"], made


def test_json_report(tmp_path):
    root = workflows_repo(tmp_path / "repo", pinned=False)
    done = run_pipeline("lint", "--source", str(root), "--only", "pins", "--format", "json")
    assert done.returncode == 1
    data = json.loads(done.stdout)  # stdout holds the document only
    assert data["source"] == str(root.resolve()) and data["passed"] is False
    assert data["counts"] == {"passed": 0, "failed": 1, "error": 0, "skipped": 0}
    [check] = data["checks"]
    assert check["id"] == "workflows/pins" and check["status"] == "failed"
    assert "is not pinned to a full commit SHA" in check["output"]
    assert done.stderr.splitlines()[0].startswith("lint: checking ")


def test_junit_report_has_one_test_case_a_check(tmp_path):
    root = workflows_repo(tmp_path / "repo", pinned=False)
    done = run_pipeline("lint", "--source", str(root), "--only", "pins", "--format", "junit")
    assert done.returncode == 1
    suites = ElementTree.fromstring(done.stdout.encode())
    [case] = suites.iter("testcase")
    assert (case.get("classname"), case.get("name")) == ("workflows", "pins")
    failure = case.find("failure")
    assert failure is not None and "is not pinned" in failure.get("message")
    assert suites.find("testsuite").get("failures") == "1"


# --- the executor: no crash escapes a check --------------------------------------------------

def python(code: str) -> tuple[str, ...]:
    return ("python", "-c", code)


def check(name: str, code: str, stdin_code: str | None = None) -> Check:
    return Check(name=name, group="t", tool="python", argv=python(code), reads=(),
                 stdin_from=Step("python", python(stdin_code)) if stdin_code else None)


BIG_OUTPUT = "import sys; sys.stdout.write('x' * (1 << 22))"  # 4 MiB: more than a pipe holds


def run_native(checks, **kwargs):
    return {r.check.name: r for r in anyio.run(
        lambda: native.run_locally(checks, REPO, 1, **kwargs))}


def test_a_check_that_exits_without_reading_stdin_is_reported_not_crashed():
    results = run_native([
        check("refuses", "import sys; print('bad --env qa'); sys.exit(2)", BIG_OUTPUT),
        check("ignores", "print('fine')", BIG_OUTPUT),
        check("reads", "import sys; print(len(sys.stdin.read()))", BIG_OUTPUT),
    ])
    assert results["refuses"].status == FAILED and "bad --env qa" in results["refuses"].output
    assert results["ignores"].status == PASSED
    assert results["reads"].status == PASSED and results["reads"].output.strip() == str(1 << 22)


def test_an_exception_inside_one_check_is_that_checks_error(monkeypatch):
    real = native.execute

    async def execute(argv, *args, **kwargs):
        if "explode" in " ".join(argv):
            raise ValueError("executor bug")
        return await real(argv, *args, **kwargs)

    monkeypatch.setattr(native, "execute", execute)
    results = run_native([check("explode", "print('explode')"), check("other", "print(1)")])
    assert results["explode"].status == ERROR
    assert "ValueError: executor bug" in results["explode"].output
    assert results["other"].status == PASSED


def test_fail_fast_stops_the_run_and_reports_the_rest_as_not_run():
    results = run_native([check("a-fails", "raise SystemExit(1)"), check("b", "print(1)"),
                          check("c", "print(1)")], fail_fast=True)
    assert results["a-fails"].status == FAILED
    assert {results["b"].status, results["c"].status} == {SKIPPED}
    assert "--fail-fast stopped the run after t/a-fails failed" in results["b"].output


def test_a_check_that_hangs_is_killed_and_reported(monkeypatch):
    monkeypatch.setattr(native, "CHECK_TIMEOUT_SECONDS", 0.5)
    results = run_native([check("hangs", "import time; time.sleep(30)"), check("ok", "print(1)")])
    assert results["hangs"].status == ERROR and "timed out after 0.5s" in results["hangs"].output
    assert results["hangs"].seconds < 10 and results["ok"].status == PASSED


def test_a_tree_without_any_checked_file_is_a_usage_error_not_a_green_run(tmp_path):
    (tmp_path / "somewhere").mkdir()
    done = run_pipeline("lint", cwd=tmp_path / "somewhere")
    assert done.returncode == 2, done.stdout
    assert f"lint: {tmp_path / 'somewhere'}: no check applies" in done.stdout
    assert "passed" not in done.stdout
