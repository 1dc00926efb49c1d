"""A minimal Kubernetes API client: one kept-alive HTTPS connection, the kubeconfig's CA and
bearer token, JSON in and out, the server's `Warning` headers, and aggregated discovery.

No third-party HTTP library (http.client, ssl, json; the kubeconfig read by
kubeapi/server.py): the dry-run checks run it in the python image of the Dagger executor too. A check used to start 6-13 kubectl processes, each with a fresh
discovery cache; this makes each step a few requests on one connection.

What the API says is returned as an `Answer` (status, body, warnings), errors included:
a Status is the server's verdict on a request, for the caller to report (even a 500: a
server-side apply of an unknown field fails with an InternalError Status). What is not
raises `ApiError`: no connection, a 5xx that is not a Status (a proxy, a dying server),
a body that is not JSON; `Answer.raise_for_failure` turns a 5xx Status into one where the
request was not about a resource (discovery, the CRDs' state).
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from pipeline.kubeapi import server

TIMEOUT_SECONDS = 60
# Aggregated discovery (apidiscovery.k8s.io/v2, GA since Kubernetes 1.30, KEP-3352): every
# group, version and resource of /api or /apis in one answer (client-go's discovery asks
# for it with this Accept header, plain JSON as the fallback it then refuses below).
AGGREGATED_DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
# One RFC 7234 5.5 warning-value: warn-code SP warn-agent SP "warn-text" [SP "warn-date"];
# the API server sends `299 - "text"` (k8s.io/apimachinery@v0.37.2 pkg/util/net/http.go
# ParseWarningHeaders: several per header, comma-separated, backslash-escaped text).
WARNING = re.compile(r'\s*(\d{3}) (\S+) "((?:[^"\\]|\\.)*)"(?: "[^"]*")?\s*(?:,|$)')


class ApiError(Exception):
    """No verdict from the server: it cannot be reached, it failed (5xx), or it answered
    something that is not the API's JSON. The message names the server and the request."""


@dataclass
class Answer:
    status: int
    body: dict
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def reason(self) -> str:
        """The Status reason (AlreadyExists, Invalid, Forbidden, BadRequest ...)."""
        return str(self.body.get("reason") or f"HTTP {self.status}")

    @property
    def message(self) -> str:
        return str(self.body.get("message") or f"HTTP {self.status}")

    def raise_for_failure(self, url: str, what: str) -> Answer:
        if self.status >= 500:
            raise ApiError(f"{url}: {what}: the server failed with HTTP {self.status}: {self.message}")
        return self


def parse_warnings(headers: list[str]) -> list[str]:
    """The texts of every `Warning` header (299 - "text"), in order."""
    found = []
    for header in headers:
        for match in WARNING.finditer(header):
            found.append(re.sub(r"\\(.)", r"\1", match[3]))
    return found


