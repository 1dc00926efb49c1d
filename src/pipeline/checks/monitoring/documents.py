"""Walking the monitoring documents the checks read: Prometheus rule files, Grafana dashboards."""

from __future__ import annotations

from typing import Any


def rules_of(document: Any) -> list[tuple[str, dict]]:
    """(group name, rule) pairs of a Prometheus rule file; [] if it has none."""
    found = []
    if isinstance(document, dict):
        for group in document.get("groups") or []:
            if isinstance(group, dict):
                for rule in group.get("rules") or []:
                    if isinstance(rule, dict):
                        found.append((str(group.get("name", "")), rule))
    return found


def panels_of(dashboard: Any) -> list[dict]:
    """Every panel of a dashboard, rows' nested panels included."""
    found = []
    for panel in (dashboard.get("panels") if isinstance(dashboard, dict) else None) or []:
        if isinstance(panel, dict):
            found.append(panel)
            found += [p for p in panel.get("panels") or [] if isinstance(p, dict)]
    return found


def panel_label(panel: dict) -> str:
    """How a problem names a panel: its id and title (`panel 4 'Assets'`)."""
    return f"panel {panel.get('id')!r} {str(panel.get('title', ''))!r}"
