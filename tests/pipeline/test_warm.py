"""Python checks in one warm interpreter (executors/warm.py): the same process a `python -m`
check was, with the same isolation: output, exit codes, crashes, hangs and Ctrl-C."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import anyio
import pytest
import yaml

from pipeline.executors import ERROR, FAILED, PASSED, native, warm
from pipeline.plan.model import Check, Step

GUARD = "\nif __name__ == '__main__':\n    main()\n"
MODULES = {
    "ok": """
        import os, sys
        def main():
            print("argv", sys.argv[1:], "file", sys.argv[0])
            print("to stderr", file=sys.stderr, flush=True)
            print("read", len(sys.stdin.read()), "parent", os.getppid())
    """,
    "crash": "def main():\n    raise RuntimeError('boom')",
    "code": "import sys\ndef main():\n    print('exits 3')\n    sys.exit(3)",
    "interrupted": """
        import os, signal, time
        def main():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
    """,
    "hangs": """
        import os, pathlib, time
        def main():
            pathlib.Path('hung.pid').write_text(str(os.getpid()))
            time.sleep(60)
    """,
    # Loads its stdin with the pipeline's parser and says whether it parsed it itself (a call
    # of yaml.load_all) or took a parse made ahead; then a second load of the same text.
    "parses": """
        import json, sys, time, yaml
        from pipeline.model import kube
        def load(text):
            calls, real = [], yaml.load_all
            yaml.load_all = lambda *a, **k: calls.append(1) or real(*a, **k)
            try:
                return kube.load(text), len(calls)
            finally:
                yaml.load_all = real
        def main():
            started = time.monotonic()
            text = sys.stdin.read()
            docs, parsed = load(text)
            seen = json.dumps(docs)
            if "--mutate" in sys.argv:
                docs[0]["kind"] = "Mutated"
                docs[0]["metadata"]["labels"]["tier"] = "changed"
                docs.append({"kind": "Extra"})
            again, parsed_again = load(text)
            print(json.dumps({"parsed": parsed, "docs": json.loads(seen), "again": again,
                              "parsed_again": parsed_again, "started": started,
                              "ended": time.monotonic()}))
    """,
    "spawns": """
        import pathlib, subprocess, time
        def main():
            sleeper = subprocess.Popen(['sleep', '60'])
            pathlib.Path('sleeper.pid').write_text(str(sleeper.pid))
            time.sleep(60)
    """,
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A tree with a package `wchecks` of check modules (cwd first on sys.path, as -m does)."""
    package = tmp_path / "wchecks"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, body in MODULES.items():
        (package / f"{name}.py").write_text(textwrap.dedent(body).strip() + "\n" + GUARD)
    # No guard: works when imported, so the server must never import it.
    (package / "unguarded.py").write_text(
        "import pathlib\nwith open('imported.log', 'a') as log:\n    log.write('once\\n')\n")
    return tmp_path


def module_check(name: str, *args: str, stdin: bool | str = False,
                 module: str | None = None) -> Check:
    """`python -m wchecks.<name> ARGS`; with `stdin`, 99 x's, or the file of that name."""
    producer = "print('x' * 99)" if stdin is True else \
        f"import sys; sys.stdout.write(open({stdin!r}).read())"
    return Check(name=name, group="t", tool="python",
                 argv=("python", "-m", module or f"wchecks.{name}", *args), reads=(),
                 stdin_from=Step("python", ("python", "-c", producer)) if stdin else None)


def run(root: Path, checks: list[Check], jobs: int = 1) -> dict:
    return {r.check.name: r for r in anyio.run(native.run_locally, checks, root, jobs)}


def by_subprocess(root: Path, check: Check, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *check.argv[1:]], cwd=root, capture_output=True,
                          text=True, env=native.environment(root), input=stdin)


def test_a_module_check_runs_as_a_child_of_the_warm_interpreter_with_its_io(root):
    check = module_check("ok", "--env", "dev", stdin=True)
    result = run(root, [check, module_check("code")])["ok"]
    assert result.status == PASSED
    lines = result.output.splitlines()
    assert lines[0] == f"argv ['--env', 'dev'] file {root / 'wchecks' / 'ok.py'}"
    assert lines[1] == "to stderr"  # one stream, in order, as the merged pipe was
    assert lines[2].startswith("read 100 parent ")
    assert int(lines[2].split()[-1]) != os.getpid()  # not a subprocess of the executor


