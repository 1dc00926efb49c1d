"""The native result cache (executors/cache.py): reused only when nothing a check depends
on changed, passes only, safe with two runs at once, never trusting a damaged entry."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline import plan
from pipeline.executors import FAILED, PASSED, Result, cache
from tests.support.repo import REPO, run_pipeline
from tests.support.repo import workflows_repo

pytestmark = pytest.mark.tools
REUSED = re.compile(r"\((\d+) reused from the result cache\)")


def lint(root: Path, store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_pipeline("lint", "--source", str(root), "--verbose", *args,
                        env={cache.ENV_DIR: str(store)})


def reused(done: subprocess.CompletedProcess[str]) -> int:
    found = REUSED.search(done.stdout.splitlines()[-1])
    return int(found[1]) if found else 0


def entries(store: Path) -> list[Path]:
    return sorted(store.glob("*/*.json"))


@pytest.fixture
def tree(tmp_path) -> Path:
    return workflows_repo(tmp_path / "tree")


@dataclass(frozen=True)
class Linted:
    tree: Path
    store: Path
    first: subprocess.CompletedProcess[str]  # the lint that filled the store


@pytest.fixture(scope="module")
def linted_once(tmp_path_factory) -> Linted:
    """A tree linted once into an empty store: the cold run the tests below start from."""
    base = tmp_path_factory.mktemp("linted")
    tree, store = workflows_repo(base / "tree"), base / "cache"
    return Linted(tree, store, lint(tree, store))


@pytest.fixture
def linted(linted_once, tmp_path) -> Linted:
    """A copy of `linted_once` (tree and store) for one test to change: the key holds the
    paths a check reads relative to the tree, so the copy's checks find the entries."""
    tree = shutil.copytree(linted_once.tree, tmp_path / "tree")
    store = shutil.copytree(linted_once.store, tmp_path / "cache")
    return Linted(tree, store, linted_once.first)


def test_a_second_run_with_nothing_changed_reuses_every_result(linted):
    tree, store, first = linted.tree, linted.store, linted.first
    assert first.returncode == 0 and reused(first) == 0, first.stdout
    second = lint(tree, store)
    assert second.returncode == 0, second.stdout
    assert reused(second) == 3 and "lint: all 3 checks passed" in second.stdout


def test_an_edit_reruns_only_the_checks_that_read_the_file(linted):
    tree, store = linted.tree, linted.store
    (tree / ".yamllint.yaml").write_text((tree / ".yamllint.yaml").read_text() + "\n# edited\n")
    again = lint(tree, store)
    assert again.returncode == 0 and reused(again) == 2, again.stdout  # only yamllint read it


def test_no_cache_runs_every_check(linted):
    tree, store = linted.tree, linted.store
    forced = lint(tree, store, "--no-cache")
    assert forced.returncode == 0 and reused(forced) == 0, forced.stdout


def test_a_failure_is_never_stored_and_runs_again(tmp_path):
    tree, store = workflows_repo(tmp_path / "tree", pinned=False), tmp_path / "cache"
    for _ in range(2):
        done = lint(tree, store, "--only", "pins")
        assert done.returncode == 1 and "is not pinned" in done.stdout and reused(done) == 0
    assert entries(store) == []


def test_a_truncated_or_tampered_entry_is_ignored_and_rewritten(linted):
    tree, store = linted.tree, linted.store
    stored = entries(store)
    assert len(stored) == 3
    stored[0].write_text(stored[0].read_text()[:40])  # truncated (a crash mid-write elsewhere)
    tampered = json.loads(stored[1].read_text())
    tampered["body"]["output"] = "forged"  # valid JSON, checksum no longer matches
    stored[1].write_text(json.dumps(tampered))
    stored[2].write_bytes(b"\x00\xff garbage")
    again = lint(tree, store)
    assert again.returncode == 0 and reused(again) == 0, again.stdout
    assert "forged" not in again.stdout
    for entry in entries(store):
        assert json.loads(entry.read_text())["body"]["status"] == PASSED  # rewritten whole
    assert reused(lint(tree, store)) == 3


