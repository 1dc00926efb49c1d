"""The dry-run check's HTTPS client where no real API server can show it: the Warning header
format, a refused connection, a server that fails (5xx) or does not speak the API.

A stand-in HTTPS server with the credentials `pipeline.kubeapi.server` makes (its CA is the
kubeconfig's) answers /readyz and /version like kube-apiserver, then what each test needs.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.checks.apiserver import dryrun
from pipeline.kubeapi import client, server
from tests.support.repo import copy_repo

SMALL_CRDS = "infra/schemas/crd-sources/monitoring.coreos.com"  # three CRDs: cheap to parse

Answer = tuple[int, str, bytes]  # status, content type, body
SHUTDOWN_POLL_SECONDS = 0.01


def test_warning_headers_are_parsed_as_the_api_server_writes_them():
    """`299 - "text"` (k8s.io/apimachinery pkg/util/net/http.go): escaped quotes, several per
    header, an optional date, several headers."""
    assert client.parse_warnings([
        r'299 - "would violate PodSecurity \"restricted:latest\": runAsNonRoot != true"',
        '299 - "one", 299 - "two" "Sat, 28 Nov 2026 10:00:00 GMT"',
    ]) == ['would violate PodSecurity "restricted:latest": runAsNonRoot != true', "one", "two"]
    assert client.parse_warnings([]) == []


@pytest.fixture(scope="module")
def credentials(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("credentials")
    server.make_credentials(directory)
    return directory


@pytest.fixture
def stand_in(credentials, tmp_path) -> Iterator[Callable[[Callable[[str, str], Answer]], Path]]:
    """start(answer): a kubeconfig for an HTTPS server that answers (method, path) with
    answer(method, path), after /readyz and /version as a ready kube-apiserver; HTTP/1.1,
    keeping connections alive unless `drop` (then it closes each after one answer, silently)."""
    servers = []

    def start(answer: Callable[[str, str], Answer], drop: bool = False) -> Path:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY, as Go's net/http (kube-apiserver) sets it: headers and body are two
            # writes, and Nagle would hold the body for the client's delayed ACK (40 ms each).
            disable_nagle_algorithm = True

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                if self.path == "/readyz":
                    status, kind, body = 200, "text/plain", b"ok"
                elif self.path == "/version":
                    status, kind, body = 200, "application/json", b'{"gitVersion": "v1.37.2"}'
                else:
                    status, kind, body = answer(self.command, self.path)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = drop

            do_GET = do_POST = do_PATCH = _answer

            def log_message(self, *args) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(credentials / server.CERT, credentials / server.KEY)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        # Polled every 10 ms, not socketserver's 0.5 s: `shutdown` at teardown waits for the
        # loop to notice, which would be half a second of idle wait per test.
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
                         daemon=True).start()
        servers.append(httpd)
        home = tmp_path / f"server-{len(servers)}"
        home.mkdir()
        for name in (server.CERT, server.TOKENS):
            (home / name).write_bytes((credentials / name).read_bytes())
        return server.write_kubeconfig(home, f"https://127.0.0.1:{httpd.server_address[1]}")

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def run_dryrun(kubeconfig: Path, tmp_path: Path, capsys) -> tuple[int, str]:
    crds = copy_repo(tmp_path / "repo", SMALL_CRDS) / SMALL_CRDS
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
    code = dryrun.main(["--kubeconfig", str(kubeconfig), "--crds", str(crds), str(manifest)])
    return code, capsys.readouterr().out


def test_a_server_that_fails_is_a_problem_naming_it_and_the_request(stand_in, tmp_path, capsys):
    kubeconfig = stand_in(lambda method, path: (503, "text/plain", b"etcd cluster is unavailable"))
    code, out = run_dryrun(kubeconfig, tmp_path, capsys)
    assert code != 0
    url = server.read_kubeconfig(kubeconfig)[0]
    assert (f"{url}: GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions: the server "
            "failed with HTTP 503: etcd cluster is unavailable [dry-run]") in out, out
    assert "Traceback" not in out


def test_a_status_500_about_a_resource_is_that_resource_s_problem(stand_in):
    """A server-side apply of an unknown field fails with an InternalError Status: a verdict
    on the resource (reported with it), not a failing server."""
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500,
              "message": "failed to create typed patch object: .spec.x: field not declared in schema"}
    kubeconfig = stand_in(lambda method, path: (500, "application/json", json.dumps(status).encode()))
    answer = client.Client.from_kubeconfig(kubeconfig).request("PATCH", "/api/v1/namespaces/a/services/b", {})
    problems = dryrun.problems_of(answer, "server-side apply", "here", "service/b")
    assert problems == ["here: server-side apply: service/b: Error from server (HTTP 500): failed "
                        "to create typed patch object: .spec.x: field not declared in schema"]


def test_a_refused_crd_list_is_the_servers_message_at_once(stand_in, tmp_path, capsys):
    """A 403 on the CRDs is not "not Established yet": it is said at once, with the
    server's message, not after the 120 s wait for Established."""
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403,
              "reason": "Forbidden", "message": 'customresourcedefinitions is forbidden: User "x"'}
    kubeconfig = stand_in(lambda method, path: (403, "application/json", json.dumps(status).encode()))
    code, out = run_dryrun(kubeconfig, tmp_path, capsys)
    assert code != 0
    assert ("GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions: HTTP 403 Forbidden: "
            'customresourcedefinitions is forbidden: User "x"') in out, out
    assert "Traceback" not in out and "Established" not in out


