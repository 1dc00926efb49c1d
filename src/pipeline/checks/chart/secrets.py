"""The secrets rule: no secret in a ConfigMap, an env literal, an argument or an annotation."""

from __future__ import annotations

import base64
import re

from pipeline.checks.chart.render import finding
from pipeline.checks.problem import Problem
from pipeline.model.kube import annotations_of, containers, of_kind, rid, workloads

SECRET_WORDS = {"PASSWORD", "PASSWD", "PASS", "SECRET", "TOKEN", "CREDENTIAL", "CREDENTIALS",
                "APIKEY", "PRIVATEKEY"}
KEY_QUALIFIERS = {"API", "AUTH", "ACCESS", "SECRET", "PRIVATE", "SIGNING", "ENCRYPTION"}
NOT_A_SECRET_SUFFIXES = {"ALIAS", "FILE", "NAME", "REF", "PATH", "URL", "ID", "ENDPOINT"}


def is_secret_name(name: str) -> bool:
    """Whether a variable/key name says it holds a secret (EDC_API_AUTH_KEY, DB_PASSWORD, ...).

    Names that only point at a secret (..._ALIAS, ..._FILE, ..._SECRET_NAME) are not secrets.
    """
    words = [w for w in re.split(r"[^A-Za-z0-9]+", name.upper()) if w]
    if not words or words[-1] in NOT_A_SECRET_SUFFIXES:
        return False
    if any(w in SECRET_WORDS for w in words):
        return True
    return any(w == "KEY" and i > 0 and words[i - 1] in KEY_QUALIFIERS for i, w in enumerate(words))


def _secret_values(docs: list[dict]) -> dict[str, str]:
    """{secret value: Secret/name.key} of every Secret rendered (values of >= 6 characters)."""
    out = {}
    for secret in of_kind(docs, "Secret"):
        for key, value in (secret.get("data") or {}).items():
            try:
                text = base64.b64decode(str(value)).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                continue
            if len(text) >= 6:
                out[text] = f"{rid(secret)}.data.{key}"
        for key, value in (secret.get("stringData") or {}).items():
            if len(str(value)) >= 6:
                out[str(value)] = f"{rid(secret)}.stringData.{key}"
    return out


def _leaks(text: str, values: dict[str, str]) -> list[str]:
    return [origin for value, origin in values.items() if value in text]


def check_secrets(docs: list[dict], env: str) -> list[Problem]:
    """No secret in a ConfigMap, an env literal, an argument or an annotation."""
    problems = []
    values = _secret_values(docs)
    for cm in of_kind(docs, "ConfigMap"):
        for key, value in (cm.get("data") or {}).items():
            if is_secret_name(str(key)):
                problems.append(finding("secrets", rid(cm), f"data.{key}",
                                        "looks like a secret: put it in a Secret"))
            for origin in _leaks(str(value), values):
                problems.append(finding("secrets", rid(cm), f"data.{key}", f"contains the value of {origin}"))
    for doc in docs:
        for key, value in annotations_of(doc).items():
            for origin in _leaks(str(value), values):
                problems.append(finding("secrets", rid(doc), f"metadata.annotations.{key}",
                                        f"contains the value of {origin}"))
    for doc, template, base in workloads(docs):
        for key, value in ((template.get("metadata") or {}).get("annotations") or {}).items():
            for origin in _leaks(str(value), values):
                problems.append(finding("secrets", rid(doc), f"{base.removesuffix('.spec')}.metadata.annotations.{key}",
                                        f"contains the value of {origin}"))
        for container, path in containers(template.get("spec") or {}, base):
            for var in container.get("env") or []:
                if "value" not in var:
                    continue
                field = f"{path}.env[{var.get('name')}].value"
                if is_secret_name(var.get("name", "")):
                    problems.append(finding("secrets", rid(doc), field,
                                            "a secret as a literal: use valueFrom.secretKeyRef"))
                for origin in _leaks(str(var.get("value")), values):
                    problems.append(finding("secrets", rid(doc), field, f"contains the value of {origin}"))
            for key in ("command", "args"):
                for i, arg in enumerate(container.get(key) or []):
                    for origin in _leaks(str(arg), values):
                        problems.append(finding("secrets", rid(doc), f"{path}.{key}[{i}]",
                                                f"contains the value of {origin}"))
    return problems
