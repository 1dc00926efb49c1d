"""The kube-apiserver service through `python -m pipeline lint`: started only when a selected
check needs it, stopped after the run, also on failure and Ctrl-C, leaving nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import plan, toolchain
from pipeline.plan.services import SERVICES, needed
from tests.support.repo import REPO, copy_repo, run_pipeline, take_ctrl_c

pytestmark = pytest.mark.tools

# The server's lifecycle needs one check that reaches it: apiserver/argocd over the dev
# Application and the one CRD it needs (the server's install of all 2.5 MB of CRDs, the
# ApplicationSet's 1.4 MB above all, is most of a check's cost and proves nothing here;
# tests/checks/apiserver covers the full check).
LIFECYCLE_TREE = ("infra/argocd/application-dev.yaml",
                  "infra/schemas/crd-sources/argoproj.io/application-crd.yaml")
# A run that fails needs only a failure the server reports: the charts repository Secret,
# next to the smallest CRD the check can install (AppProject, 19 KB; the Application CRD's
# 406 KB cost the server about 1.6 CPU-s to take in and seconds to establish, 0.2 here).
FAILING_TREE = ("infra/argocd/repository-charts.yaml",
                "infra/schemas/crd-sources/argoproj.io/appproject-crd.yaml")


def lifecycle_tree(tmp_path: Path, paths: tuple[str, ...] = LIFECYCLE_TREE) -> Path:
    return copy_repo(tmp_path / "repo", *paths)


def leftovers(tmp: Path) -> list[str]:
    """Processes and files of a server that ran with TMPDIR=tmp (its paths are under it)."""
    found = [str(p) for p in tmp.iterdir()]
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(tmp) in cmdline and proc.name != str(os.getpid()):
            found.append(f"pid {proc.name}: {cmdline}")
    return found


def lint_env(tmp_path: Path) -> dict[str, str]:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return {"TMPDIR": str(tmp)}


def test_only_checks_that_need_it_start_the_server():
    checks = plan.build(plan.Tree.from_path(REPO))
    assert [s.name for s in needed(plan.select(checks, ["apiserver"]))] == ["kube-apiserver"]
    assert needed(plan.select(checks, ["chart", "monitoring", "workflows"])) == []


def test_a_service_placeholder_only_in_checks_that_declare_the_service():
    """A check reaching a service it does not declare would get no server in either executor."""
    for check in plan.build(plan.Tree.from_path(REPO)):
        for service in SERVICES.values():
            uses = any(service.placeholder in a for a in check.argv)
            assert uses == (service.name in check.services), check.id
    for service in SERVICES.values():
        assert all(toolchain.tool(t).image and toolchain.tool(t).image_binary for t in service.tools)


def test_a_failing_run_stops_the_server_and_removes_its_files(tmp_path):
    root = lifecycle_tree(tmp_path, FAILING_TREE)
    secret = root / "infra/argocd/repository-charts.yaml"
    secret.write_text(secret.read_text().replace("stringData:", "stringDta:"))
    env = lint_env(tmp_path)
    done = run_pipeline("lint", "--source", str(root), "--only", "apiserver/argocd", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED apiserver/argocd" in done.stdout
    assert 'secret/dpp-platform-charts: Error from server (BadRequest)' in done.stdout, done.stdout
    assert 'unknown field "stringDta"' in done.stdout, done.stdout
    assert leftovers(Path(env["TMPDIR"])) == []


def test_ctrl_c_stops_the_server_and_removes_its_files(tmp_path):
    root = lifecycle_tree(tmp_path)
    env = {**os.environ, **lint_env(tmp_path)}
    tmp = Path(env["TMPDIR"])
    lint = subprocess.Popen([sys.executable, "-m", "pipeline", "lint", "--source", str(root),
                             "--only", "apiserver/argocd"], env=env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=take_ctrl_c)
    try:
        deadline = time.monotonic() + 120
        # Interrupted mid-check: the server is up and the check has made its scratch dir.
        while not list(tmp.glob("dpp-kube-apiserver-*/credentials/dpp-dryrun-*")):
            assert lint.poll() is None and time.monotonic() < deadline, lint.stdout.read()
            time.sleep(0.2)
        os.killpg(lint.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        output, _ = lint.communicate(timeout=60)
    finally:
        if lint.poll() is None:
            lint.kill()
    assert lint.returncode == 130, output
    assert "lint: interrupted" in output
    assert settled(tmp) == []


def settled(tmp: Path, seconds: float = 10) -> list[str]:
    """Leftovers once the check's own children (helm, also interrupted) had time to exit."""
    deadline = time.monotonic() + seconds
    while (found := leftovers(tmp)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def test_a_missing_server_binary_is_an_error_naming_the_bootstrap(tmp_path):
    root = lifecycle_tree(tmp_path, FAILING_TREE)
    empty = tmp_path / "empty"
    done = run_pipeline("lint", "--source", str(root), "--only", "apiserver/argocd",
                        env={"DPP_TOOLS_HOME": str(empty), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    etcd = toolchain.tool("etcd")
    assert (f"service kube-apiserver did not start: etcd not found: run `scripts/bootstrap` to "
            f"install etcd {etcd.version} into {empty / 'bin'}") in done.stdout
    assert re.search(r"^ERROR +apiserver/argocd", done.stdout, re.M), done.stdout
