"""`python -m pipeline render|package`: the native twins of the typed Dagger outputs."""

from __future__ import annotations

import tarfile

import pytest
import yaml

from pipeline import plan
from pipeline.plan import chart
from tests.support.repo import REPO, run_pipeline

pytestmark = pytest.mark.tools


def test_render_writes_one_manifest_per_template(tmp_path):
    done = run_pipeline("render", "--env", "dev", "--output", str(tmp_path / "out"))
    assert done.returncode == 0, done.stdout + done.stderr
    files = sorted((tmp_path / "out").rglob("*.yaml"))
    assert files and done.stdout.strip() == str(tmp_path / "out")
    kinds = {doc["kind"] for f in files for doc in yaml.safe_load_all(f.read_text()) if doc}
    assert {"Deployment", "Service", "ServiceMonitor"} <= kinds  # the monitoring API is on


def test_render_of_an_unknown_environment_lists_the_environments(tmp_path):
    done = run_pipeline("render", "--env", "nosuch", "--output", str(tmp_path / "out"))
    assert done.returncode == 2
    known = ", ".join(chart.environments(plan.Tree.from_path(REPO)))
    assert f"the environments are {known}" in done.stdout
    assert not (tmp_path / "out").exists()


def test_package_writes_the_tgz_with_the_tags_version(tmp_path):
    done = run_pipeline("package", "--tag", "v1.4.0-rc.1", "--output", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    tgz = tmp_path / "dpp-platform-1.4.0-rc.1.tgz"
    assert done.stdout.strip() == str(tgz)
    with tarfile.open(tgz) as archive:
        meta = yaml.safe_load(archive.extractfile("dpp-platform/Chart.yaml"))
    assert meta["version"] == meta["appVersion"] == "1.4.0-rc.1"


def test_package_refuses_a_tag_that_is_not_semver(tmp_path):
    done = run_pipeline("package", "--tag", "v1.4", "--output", str(tmp_path))
    assert done.returncode == 2 and "not a SemVer 2 version" in done.stdout
    assert list(tmp_path.iterdir()) == []
