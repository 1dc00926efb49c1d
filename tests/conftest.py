"""Shared fixtures: the repo, and running the native CLI as a user would."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.executors.native import GO_GC_PERCENT
from tests.support import warmchecks
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


class _ApiServer:
    """This test process's real API server (etcd + kube-apiserver), started by the native
    executor's own service code as `lint` starts it (`kube_apiserver`), stopped when the
    run leaves the files that use it (`pytest_runtest_teardown`) or ends."""

    def __init__(self) -> None:
        self.stack: contextlib.ExitStack | None = None
        self.kubeconfig: Path | None = None
        self.failed: str | None = None  # why it did not start: said once, not retried per test

    def start(self) -> Path:
        if self.failed:
            pytest.fail(self.failed)
        if self.kubeconfig is None:
            import anyio.from_thread

            from pipeline.executors import native, native_services
            from pipeline.plan.services import KUBE_APISERVER

            locate = native.service_locator(native.environment(REPO))
            with contextlib.ExitStack() as stack:
                portal = stack.enter_context(anyio.from_thread.start_blocking_portal())
                started = stack.enter_context(portal.wrap_async_context_manager(
                    native_services.running([KUBE_APISERVER], locate)))
                portal.call(started.wait, (KUBE_APISERVER.name,))
                if KUBE_APISERVER.name in started.errors:
                    self.failed = f"kube-apiserver: {started.errors[KUBE_APISERVER.name]}"
                    pytest.fail(self.failed)
                self.kubeconfig = Path(started.fills[KUBE_APISERVER.placeholder])
                self.stack = stack.pop_all()
        return self.kubeconfig

    def stop(self) -> None:
        stack, self.stack, self.kubeconfig, self.failed = self.stack, None, None, None
        if stack is not None:
            stack.close()


_API_SERVER = _ApiServer()
# The test files whose tests take `kube_apiserver` (tests/test_work_units.py
# checks the list): run as one unit, on one server, in this order. test_reads first: it
# proves each check passes with its own reads, on a server no other test has filled yet
# (CRDs, namespaces), where its four checks also claim and install the CRDs together as
# in `lint`. A file missing here still works; it only starts a server of its own.
API_SERVER_TEST_FILES = ("tests/pipeline/test_reads.py",
                         "tests/apiserver/test_credentials.py",
                         "tests/checks/apiserver/test_dryrun.py")
API_SERVER_UNIT = "kube-apiserver"
# The test files that read the session's signed release (`published`) and its cosign keys
# (tests/publish/conftest.py, signing_keys.py): one work unit, so that one worker publishes
# and signs it, and generates the keys, once (tests/test_work_units.py checks the list).
PUBLISH_TEST_FILES = ("tests/publish/test_publish_native.py",
                      "tests/publish/test_publish_signing.py")
PUBLISH_UNIT = "publish"


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


@pytest.fixture
def kube_apiserver() -> Path:
    """The kubeconfig of one real API server shared by the tests of this process that use it.

    It starts with the first such test and stops when the run leaves API_SERVER_TEST_FILES:
    they run back to back (`pytest_collection_modifyitems`), on one xdist worker (the
    scheduler below), so a session starts it once and it never idles through other files."""
    return _API_SERVER.start()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if nextitem is None or file_of(nextitem.nodeid) not in API_SERVER_TEST_FILES:
        _API_SERVER.stop()


def pytest_sessionstart() -> None:
    warmchecks.begin()  # its servers' environments: this session's, before any test changes it


def pytest_sessionfinish() -> None:
    _API_SERVER.stop()  # also after a Ctrl-C or -x between its tests
    warmchecks.stop()  # the warm server the checks' tests forked from (tests/support/warmchecks.py)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of API_SERVER_TEST_FILES together, in that list's order, where the first of
    them was collected; every other test keeps its place (a stable sort)."""
    first = next((n for n, item in enumerate(items)
                  if file_of(item.nodeid) in API_SERVER_TEST_FILES), None)
    if first is not None:
        files = API_SERVER_TEST_FILES
        order = {id(item): (first, files.index(file_of(item.nodeid)))
                 if file_of(item.nodeid) in files else (n, 0)
                 for n, item in enumerate(items)}
        items.sort(key=lambda item: order[id(item)])


@pytest.hookimpl(optionalhook=True)  # xdist's hook: absent with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadfile`, except that API_SERVER_TEST_FILES are one work unit: one worker runs
    them back to back on one server, instead of each worker starting its own. It is the
    longest unit (about a minute of the server's work), so it goes out first, not last.
    PUBLISH_TEST_FILES are one unit too (one signed release and key pair for both)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ApiServerTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = file_of(nodeid)
            return API_SERVER_UNIT if file in API_SERVER_TEST_FILES else \
                PUBLISH_UNIT if file in PUBLISH_TEST_FILES else file

        def _assign_work_unit(self, node) -> None:
            if API_SERVER_UNIT in self.workqueue:
                self.workqueue.move_to_end(API_SERVER_UNIT, last=False)
            super()._assign_work_unit(node)

    return ApiServerTogether(config, log)


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
