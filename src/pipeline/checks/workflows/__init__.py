"""Checks of the workflows group: the GitHub Actions workflows stay thin and pinned."""
