"""The suite's shared session resources, each made once per test run: every file whose tests
use one is listed in tests/conftest.py, so that those files are one xdist work unit run by one
worker (one API server, one signed release and key pair)."""

from __future__ import annotations

from collections import OrderedDict
from types import SimpleNamespace

import pytest

from tests.conftest import (API_SERVER_TEST_FILES, API_SERVER_UNIT, PUBLISH_TEST_FILES,
                            PUBLISH_UNIT, file_of, pytest_collection_modifyitems)
from tests.support.repo import REPO

# (the fixture, what a listed file's text holds where it uses it, the listed files, the unit)
UNITS = [("kube_apiserver", "kube_apiserver", API_SERVER_TEST_FILES, API_SERVER_UNIT),
         ("published", "(published", PUBLISH_TEST_FILES, PUBLISH_UNIT)]
IDS = [unit for *_, unit in UNITS]


def scheduler():
    pytest.importorskip("xdist")
    from tests.conftest import pytest_xdist_make_scheduler

    config = SimpleNamespace(getvalue=lambda name: "loadfile", option=SimpleNamespace(
        loadscopereorder=True), getoption=lambda *a, **k: None)
    return pytest_xdist_make_scheduler(config, None)


@pytest.mark.parametrize("fixture, used, files, unit", UNITS, ids=IDS)
def test_every_file_whose_tests_use_the_resource_is_listed(request, fixture, used, files, unit):
    users = {file_of(item.nodeid) for item in request.session.items
             if fixture in getattr(item, "fixturenames", ())}
    assert users <= set(files), sorted(users - set(files))
    for listed in files:  # and nothing stale is
        assert used in (REPO / listed).read_text(), listed


@pytest.mark.parametrize("fixture, used, files, unit", UNITS, ids=IDS)
def test_xdist_schedules_the_listed_files_as_one_unit(fixture, used, files, unit):
    assert {scheduler()._split_scope(f"{f}::t[x]") for f in files} == {unit}
    assert scheduler()._split_scope("tests/a.py::t[x]") == "tests/a.py"


def test_the_api_server_files_run_together_where_the_first_was_collected():
    ids = ["tests/a.py::t", "tests/apiserver/test_credentials.py::t1", "tests/b.py::t",
           "tests/checks/apiserver/test_dryrun.py::t1", "tests/c.py::t",
           "tests/pipeline/test_reads.py::t1", "tests/checks/apiserver/test_dryrun.py::t2"]
    items = [SimpleNamespace(nodeid=i) for i in ids]
    pytest_collection_modifyitems(items)
    assert [i.nodeid for i in items] == [
        "tests/a.py::t", "tests/pipeline/test_reads.py::t1",
        "tests/apiserver/test_credentials.py::t1", "tests/checks/apiserver/test_dryrun.py::t1",
        "tests/checks/apiserver/test_dryrun.py::t2", "tests/b.py::t", "tests/c.py::t"]


def test_the_api_server_unit_goes_out_first():
    """The longest unit first: a unit sent last would be the run's long tail."""
    sent: list[list[int]] = []

    class Node:  # a worker: what the scheduler sends it
        send_runtest_some = staticmethod(sent.append)

    node, schedule = Node(), scheduler()
    schedule.registered_collections = {node: ["tests/a.py::t", "tests/pipeline/test_reads.py::t"]}
    schedule.workqueue = OrderedDict([("tests/a.py", {"tests/a.py::t": False}),
                                      (API_SERVER_UNIT, {"tests/pipeline/test_reads.py::t": False})])
    schedule._assign_work_unit(node)
    assert sent == [[1]] and list(schedule.workqueue) == ["tests/a.py"]
