"""Picking resources out of a parsed render, and problems as the text a reader sees."""

from __future__ import annotations


def find(docs: list[dict], kind: str, name: str) -> dict:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def messages(problems) -> list[str]:
    return [str(p) for p in problems]
