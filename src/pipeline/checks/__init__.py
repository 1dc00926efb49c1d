"""The Python checks, grouped as the plan groups them; each reports `Problem`s."""
