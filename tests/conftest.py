"""Shared fixtures: the repo, and running the native CLI as a user would."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.executors.native import GO_GC_PERCENT
from tests.support.repo import REPO


# Every `python -m pipeline...` a test starts runs this checkout's code, even when the
# shared venv's editable install points at another checkout (a CI clone, say).
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH", "")) if p)
# The Go tools the tests start themselves (helm, the servers) collect garbage as the
# executor's checks do (about a fifth less CPU); a GOGC the user set wins.
os.environ.setdefault("GOGC", GO_GC_PERCENT)
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
    made once per test session (the one `run_check` feeds its readers): `rendered("prod")` is
    its text; parse it afresh to mutate it. `monitoring=False`: the render without that API."""
    from tests.support.repo import produced, render_argv

    def text(env: str, monitoring: bool = True) -> str:
        made = produced(render_argv(env, monitoring=monitoring))
        assert made.returncode == 0, made.stderr
        return made.stdout
    return text
