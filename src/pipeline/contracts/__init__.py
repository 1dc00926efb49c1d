"""Pure-Python contract checks of the monitoring stack and the compose file.

Each module is run as `python -m pipeline.contracts.<module> ARGS` by the check
plan (src/pipeline/plan/monitoring.py, compose.py): ordinary functions over
files that print one line per problem, naming the file and what is wrong, and
exit 1 when any problem was found.
"""
