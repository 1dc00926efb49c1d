"""The session's signed release (`published`) is made once per test run: every file whose tests
read it is one xdist work unit (tests/conftest.py PUBLISH_TEST_FILES), run by one worker."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import PUBLISH_TEST_FILES, PUBLISH_UNIT, file_of
from tests.support.repo import REPO


def test_every_file_whose_tests_read_the_release_is_listed(request):
    users = {file_of(item.nodeid) for item in request.session.items
             if "published" in getattr(item, "fixturenames", ())}
    assert users <= set(PUBLISH_TEST_FILES), sorted(users - set(PUBLISH_TEST_FILES))
    for listed in PUBLISH_TEST_FILES:  # and nothing stale is
        assert "(published" in (REPO / listed).read_text(), listed


def test_xdist_schedules_the_listed_files_as_one_unit():
    pytest.importorskip("xdist")
    from tests.conftest import pytest_xdist_make_scheduler

    config = SimpleNamespace(getvalue=lambda name: "loadfile", option=SimpleNamespace(
        loadscopereorder=True), getoption=lambda *a, **k: None)
    scheduler = pytest_xdist_make_scheduler(config, None)
    assert {scheduler._split_scope(f"{f}::t[x]") for f in PUBLISH_TEST_FILES} == {PUBLISH_UNIT}
    assert scheduler._split_scope("tests/publish/test_core.py::t") == "tests/publish/test_core.py"
