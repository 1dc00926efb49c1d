"""The secrets rule: which names say they hold a secret."""

from __future__ import annotations

import pytest

from pipeline.checks.chart import secrets


@pytest.mark.parametrize("name,secret", [("EDC_API_AUTH_KEY", True), ("DB_PASSWORD", True),
                                         ("S3_SECRET_KEY", True), ("S3_ACCESS_KEY", True),
                                         ("TX_SSI_OAUTH_CLIENT_SECRET_ALIAS", False),
                                         ("EDC_DATASOURCE_ACCESSTOKENDATA_URL", False),
                                         ("DATA_SOURCE_PASS_FILE", False), ("KEYCLOAK_ADMIN", False)])
def test_secret_names(name, secret):
    assert secrets.is_secret_name(name) is secret
