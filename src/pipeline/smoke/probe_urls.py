"""The probes against a stack that runs elsewhere, by URL: what `dagger call smoke` runs in a
python container bound to the services (smoke/containers.py):

    python -m pipeline.smoke.probe_urls --source /repo --prometheus http://prometheus:9090 \\
        --alertmanager http://alertmanager:9093 --grafana http://grafana:3000 \\
        --sink http://webhook-sink:9099 --running prometheus,alertmanager,backend,node-exporter
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from pipeline.smoke import stack
from pipeline.smoke.expectations import read_expectations
from pipeline.smoke.probes import Context, Endpoint, run_probes
from pipeline.smoke.report import exit_code, render_text, to_json


def probe_urls(argv: list[str] | None = None) -> int:
    """Run the probes against the given URLs; print the report (or its lines as JSON)."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.smoke.probe_urls")
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--prometheus", required=True)
    parser.add_argument("--alertmanager", required=True)
    parser.add_argument("--grafana", default="")
    parser.add_argument("--sink", required=True)
    parser.add_argument("--running", default="", help="comma-separated reachable hostnames")
    parser.add_argument("--json", action="store_true", help="print the lines as JSON")
    args = parser.parse_args(argv)
    expect, unreadable = read_expectations(args.source, stack.load(args.source))
    ctx = Context(
        prometheus=Endpoint("prometheus", args.prometheus.rstrip("/")),
        alertmanager=Endpoint("alertmanager", args.alertmanager.rstrip("/")),
        grafana=Endpoint("grafana", args.grafana.rstrip("/") or None,
                         absent="no grafana service"),
        sink=args.sink.rstrip("/"), expect=expect, unreadable=unreadable,
        running=set(filter(None, args.running.split(","))))
    lines = asyncio.run(run_probes(ctx))
    sys.stdout.write(to_json(lines) + "\n" if args.json else render_text(lines))
    return exit_code(lines)


if __name__ == "__main__":
    raise SystemExit(probe_urls())
