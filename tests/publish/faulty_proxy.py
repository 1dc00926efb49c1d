"""A proxy in front of the test registry that answers some requests itself with an error:
every blob upload with 503 (mid-push), or cosign's signature manifest with 403 (refused)."""

from __future__ import annotations

import http.client
import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def blob_uploads(method: str, path: str) -> int | None:
    return 503 if method in ("PUT", "PATCH") and "/blobs/uploads/" in path else None


def signature_manifests(method: str, path: str) -> int | None:
    """cosign stores a signature as the manifest `<repo>:sha256-<hex>.sig`."""
    return 403 if method == "PUT" and re.search(r"/manifests/sha256-[0-9a-f]{64}\.sig$", path) \
        else None


def handler_for(upstream: str, refuse=blob_uploads):
    class Forward(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def relay(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = refuse(self.command, self.path)
            if status is not None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            conn = http.client.HTTPConnection(upstream, timeout=10)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            headers["Host"] = upstream
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value.replace(upstream, self.headers["Host"]))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = relay

    return Forward


@contextmanager
def failing_uploads(upstream: str, refuse=blob_uploads):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(upstream, refuse))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