def test_exit_codes_and_a_crash_read_as_the_subprocess_did(root):
    results = run(root, [module_check("code"), module_check("crash")])
    assert results["code"].status == FAILED and results["code"].output == "exits 3\n"
    assert results["crash"].status == FAILED
    assert results["crash"].output == by_subprocess(root, module_check("crash")).stderr
    assert "RuntimeError: boom" in results["crash"].output


def test_a_ctrl_c_in_one_check_is_that_checks_failure_and_the_server_serves_on(root):
    results = run(root, [module_check("interrupted"), module_check("ok"), module_check("code")])
    assert results["interrupted"].status == FAILED
    assert results["interrupted"].output.rstrip().endswith("KeyboardInterrupt")
    assert results["ok"].status == PASSED and results["code"].output == "exits 3\n"


# The timeout the hang tests set: both checks' own work takes milliseconds (a fork of the
# warm server; the timeout counts from the check's start, after the server is ready), the
# hang 60 s: what is proven is the kill at the timeout, whatever its length.
HANG_TIMEOUT = 0.5


def test_a_hang_is_killed_at_the_timeout_and_the_others_pass(root, monkeypatch):
    monkeypatch.setattr(native, "CHECK_TIMEOUT_SECONDS", HANG_TIMEOUT)
    results = run(root, [module_check("hangs"), module_check("ok")], jobs=2)
    assert int(results["ok"].output.split()[-1]) != os.getpid()  # both in the server
    assert results["hangs"].status == ERROR
    assert f"timed out after {HANG_TIMEOUT}s" in results["hangs"].output
    assert results["ok"].status == PASSED
    hung = int((root / "hung.pid").read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
        os.kill(hung, 0)


def test_the_server_is_gone_after_the_run(root):
    result = run(root, [module_check("ok"), module_check("code")])["ok"]
    server = int(result.output.split()[-1])
    with pytest.raises(ProcessLookupError):
        os.kill(server, 0)


def test_a_module_that_works_on_import_is_never_imported_by_the_server(root):
    results = run(root, [module_check("unguarded"), module_check("ok")])
    assert results["unguarded"].status == PASSED
    assert (root / "imported.log").read_text() == "once\n"  # its own run, nothing else


def test_without_the_server_the_checks_run_as_subprocesses(root, monkeypatch):
    monkeypatch.setattr(warm, "MODULE", "wchecks.does_not_exist")  # the server cannot start
    results = run(root, [module_check("ok"), module_check("code")])
    assert results["ok"].status == PASSED
    assert int(results["ok"].output.split()[-1]) == os.getpid()  # a subprocess of ours
    assert results["code"].output == "exits 3\n"


def test_a_single_module_check_runs_as_a_subprocess(root):
    """A warm start costs what it saves when there is one check to serve."""
    result = run(root, [module_check("ok")])["ok"]
    assert result.status == PASSED and int(result.output.split()[-1]) == os.getpid()


def test_only_python_dash_m_argvs_are_served():
    assert warm.served(("python", "-m", "pipeline.checks.chart.probes", "--env", "dev")) == \
        "pipeline.checks.chart.probes"
    assert warm.served(("python", "-c", "print(1)")) is None
    assert warm.served(("python", "script.py")) is None


def test_a_hang_that_started_a_process_is_killed_with_it(root, monkeypatch):
    """The timeout kills the check's process group: what it started does not outlive it."""
    monkeypatch.setattr(native, "CHECK_TIMEOUT_SECONDS", HANG_TIMEOUT)  # both checks need ms
    results = run(root, [module_check("spawns"), module_check("ok")], jobs=2)
    assert results["spawns"].status == ERROR
    assert f"timed out after {HANG_TIMEOUT}s" in results["spawns"].output
    sleeper = int((root / "sleeper.pid").read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(sleeper, 0)
        except ProcessLookupError:
            break
        if open(f"/proc/{sleeper}/stat").read().split()[2] == "Z":  # killed, awaiting its reaper
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"sleep {sleeper} outlived its check")


# --- renders parsed once, before the fork (model.kube.parse_ahead) ------------------------------

# As helm emits it; RENDER_B differs from it in one byte (same length: no key by size or path).
RENDER = """---
# Source: dpp-platform/templates/backend/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dpp-platform-backend
  labels: {app.kubernetes.io/component: backend}
spec:
  replicas: 2
  template:
    metadata:
      labels: {app.kubernetes.io/component: backend}
---
# Source: dpp-platform/templates/backend/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: dpp-platform-backend
  labels: {app.kubernetes.io/component: backend}
spec:
  ports: [{port: 8000, name: http}]
"""
RENDER_B = RENDER.replace("replicas: 2", "replicas: 3")


def documents(text: str) -> list[dict]:
    """The documents as PyYAML's own pure-Python safe loader reads them (not the code under test)."""
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict) and doc]


