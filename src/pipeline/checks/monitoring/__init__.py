"""The monitoring group's Python checks."""
