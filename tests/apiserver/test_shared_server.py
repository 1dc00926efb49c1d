"""The suite's shared API server (tests/conftest.py `kube_apiserver`): every test file that
uses it is listed, so that its tests run back to back on one worker and one server."""

from __future__ import annotations

from collections import OrderedDict
from types import SimpleNamespace

import pytest

from tests.conftest import API_SERVER_TEST_FILES, API_SERVER_UNIT, file_of, pytest_collection_modifyitems
from tests.support.repo import REPO


def test_every_file_whose_tests_use_the_server_is_listed(request):
    users = {file_of(item.nodeid) for item in request.session.items
             if "kube_apiserver" in getattr(item, "fixturenames", ())}
    assert users <= set(API_SERVER_TEST_FILES), sorted(users - set(API_SERVER_TEST_FILES))
    for listed in API_SERVER_TEST_FILES:  # and nothing stale is
        assert "kube_apiserver" in (REPO / listed).read_text(), listed


def test_the_listed_files_run_together_where_the_first_was_collected():
    ids = ["tests/a.py::t", "tests/apiserver/test_credentials.py::t1", "tests/b.py::t",
           "tests/checks/apiserver/test_dryrun.py::t1", "tests/c.py::t",
           "tests/pipeline/test_reads.py::t1", "tests/checks/apiserver/test_dryrun.py::t2"]
    items = [SimpleNamespace(nodeid=i) for i in ids]
    pytest_collection_modifyitems(items)
    assert [i.nodeid for i in items] == [
        "tests/a.py::t", "tests/pipeline/test_reads.py::t1",
        "tests/apiserver/test_credentials.py::t1", "tests/checks/apiserver/test_dryrun.py::t1",
        "tests/checks/apiserver/test_dryrun.py::t2", "tests/b.py::t", "tests/c.py::t"]


def test_xdist_schedules_the_listed_files_as_one_unit(request):
    pytest.importorskip("xdist")
    from tests.conftest import pytest_xdist_make_scheduler

    config = SimpleNamespace(getvalue=lambda name: "loadfile", option=SimpleNamespace(
        loadscopereorder=True), getoption=lambda *a, **k: None)
    scheduler = pytest_xdist_make_scheduler(config, None)
    assert {scheduler._split_scope(f"{f}::t") for f in API_SERVER_TEST_FILES} == {API_SERVER_UNIT}
    assert scheduler._split_scope("tests/a.py::t[x]") == "tests/a.py"
    # The longest unit goes out first (a unit sent last would be the run's long tail).
    sent: list[list[int]] = []

    class Node:  # a worker: what the scheduler sends it
        send_runtest_some = staticmethod(sent.append)

    node = Node()
    scheduler.registered_collections = {node: ["tests/a.py::t", "tests/pipeline/test_reads.py::t"]}
    scheduler.workqueue = OrderedDict([("tests/a.py", {"tests/a.py::t": False}),
                                       (API_SERVER_UNIT, {"tests/pipeline/test_reads.py::t": False})])
    scheduler._assign_work_unit(node)
    assert sent == [[1]] and list(scheduler.workqueue) == ["tests/a.py"]