def told(result) -> dict:
    assert result.status == PASSED, result.output
    return json.loads(result.output)


def renders(root: Path) -> Path:
    (root / "a.yaml").write_text(RENDER)
    (root / "b.yaml").write_text(RENDER_B)
    return root


def test_a_check_takes_the_parse_made_ahead_of_exactly_its_own_stdin(root):
    renders(root)
    results = run(root, [module_check("parses", stdin="a.yaml"),
                         replace(module_check("parses", stdin="a.yaml"), name="again"),
                         replace(module_check("parses", stdin="b.yaml"), name="b")])
    first, second, other = told(results["parses"]), told(results["again"]), told(results["b"])
    assert first["parsed"] == second["parsed"] == 0  # inherited, not parsed in the child
    assert first["docs"] == second["docs"] == documents(RENDER)
    assert other["parsed"] == 0 and other["docs"] == documents(RENDER_B)  # its own bytes' parse
    assert other["docs"][0]["spec"]["replicas"] == 3
    # Taken once: a second load in the same child parses again, to the same documents.
    assert first["parsed_again"] == 1 and first["again"] == documents(RENDER)


def test_a_check_that_changes_the_documents_changes_no_other_checks(root):
    renders(root)
    mutates = replace(module_check("parses", "--mutate", stdin="a.yaml"), name="mutates")
    reads = module_check("parses", stdin="a.yaml")
    results = run(root, [mutates, reads], jobs=1)
    changed, after = told(results["mutates"]), told(results["parses"])
    assert changed["ended"] < after["started"]  # one after the other, in the same server
    assert changed["parsed"] == after["parsed"] == 0
    assert changed["again"] == documents(RENDER)  # its own second load: not its changed copy
    assert after["docs"] == documents(RENDER)


@pytest.mark.parametrize("text", ["kind: Service\nspec: [1, 2\nmetadata: {}\n",
                                  "kind: ConfigMap\ndata: {when: 2020-13-45}\n"],
                         ids=["not-yaml", "not-a-date"])
def test_a_stdin_that_does_not_parse_fails_the_check_as_in_a_subprocess(root, text):
    """Not parsed ahead: the child parses it and fails exactly as `python -m` does (a
    LoadError naming <stdin>, or the loader's own traceback), and the server serves on."""
    (root / "bad.yaml").write_text(text)
    check = module_check("promrules", "--env", "dev", "--namespace", "dpp", stdin="bad.yaml",
                         module="pipeline.checks.chart.promrules")
    results = run(root, [check, module_check("ok", stdin="bad.yaml")])
    alone = by_subprocess(root, check, text)
    assert results["promrules"].status == FAILED
    assert results["promrules"].output == alone.stdout + alone.stderr
    assert ("<stdin>: not valid YAML" if "[" in text else "ValueError") in results["promrules"].output
    assert int(results["ok"].output.split()[-1]) != os.getpid()  # the server read it and serves on


def test_without_the_server_a_check_parses_its_stdin_itself(root, monkeypatch):
    renders(root)
    monkeypatch.setattr(warm, "MODULE", "wchecks.does_not_exist")  # the server cannot start
    results = run(root, [module_check("parses", stdin="a.yaml"), module_check("code")])
    alone = told(results["parses"])
    assert alone["parsed"] == 1 and alone["docs"] == documents(RENDER)