class Client:
    """Requests to one API server over one HTTPS connection, reopened when the server
    closed it between two requests."""

    def __init__(self, url: str, ca_file: Path, token: str,
                 timeout: float = TIMEOUT_SECONDS) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ApiError(f"{url}: not an https:// API server address")
        self.url, self.host, self.port = url, parts.hostname, parts.port or 443
        self.base = parts.path.rstrip("/")
        try:
            self.context = ssl.create_default_context(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as error:
            raise ApiError(f"{ca_file}: not a readable CA certificate: {error}") from error
        self.headers = {"Authorization": f"Bearer {token}", "User-Agent": "dpp-lint"}
        self.timeout = timeout
        self._connection: http.client.HTTPSConnection | None = None

    @classmethod
    def from_kubeconfig(cls, path: Path) -> Client:
        return cls(*server.read_kubeconfig(path))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(self, method: str, path: str, body: dict | None = None, *,
                query: dict[str, str] | None = None, content_type: str = "application/json",
                accept: str = "application/json") -> Answer:
        target = self.base + path + (f"?{urlencode(query)}" if query else "")
        headers = {**self.headers, "Accept": accept}
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = content_type
        status, raw, warnings = self._exchange(method, target, data, headers)
        try:
            answer = json.loads(raw) if raw.strip() else {}
        except ValueError:
            answer = None
        if status >= 500 and not (isinstance(answer, dict) and answer.get("kind") == "Status"):
            raise ApiError(f"{self.url}: {method} {path}: the server failed with HTTP {status}: "
                           f"{raw[:200].decode(errors='replace').strip() or '(no body)'}")
        if not isinstance(answer, dict):
            raise ApiError(f"{self.url}: {method} {path}: HTTP {status} with a body that is not "
                           f"a JSON object: {raw[:200]!r}")
        return Answer(status, answer, warnings)

    def _exchange(self, method: str, target: str, data: bytes | None,
                  headers: dict[str, str]) -> tuple[int, bytes, list[str]]:
        for attempt in (1, 2):
            reused = self._connection is not None
            if self._connection is None:
                self._connection = http.client.HTTPSConnection(
                    self.host, self.port, context=self.context, timeout=self.timeout)
            try:
                self._connection.request(method, target, body=data, headers=headers)
                response = self._connection.getresponse()
                raw = response.read()
                return (response.status, raw,
                        parse_warnings(response.headers.get_all("Warning") or []))
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as error:
                self.close()  # a kept-alive connection the server had closed: once on a new one
                if not reused or attempt == 2:
                    raise ApiError(f"{self.url}: {method} {target}: the connection was closed: "
                                   f"{error}") from error
            except (OSError, http.client.HTTPException) as error:
                self.close()
                raise ApiError(f"{self.url}: {method} {target}: cannot reach the API server: "
                               f"{error}") from error
        raise AssertionError("unreachable")


@dataclass(frozen=True)
class Resource:
    """Where a kind lives on this server: `/api/v1` or `/apis/GROUP/VERSION`, its plural."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    def collection(self, namespace: str | None) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        where = f"/namespaces/{quote(namespace, safe='')}" if self.namespaced and namespace else ""
        return f"{root}{where}/{self.plural}"

    def item(self, namespace: str | None, name: str) -> str:
        """A name the server would refuse (a `/` in it) stays one path segment: refused."""
        return f"{self.collection(namespace)}/{quote(name, safe='')}"


class Discovery:
    """The kinds the server serves: /api and /apis as aggregated discovery, two requests."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.kinds: dict[tuple[str, str], Resource] = {}  # (apiVersion, kind)
        self.names: set[str] = set()  # plural.group, as a CRD is named
        self.group_versions: set[str] = set()
        self.refresh()

    def refresh(self) -> None:
        kinds, names, group_versions = {}, set(), set()
        for root in ("/api", "/apis"):
            answer = self.client.request("GET", root, accept=f"{AGGREGATED_DISCOVERY},application/json")
            answer.raise_for_failure(self.client.url, f"GET {root}")
            if not answer.ok or answer.body.get("kind") != "APIGroupDiscoveryList":
                raise ApiError(f"{self.client.url}: GET {root}: no aggregated discovery "
                               f"(apidiscovery.k8s.io/v2 APIGroupDiscoveryList): HTTP "
                               f"{answer.status} {answer.body.get('kind') or answer.message}")
            for group in answer.body.get("items") or []:
                name = (group.get("metadata") or {}).get("name") or ""
                for version in group.get("versions") or []:
                    api_version = f"{name}/{version['version']}" if name else version["version"]
                    group_versions.add(api_version)
                    for found in version.get("resources") or []:
                        kind = (found.get("responseKind") or {}).get("kind")
                        resource = Resource(name, version["version"], found["resource"], kind,
                                            found.get("scope") == "Namespaced")
                        kinds.setdefault((api_version, kind), resource)
                        names.add(f"{found['resource']}.{name}" if name else found["resource"])
        self.kinds, self.names, self.group_versions = kinds, names, group_versions

    def resource(self, api_version: str, kind: str) -> Resource | None:
        return self.kinds.get((api_version, kind))

    def api_versions(self) -> list[str]:
        """What `kubectl api-versions` prints: every group/version served, sorted."""
        return sorted(self.group_versions)