def test_a_server_that_does_not_speak_the_api_is_a_clear_error(stand_in, tmp_path, capsys):
    kubeconfig = stand_in(lambda method, path: (200, "text/html", b"<html>a proxy login page</html>"))
    code, out = run_dryrun(kubeconfig, tmp_path, capsys)
    assert code != 0
    assert "GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions: HTTP 200 with a body " \
           "that is not a JSON object: b'<html>a proxy login page</html>'" in out, out


def test_a_server_without_aggregated_discovery_is_a_clear_error(stand_in):
    kubeconfig = stand_in(lambda method, path: (200, "application/json", b'{"kind": "APIVersions"}'))
    with pytest.raises(client.ApiError, match=r"GET /api: no aggregated discovery "
                                              r"\(apidiscovery.k8s.io/v2 APIGroupDiscoveryList\)"):
        client.Discovery(client.Client.from_kubeconfig(kubeconfig))


def test_a_refused_connection_is_a_problem_naming_the_server(credentials, tmp_path, capsys,
                                                             monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = tmp_path / "gone"
    home.mkdir()
    for name in (server.CERT, server.TOKENS):
        (home / name).write_bytes((credentials / name).read_bytes())
    kubeconfig = server.write_kubeconfig(home, f"https://127.0.0.1:{port}")
    # Ready when the check started, gone when it asks (a server killed mid-run).
    monkeypatch.setattr(server, "wait_ready", lambda *args, **kwargs: "v1.37.2")
    code, out = run_dryrun(kubeconfig, tmp_path, capsys)
    assert code != 0
    assert f"https://127.0.0.1:{port}: GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions" \
           "?labelSelector=" in out, out
    assert "cannot reach the API server: [Errno 111] Connection refused [dry-run]" in out, out
    assert "Traceback" not in out


def test_a_server_that_closed_the_kept_alive_connection_is_asked_again(stand_in):
    """The server may close an idle kept-alive connection: the request goes again on a new
    one, once (a connection that fails when new is an error, above)."""
    kubeconfig = stand_in(lambda method, path: (200, "application/json", b'{"kind": "Status"}'),
                          drop=True)
    api = client.Client.from_kubeconfig(kubeconfig)
    assert [api.request("GET", "/api").ok for _ in range(3)] == [True] * 3


def discovery_list(*groups: tuple[str, str, list[tuple[str, str, str]]]) -> bytes:
    """An APIGroupDiscoveryList: (group, version, [(plural, kind, scope)]) per group."""
    return json.dumps({"apiVersion": "apidiscovery.k8s.io/v2", "kind": "APIGroupDiscoveryList",
                       "items": [{"metadata": {"name": group}, "versions": [{
                           "version": version, "resources": [
                               {"resource": plural, "responseKind": {"group": group, "version": version,
                                                                     "kind": kind},
                                "scope": scope} for plural, kind, scope in resources]}]}
                           for group, version, resources in groups]}).encode()


CORE = discovery_list(("", "v1", [("pods", "Pod", "Namespaced"), ("namespaces", "Namespace", "Cluster")]))


def test_discovery_is_asked_again_until_the_crds_waited_for_are_in_it(stand_in, monkeypatch):
    """Established comes before the aggregated discovery lists a CRD: the check asks again
    (the retry kubectl's `no matches for kind` needed), and only while one is missing."""
    monkeypatch.setattr(dryrun.time, "sleep", lambda seconds: None)
    asked = []

    def answer(method: str, path: str) -> Answer:
        asked.append(path)
        if path == "/api":
            return 200, "application/json", CORE
        widgets = [("widgets", "Widget", "Namespaced")] if asked.count("/apis") > 2 else []
        return 200, "application/json", discovery_list(("example.com", "v1", widgets))

    api = dryrun.Api(client.Client.from_kubeconfig(stand_in(answer)))
    api.expected = {"widgets.example.com"}
    widget = api.resource("example.com/v1", "Widget")
    assert asked.count("/apis") == 3
    assert widget == client.Resource("example.com", "v1", "widgets", "Widget", True)
    assert widget.item("team-a", "w") == "/apis/example.com/v1/namespaces/team-a/widgets/w"
    assert api.resource("v1", "Namespace").item("team-a", "a/b") == "/api/v1/namespaces/a%2Fb"
    assert api.resource("v1", "Secret") is None  # not served: no more asking
    assert asked.count("/apis") == 3
    assert api.discovery().api_versions() == ["example.com/v1", "v1"]


def test_a_resource_not_served_yet_is_asked_again(stand_in, monkeypatch):
    monkeypatch.setattr(dryrun.time, "sleep", lambda seconds: None)
    not_found = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                 "reason": "NotFound", "message": dryrun.NOT_SERVED}
    answers = iter([(404, "application/json", json.dumps(not_found).encode()),
                    (201, "application/json", b'{"kind": "Widget"}'),
                    (404, "application/json", json.dumps(not_found).encode()),
                    (201, "application/json", b'{"kind": "ConfigMap"}')])
    api = dryrun.Api(client.Client.from_kubeconfig(stand_in(lambda method, path: next(answers))))
    api.expected = {"widgets.example.com"}
    widgets = client.Resource("example.com", "v1", "widgets", "Widget", True)
    assert api.request("POST", "/apis/example.com/v1/namespaces/a/widgets", {},
                       resource=widgets).status == 201
    # A built-in kind is served from the start: its 404 (here a name the server cannot
    # route, `a/b`) is the answer at once, not asked again until the timeout.
    config_maps = client.Resource("", "v1", "configmaps", "ConfigMap", True)
    assert api.request("PATCH", "/api/v1/namespaces/a/configmaps/a%2Fb", {},
                       resource=config_maps).status == 404
