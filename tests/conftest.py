"""Shared fixtures: the repo, and running the native CLI as a user would."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def take_ctrl_c() -> None:
    """Popen's preexec_fn for a child a test interrupts: SIGINT acts as a terminal's Ctrl-C
    even when this test run ignores it (a background job of a non-interactive shell inherits
    SIG_IGN, and Python and Go programs then keep ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
# Every `python -m pipeline...` a test starts runs this checkout's code, even when the
# shared venv's editable install points at another checkout (a CI clone, say).
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH", "")) if p)
# Lint results are reused within a test session (as a user's runs reuse them: the cache is
# safe for concurrent runs), never from the user's own cache nor across sessions. The first
# pytest process makes it and removes it at exit; xdist workers inherit its environment.
if os.environ.get("DPP_TEST_RESULT_CACHE_OWNER") is None:
    os.environ["DPP_TEST_RESULT_CACHE_OWNER"] = str(os.getpid())
    os.environ["DPP_RESULT_CACHE"] = tempfile.mkdtemp(prefix="dpp-test-result-cache-")
    atexit.register(shutil.rmtree, os.environ["DPP_RESULT_CACHE"], ignore_errors=True)


@pytest.fixture
def repo() -> Path:
    return REPO


def run_pipeline(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None,
                 timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`python -m pipeline ARGS` in a subprocess, non-TTY (plain output, as in CI)."""
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)


def copy_repo(dest: Path, *paths: str) -> Path:
    """Copy the named repo paths (files or directories) into `dest`, keeping their layout."""
    for path in paths:
        source = REPO / path
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return dest


def copy_whole_repo(dest: Path) -> Path:
    """Every file the plan could read (the same walk the native executor uses)."""
    from pipeline.plan import Tree

    return copy_repo(dest, *sorted(Tree.from_path(REPO).files))


@pytest.fixture(scope="session")
def kube_apiserver() -> Iterator[Path]:
    """One real API server (etcd + kube-apiserver) for the whole test session: its kubeconfig.

    Started and stopped by the native executor's own service code, as `lint` does.
    """
    import anyio.from_thread

    from pipeline.executors import native, native_services
    from pipeline.plan.services import KUBE_APISERVER

    locate = native.service_locator(native.environment(REPO))
    with anyio.from_thread.start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(
                native_services.running([KUBE_APISERVER], locate)) as started:
            portal.call(started.wait, (KUBE_APISERVER.name,))
            if KUBE_APISERVER.name in started.errors:
                pytest.fail(f"kube-apiserver: {started.errors[KUBE_APISERVER.name]}")
            yield Path(started.fills[KUBE_APISERVER.placeholder])


@pytest.fixture(scope="session")
def rendered() -> Callable[[str], str]:
    """The plan's render of an environment (`helm template`, newest Kubernetes, monitoring API),
    made once per test session: `rendered("prod")` is its text; parse it afresh to mutate it."""
    from tests.support.repo import render

    texts: dict[str, str] = {}

    def text(env: str) -> str:
        if env not in texts:
            made = render(env)
            assert made.returncode == 0, made.stderr
            texts[env] = made.stdout
        return texts[env]
    return text
