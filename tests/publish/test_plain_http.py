"""--plain-http: a local test registry only, in both executors (one rule, publish.check_plain_http)."""

from __future__ import annotations

import pytest

from pipeline.publish import PublishError, check_plain_http
from tests.support.repo import run_pipeline


@pytest.mark.parametrize("registry", ["localhost:5000", "127.0.0.1:41234", "[::1]:5000",
                                      "registry:5000", "registry"])
def test_local_registries_may_use_plain_http(registry):
    check_plain_http(registry, True)


@pytest.mark.parametrize("registry", ["ghcr.io", "ghcr.io:443", "docker.io",
                                      "registry.example.com:5000", "10.0.0.7:5000"])
def test_public_registries_are_refused(registry):
    with pytest.raises(PublishError, match="refused, plain HTTP would send the credentials"):
        check_plain_http(registry, True)
    check_plain_http(registry, False)


def test_the_native_cli_refuses_before_lint_or_reading_the_secret(tmp_path):
    done = run_pipeline("publish", "--tag", "v1.4.0", "--registry", "ghcr.io", "--plain-http",
                        "--registry-password", "env:DPP_TEST_UNSET_PASSWORD",
                        "--source", str(tmp_path))
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "--plain-http with --registry ghcr.io: refused" in out
    assert "environment variable is not set" not in out and "lint" not in out.lower()