def test_two_runs_at_once_share_the_cache_safely(tree, tmp_path):
    store = tmp_path / "cache"
    command = [sys.executable, "-m", "pipeline", "lint", "--source", str(tree), "--jobs", "2"]
    env = {**__import__("os").environ, cache.ENV_DIR: str(store)}
    both = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in both]
    assert [p.returncode for p in both] == [0, 0], outputs
    assert all("lint: all 3 checks passed" in out for out in outputs)
    assert not list(store.glob("*/*.tmp")), "a temp file was left behind"
    assert len(entries(store)) == 3 and reused(lint(tree, store)) == 3


# --- the key ---------------------------------------------------------------------------------

def checks_by_id(root: Path) -> dict[str, plan.Check]:
    return {c.id: c for c in plan.build(plan.Tree.from_path(root))}


def test_the_key_follows_argv_pins_reads_and_the_pipeline_code(tree, tmp_path, monkeypatch):
    checks = checks_by_id(tree)
    yamllint, pins = checks["workflows/yamllint"], checks["workflows/pins"]
    key = cache.ResultCache(tree, tmp_path).key
    before = {c.id: key(c) for c in (yamllint, pins)}
    assert key(yamllint) == before[yamllint.id]  # stable
    changed_argv = plan.Check(**{**yamllint.__dict__, "argv": (*yamllint.argv, "--extra")})
    assert key(changed_argv) != before[yamllint.id]

    real_pins = cache.toolchain.pins()
    bumped = {**real_pins, "tools": {**real_pins["tools"],
                                     "yamllint": {**real_pins["tools"]["yamllint"], "version": "0"}}}
    monkeypatch.setattr(cache.toolchain, "pins", lambda: bumped)
    assert key(yamllint) != before[yamllint.id]
    monkeypatch.undo()

    (tree / "unrelated.txt").write_text("not read by any check")
    assert cache.ResultCache(tree, tmp_path).key(yamllint) == before[yamllint.id]
    (tree / "dagger.json").write_text((tree / "dagger.json").read_text() + " ")
    assert cache.ResultCache(tree, tmp_path).key(pins) != before[pins.id]

    with_real_code = cache.ResultCache(tree, tmp_path).key(pins)
    monkeypatch.setattr(cache, "code_digest", lambda: "other pipeline code")
    fresh = cache.ResultCache(tree, tmp_path)
    assert fresh.key(yamllint) == before[yamllint.id]  # no Python runs in it
    assert fresh.key(pins) != with_real_code


def test_only_passes_are_stored(tmp_path):
    check = checks_by_id(REPO)["workflows/pins"]
    store = cache.ResultCache(REPO, tmp_path)
    for status in (FAILED, "error", "skipped"):
        store.put(Result(check, status, 1.0, "bad"), "k" * 64)
    assert entries(tmp_path) == []
    store.put(Result(check, PASSED, 1.0, "ok"), "k" * 64)
    hit = store.get(check, "k" * 64)
    assert hit is not None and hit.cached and hit.output == "ok" and store.reused == 1
    assert store.get(check, "j" * 64) is None


def test_a_check_using_a_service_is_never_cached(tmp_path, monkeypatch):
    """A kube-apiserver dry run depends on the server, not only on its inputs (issue 11).

    The caching decision is the executor's (cache.cacheable), made before any server runs:
    the service is a stand-in that records its starts (a real one costs 4 s per run and is
    tested by tests/apiserver), so each run is seen going through the service path."""
    import contextlib

    import anyio

    from pipeline.executors import native, native_services

    starts: list[str] = []

    @contextlib.asynccontextmanager
    async def stand_in(locate):
        starts.append("kube-apiserver")
        yield str(tmp_path / "kubeconfig")

    monkeypatch.setitem(native_services.STARTERS, "kube-apiserver", stand_in)
    check = plan.Check(name="svc", group="t", tool="python", argv=("python", "-c", "print(1)"),
                       reads=())
    object.__setattr__(check, "services", ("kube-apiserver",))
    store = cache.ResultCache(REPO, tmp_path / "store")
    for _ in range(2):
        [result] = anyio.run(lambda: native.run_locally([check], REPO, 1, cache=store))
        assert result.status == PASSED and not result.cached
    assert starts == ["kube-apiserver", "kube-apiserver"]  # each run started its service
    assert entries(tmp_path / "store") == [] and store.reused == 0
