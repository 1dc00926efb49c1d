"""Checks not moved into pipeline.checks yet (scrape, promrules) and two transitional
re-exports (manifests.py, netpol.py) for them; the package goes with the last move."""
