"""Compose interpolation, read by the real Compose v2: unset variables and malformed ones."""

from __future__ import annotations

import pytest

from pipeline.executors import FAILED, PASSED
from pipeline.layout import COMPOSE_FILE as COMPOSE
from tests.support.monitoring import edit, run

pytestmark = pytest.mark.tools


def status_of(root, check_id):
    status, text = run(root, check_id)
    if "docker-compose not found" in text:
        pytest.skip("docker-compose is not installed (scripts/bootstrap compose)")
    return status, text


def test_every_variable_of_the_real_file_has_a_default_or_is_required(root):
    status, text = status_of(root, "compose/variables")
    assert status == PASSED, text
    assert "variables, each with a default or required" in text


@pytest.mark.parametrize("written", ["${REDIS_PASSWORD}", "$REDIS_PASSWORD"])
def test_an_unset_variable_without_default_fails_naming_its_line(root, written):
    edit(root / COMPOSE, "LOG_LEVEL: ${LOG_LEVEL:-info}", f"REDIS_PASSWORD: {written}")
    line = next(i for i, text in enumerate((root / COMPOSE).read_text().splitlines(), start=1)
                if f"REDIS_PASSWORD: {written}" in text)
    status, text = status_of(root, "compose/variables")
    assert status == FAILED
    assert (f"{COMPOSE}:{line}: ${{REDIS_PASSWORD}} has no default and is not required: an "
            f"unset REDIS_PASSWORD silently becomes an empty string") in text, text


@pytest.mark.parametrize("written", ["${REDIS_PASSWORD:?set REDIS_PASSWORD}",
                                     "${REDIS_PASSWORD:-}", "${REDIS_PASSWORD:+set}"])
def test_required_defaulted_or_presence_variables_pass(root, written):
    edit(root / COMPOSE, "LOG_LEVEL: ${LOG_LEVEL:-info}", f"REDIS_PASSWORD: {written}")
    status, text = status_of(root, "compose/variables")
    assert status == PASSED, text


def test_a_malformed_expression_fails_in_composes_own_words(root):
    edit(root / COMPOSE, "LOG_LEVEL: ${LOG_LEVEL:-info}", "REDIS_PASSWORD: ${REDIS_PASSWORD@x}")
    status, text = status_of(root, "compose/config")
    assert status == FAILED
    assert "invalid interpolation format for services.backend.environment.REDIS_PASSWORD" in text
