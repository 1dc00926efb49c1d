"""Transitional: policies/scrape.py's import of the LabelSelector evaluator, which is now
pipeline.model.kube.label_selector_matches; delete this file when scrape.py imports that."""

from __future__ import annotations

from pipeline.model.kube import label_selector_matches


def _selector_matches(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector; None or {} selects everything (the meaning scrape.py was written for)."""
    return label_selector_matches(selector or {}, labels)
