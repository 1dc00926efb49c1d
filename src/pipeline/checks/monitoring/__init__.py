"""The monitoring group's Python checks: rule conventions and coverage, dashboards, the metrics contract."""
