"""The smoke test's two helper servers (stdlib only; `target` also needs PyYAML).

    python -m pipeline.smoke.helpers target --port 8000 --contract infra/monitoring/metrics-contract.yaml
    python -m pipeline.smoke.helpers sink --port 9099

- target: serves every metric of the metrics contract with a healthy value, in the
  Prometheus text exposition format, on /metrics (any path works).
- sink: records every POST (Alertmanager's webhook payloads) and lists them at
  GET /received as JSON [{path, received_at, payload}].

Both answer GET /-/healthy. `--port 0` picks a free port; the first line printed is
`listening on HOST:PORT` either way.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HISTOGRAM_OBSERVATIONS = 100
FAST_OBSERVATION = 0.01  # seconds: below every bucket, so latency alerts stay quiet


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict, extra: dict | None = None) -> str:
    merged = {**(labels or {}), **(extra or {})}
    if not merged:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in merged.items()) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def contract_metrics(contract: dict) -> dict[str, dict]:
    """name -> metric definition, over every job of the contract (synthetic series excluded)."""
    found: dict[str, dict] = {}
    for job in (contract.get("jobs") or {}).values():
        for name, metric in ((job or {}).get("metrics") or {}).items():
            found.setdefault(name, metric or {})
    return found


def healthy_value(metric: dict, now: float) -> float:
    value = metric.get("healthy", 1)
    return now if value == "now" else float(value)


def exposition(contract: dict, now: float | None = None) -> str:
    """Every contract metric with a healthy value (counters stay constant: rate 0)."""
    now = time.time() if now is None else now
    lines = []
    for name, metric in sorted(contract_metrics(contract).items()):
        kind = metric.get("type", "gauge")
        labels = metric.get("labels") or {}
        help_text = " ".join(str(metric.get("help", name)).split())
        lines.append(f"# HELP {name} {_escape(help_text)}")
        lines.append(f"# TYPE {name} {kind}")
        if kind == "histogram":
            for bound in [*metric.get("buckets", []), math.inf]:
                lines.append(f"{name}_bucket{_labels(labels, {'le': _number(float(bound))})} "
                             f"{HISTOGRAM_OBSERVATIONS}")
            lines.append(f"{name}_sum{_labels(labels)} "
                         f"{_number(HISTOGRAM_OBSERVATIONS * FAST_OBSERVATION)}")
            lines.append(f"{name}_count{_labels(labels)} {HISTOGRAM_OBSERVATIONS}")
        elif kind == "summary":
            for quantile in ("0.5", "0.9", "0.99"):
                lines.append(f"{name}{_labels(labels, {'quantile': quantile})} "
                             f"{FAST_OBSERVATION}")
            lines.append(f"{name}_sum{_labels(labels)} "
                         f"{_number(HISTOGRAM_OBSERVATIONS * FAST_OBSERVATION)}")
            lines.append(f"{name}_count{_labels(labels)} {HISTOGRAM_OBSERVATIONS}")
        elif kind == "counter":
            lines.append(f"{name}{_labels(labels)} 100")
        else:
            lines.append(f"{name}{_labels(labels)} {_number(healthy_value(metric, now))}")
    return "\n".join(lines) + "\n"


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if getattr(self.server, "verbose", False):
            sys.stderr.write("%s %s\n" % (self.address_string(), format % args))

    def reply(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def target_handler(contract: dict) -> type[BaseHTTPRequestHandler]:
    class Target(_Quiet):
        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/-/"):
                self.reply(200, b"ok\n")
                return
            self.reply(200, exposition(contract).encode(), "text/plain; version=0.0.4")

    return Target


def sink_handler() -> type[BaseHTTPRequestHandler]:
    received: list[dict] = []
    lock = threading.Lock()

    class Sink(_Quiet):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                payload = json.loads(body or b"null")
            except json.JSONDecodeError:
                payload = {"raw": body.decode(errors="replace")}
            with lock:
                received.append({"path": self.path, "received_at": time.time(),
                                 "payload": payload})
            print(f"received POST {self.path}", flush=True)
            self.reply(200, b"ok\n")

        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/received"):
                with lock:
                    body = json.dumps(received).encode()
                self.reply(200, body, "application/json")
            else:
                self.reply(200, b"ok\n")

    return Sink


def serve(handler: type[BaseHTTPRequestHandler], host: str, port: int) -> None:
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    bound_host, bound_port = server.server_address[:2]
    print(f"listening on {bound_host}:{bound_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve_helper(argv: list[str] | None = None) -> int:
    """Serve the fake metrics target or the webhook sink until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.smoke.helpers",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    target = commands.add_parser("target", help="fake metrics target (the metrics contract)")
    target.add_argument("--contract", type=Path, required=True)
    sink = commands.add_parser("sink", help="webhook sink recording Alertmanager's POSTs")
    for sub in (target, sink):
        sub.add_argument("--port", type=int, required=True)
        sub.add_argument("--host", default="0.0.0.0")
    args = parser.parse_args(argv)
    if args.command == "target":
        import yaml

        contract = yaml.safe_load(args.contract.read_text(encoding="utf-8")) or {}
        exposition(contract)  # fail at start, not at the first scrape
        serve(target_handler(contract), args.host, args.port)
    else:
        serve(sink_handler(), args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(serve_helper())
