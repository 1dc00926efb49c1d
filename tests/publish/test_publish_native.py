"""Publishing to a real OCI registry on 127.0.0.1 (distribution v3 with basic auth)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from pipeline import layout
from pipeline.executors.native import environment
from pipeline.publish import BACKOFF_SECONDS, PublishError
from tests.support.repo import REPO, copy_repo, render_argv, run_pipeline
from tests.publish.faulty_proxy import failing_uploads
from tests.support.publish import (REPOSITORY, SHORT_BACKOFF, manifest_digest, publish,
                                   signing_flags)

pytestmark = pytest.mark.tools


def helm(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["helm", *args], cwd=cwd, env=environment(REPO),
                          capture_output=True, text=True, timeout=120)


def registry_config(tmp_path, registry) -> str:
    from pipeline.publish import registry_config as config_json
    path = tmp_path / "auth.json"
    path.write_text(config_json(registry.host, registry.username, registry.password))
    return str(path)


def test_publish_pushes_the_stamped_chart_and_returns_its_digest(published, tmp_path, rendered):
    registry, chart_before = published.registry, published.chart_yaml
    reference = published.line.split()[0]
    chart, _, digest = reference.partition("@")
    assert chart == f"oci://{registry.host}/{REPOSITORY}/dpp-platform:1.4.0"
    assert digest == manifest_digest(registry, "1.4.0")
    auth = registry_config(tmp_path, registry)
    pulled = helm("pull", chart.rsplit(":", 1)[0], "--version", "1.4.0", "--registry-config",
                  auth, "--plain-http", "--untar", "--destination", str(tmp_path / "pulled"))
    assert pulled.returncode == 0, pulled.stderr
    # The Chart.yaml the registry serves (what `helm show chart` prints): stamped from the tag.
    shown = (tmp_path / "pulled" / "dpp-platform" / "Chart.yaml").read_text()
    assert "\nversion: 1.4.0\n" in shown and "\nappVersion: 1.4.0\n" in shown, shown
    assert (REPO / layout.CHART_YAML).read_text() == chart_before, "repo was changed"
    # The plan's render of dev (newest Kubernetes, the monitoring API), of the repository's
    # chart (the session's, `rendered`) and of the pulled one.
    ours = rendered("dev")
    argv = render_argv("dev")
    argv[argv.index(layout.CHART)] = str(tmp_path / "pulled" / "dpp-platform")
    theirs = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert theirs.returncode == 0, theirs.stderr
    version = chart_before.split("\nversion:")[1].split()[0].strip("\"'")
    app_version = chart_before.split("\nappVersion:")[1].split()[0].strip("\"'")
    # The released chart runs the release's images: their tags follow the appVersion.
    for app in ("dpp-backend", "dpp-frontend"):
        assert f'image: "ghcr.io/dpp-platform/{app}:1.4.0"' in theirs.stdout
    normalised = theirs.stdout.replace("dpp-platform-1.4.0", f"dpp-platform-{version}") \
        .replace('version: "1.4.0"', f'version: "{app_version}"') \
        .replace("version: 1.4.0", f"version: {app_version}") \
        .replace(':1.4.0"', f':{app_version}"')
    assert normalised == ours


def test_a_published_version_is_never_overwritten(published, monkeypatch):
    registry = published.registry
    first = manifest_digest(registry, "1.4.0")
    monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)
    with pytest.raises(PublishError, match="already exists .* immutable"):
        publish(registry)
    assert manifest_digest(registry, "1.4.0") == first


def test_wrong_password_fails_clearly_and_pushes_nothing(registry, monkeypatch, capfd):
    monkeypatch.setenv("REGISTRY_PASSWORD", "not-the-password")
    with pytest.raises(PublishError) as raised:
        publish(registry)
    message = str(raised.value)
    assert registry.host in message and "credentials rejected" in message
    assert "not-the-password" not in message
    out, err = capfd.readouterr()
    assert "not-the-password" not in out + err
    assert registry.status(f"/v2/{REPOSITORY}/dpp-platform/tags/list") == 404


@pytest.mark.parametrize("tag", ["1.4", "v1.4.0.1", "latest", "v01.4.0", "1.4.0-", "release-1"])
def test_an_invalid_tag_fails_before_any_work(shared_registry, shared_password, tag):
    def lint():
        raise AssertionError("lint ran for an invalid tag")

    with pytest.raises(PublishError, match=r"not a SemVer 2 version: expected MAJOR\.MINOR"):
        publish(shared_registry, tag=tag, lint=lint)


@pytest.mark.parametrize("tag,version", [("v2.0.0-rc.1", "2.0.0-rc.1"), ("1.4.0", "1.4.0")])
def test_semver_prereleases_and_plain_versions_publish(registry, password, tag, version):
    assert f"dpp-platform:{version}@sha256:" in publish(registry, tag=tag)


def test_a_lint_failure_stops_before_packaging(registry, password):
    with pytest.raises(PublishError, match="lint failed: nothing was packaged or pushed"):
        publish(registry, lint=lambda: False)
    assert registry.status(f"/v2/{REPOSITORY}/dpp-platform/tags/list") == 404


def test_a_registry_that_is_down_fails_within_a_bounded_time(shared_password, shared_registry):
    """Three attempts with short pauses; the release's own pauses (test_core.py) added to
    the time taken must stay within the bound."""
    started = time.monotonic()
    with pytest.raises(PublishError) as raised:
        publish(shared_registry, host="127.0.0.1:9", backoff=SHORT_BACKOFF)
    assert time.monotonic() - started - sum(SHORT_BACKOFF) + sum(BACKOFF_SECONDS) < 30
    assert "127.0.0.1:9" in str(raised.value)
    assert "unreachable or failing after 3 attempt(s)" in str(raised.value)


def test_a_registry_error_mid_push_is_retried_then_reported_never_success(registry, password):
    with failing_uploads(registry.host) as proxy, pytest.raises(PublishError) as raised:
        publish(registry, host=proxy, backoff=SHORT_BACKOFF)
    assert "push" in str(raised.value) and proxy in str(raised.value)
    assert "failing after 3 attempt(s)" in str(raised.value), "pushed without retrying"
    assert registry.status(f"/v2/{REPOSITORY}/dpp-platform/manifests/1.4.0") == 404


def test_the_password_is_never_taken_from_the_command_line(shared_registry):
    done = run_pipeline("publish", "--tag", "v1.4.0", "--registry", shared_registry.host,
                        "--registry-password", shared_registry.password, "--plain-http",
                        *signing_flags())
    assert done.returncode == 1
    assert "expected env:NAME or file:PATH" in done.stdout
    assert shared_registry.password not in done.stdout + done.stderr


def test_the_cli_lints_the_source_and_refuses_a_broken_tree(registry, password, tmp_path):
    # What lint reads to find the broken file: the yamllint config and the file. Nothing is
    # packaged (the chart is never read), so no more of the repository is needed.
    root = copy_repo(tmp_path / "repo", ".yamllint.yaml")
    (root / ".github").mkdir()
    (root / ".github" / "broken.yaml").write_text("key: [unclosed\n")
    done = run_pipeline("publish", "--source", str(root), "--tag", "v1.4.0", "--registry",
                        registry.host, "--repository", REPOSITORY, "--username",
                        registry.username, "--registry-password", "env:REGISTRY_PASSWORD",
                        "--plain-http", *signing_flags(), "--revision", "0" * 40,
                        "--created", "2026-11-26T05:45:39Z")
    assert done.returncode == 1, done.stdout
    assert "lint failed: nothing was packaged or pushed" in done.stdout
    assert "workflows/yamllint" in done.stdout and ".github/broken.yaml" in done.stdout
    assert registry.password not in done.stdout + done.stderr
    assert registry.status(f"/v2/{REPOSITORY}/dpp-platform/tags/list") == 404


@pytest.mark.parametrize("repository", ["Acme/Charts", "acme//charts", "acme/charts_"])
def test_an_invalid_repository_fails_before_any_work(shared_registry, shared_password,
                                                     repository):
    def lint():
        raise AssertionError("lint ran for an invalid repository")

    with pytest.raises(PublishError, match="not a valid OCI repository path"):
        publish(shared_registry, repository=repository, lint=lint)


def test_the_password_variable_is_taken_before_lint_and_helm_run(shared_registry,
                                                                 shared_password):
    """Lint sees no password, nor does anything after it (the environment is read once, for
    helm and cosign, after the variable is taken): the publish stops at lint, whose failure
    pushes nothing (test_a_lint_failure_stops_before_packaging)."""
    import os

    seen = {}

    def lint():
        seen["during lint"] = os.environ.get("REGISTRY_PASSWORD")
        return False

    with pytest.raises(PublishError, match="lint failed"):
        publish(shared_registry, lint=lint)
    assert seen == {"during lint": None}
    assert "REGISTRY_PASSWORD" not in os.environ


def never_lint():
    raise AssertionError("lint started before the cheap registry facts were checked")


def test_an_existing_version_is_refused_before_lint_starts(published, monkeypatch):
    registry = published.registry
    first = manifest_digest(registry, "1.4.0")
    monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)
    with pytest.raises(PublishError, match="already exists .* immutable"):
        publish(registry, lint=never_lint)
    assert manifest_digest(registry, "1.4.0") == first


def test_wrong_credentials_and_an_unreachable_registry_fail_before_lint(shared_registry,
                                                                        monkeypatch):
    monkeypatch.setenv("REGISTRY_PASSWORD", "not-the-password")
    with pytest.raises(PublishError, match="credentials rejected"):
        publish(shared_registry, lint=never_lint)
    monkeypatch.setenv("REGISTRY_PASSWORD", shared_registry.password)
    with pytest.raises(PublishError, match="unreachable"):
        publish(shared_registry, host="127.0.0.1:9", lint=never_lint, backoff=SHORT_BACKOFF)


def test_the_cli_refuses_an_existing_version_without_starting_lint(published):
    registry = published.registry
    first = manifest_digest(registry, "1.4.0")
    done = run_pipeline("publish", "--source", str(REPO), "--tag", "v1.4.0", "--registry",
                        registry.host, "--repository", REPOSITORY, "--username",
                        registry.username, "--registry-password", "env:REGISTRY_PASSWORD",
                        "--plain-http", *signing_flags(),
                        env={"REGISTRY_PASSWORD": registry.password})
    assert done.returncode == 1
    assert "already exists" in done.stdout
    assert "lint" not in done.stdout.replace("lint failed", ""), done.stdout
    assert manifest_digest(registry, "1.4.0") == first  # the shared release is untouched


def test_a_tree_without_the_chart_fails_naming_the_file_and_pushes_nothing(registry, password,
                                                                          tmp_path):
    """Lint has no chart check to fail on such a tree: packaging must say what is missing."""
    from pipeline.publish.provenance import Origin

    root = copy_repo(tmp_path / "repo", ".yamllint.yaml")
    with pytest.raises(PublishError, match=rf"^{layout.CHART_YAML}: cannot read it in "
                                           rf"{root}: No such file or directory$"):
        publish(registry, source=root, origin=Origin("https://github.com/acme/dpp-platform",
                                                     "0" * 40, "2026-11-26T05:45:39Z"))
    assert registry.status(f"/v2/{REPOSITORY}/dpp-platform/tags/list") == 404
