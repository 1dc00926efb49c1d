"""One model per concept, each read from what the real tool emits (e.g. compose.py)."""
