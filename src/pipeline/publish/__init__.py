"""Publishing the chart as an OCI artifact: the rules both executors share.

Pure Python: tag validation, the helm argv of each step, the registry config
helm reads credentials from, and the reading of helm's answers. The release
sequence is written once in `publish.core`; the native (`publish.native`) and
Dagger (`publish.containers`) executors only supply where its steps run.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from dataclasses import dataclass

from pipeline import layout

DEFAULT_REGISTRY = "ghcr.io"
DEFAULT_REPOSITORY = "dpp-platform/charts"
DEFAULT_USERNAME = "dpp-release"  # GHCR accepts any user name with a GITHUB_TOKEN
CHART_NAME = "dpp-platform"  # Chart.yaml `name`: the package and the OCI repository
REGISTRY_CONFIG = "/run/secrets/helm-registry.json"  # in the container; natively a 0600 tmp file
# The pauses between the attempts of a registry step that fails transiently (3 attempts).
BACKOFF_SECONDS = (1.0, 2.0)

# semver.org's regular expression, with an optional leading "v".
SEMVER = re.compile(
    r"^v?(?P<version>(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?)$"
)
# OCI distribution spec: lower-case path components separated by /.
REPOSITORY_PATH = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$")
PUSHED_DIGEST = re.compile(r"^Digest:\s*(sha256:[0-9a-f]{64})\s*$", re.MULTILINE)

# What helm's error line says, in the order it is read (names and versions removed first).
VERDICTS = (
    ("denied", re.compile(r"status code (401|403)\b|\bunauthorized\b|\bdenied\b|\bforbidden\b"
                          r"|authentication required", re.IGNORECASE)),
    ("absent", re.compile(r"\bnot found\b|manifest unknown|name unknown", re.IGNORECASE)),
    ("transient", re.compile(r"connection refused|connection reset|i/o timeout|no such host"
                             r"|tls handshake timeout|\bEOF\b|status code (5\d\d|429)\b"
                             r"|too many requests", re.IGNORECASE)),
)


class PublishError(Exception):
    """A publish that must stop; the message names the registry or input and the cause."""


def version_from_tag(tag: str) -> str:
    """`v1.4.0` -> `1.4.0`; anything that is not SemVer 2 fails before any work."""
    match = SEMVER.match(tag.strip())
    if not match:
        raise PublishError(
            f"--tag {tag!r} is not a SemVer 2 version: expected MAJOR.MINOR.PATCH with an "
            f"optional leading 'v', pre-release and build, e.g. v1.4.0, 1.4.0, v2.0.0-rc.1")
    return match["version"]


def check_repository(repository: str) -> str:
    """Fail before any work on a path the registry would reject (e.g. upper case)."""
    if not REPOSITORY_PATH.match(repository.strip("/")):
        raise PublishError(f"--repository {repository!r} is not a valid OCI repository path: "
                           f"lower-case letters, digits and . _ - separated by /, "
                           f"e.g. acme/dpp-platform/charts")
    return repository.strip("/")


def check_plain_http(registry: str, plain_http: bool) -> None:
    """Plain HTTP only for a local test registry: a loopback address, or a host name without
    dots (a Dagger service alias such as `registry:5000`); never ghcr.io or any public host,
    where it would send the credentials unencrypted."""
    if not plain_http:
        return
    host = registry.rsplit("]", 1)[0].lstrip("[") if registry.startswith("[") \
        else registry.rsplit(":", 1)[0]
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = host == "localhost" or "." not in host
    if not local:
        raise PublishError(f"--plain-http with --registry {registry}: refused, plain HTTP would "
                           f"send the credentials unencrypted; it is for a local test registry "
                           f"only (localhost, 127.0.0.1, or a service name such as "
                           f"registry:5000)")


@dataclass(frozen=True)
class Target:
    """Where the chart goes: oci://<registry>/<repository>/dpp-platform:<version>."""

    registry: str
    repository: str
    version: str
    plain_http: bool = False

    @property
    def base(self) -> str:
        return f"oci://{self.registry}/{self.repository.strip('/')}"

    @property
    def chart(self) -> str:
        return f"{self.base}/{CHART_NAME}"

    def reference(self, digest: str) -> str:
        return f"{self.chart}:{self.version}@{digest}"

    def flags(self, config: str) -> list[str]:
        return ["--registry-config", config] + (["--plain-http"] if self.plain_http else [])


def package_argv(version: str, destination: str, chart: str = layout.CHART) -> list[str]:
    """Stamp version and appVersion from the tag into the package, not into the repo."""
    return ["helm", "package", chart, "--version", version, "--app-version", version,
            "--destination", destination]


def exists_argv(target: Target, config: str) -> list[str]:
    return ["helm", "show", "chart", target.chart, "--version", target.version,
            *target.flags(config)]


def push_argv(target: Target, package: str, config: str) -> list[str]:
    return ["helm", "push", package, target.base, *target.flags(config)]


def package_file(version: str, destination: str) -> str:
    return f"{destination}/{CHART_NAME}-{version}.tgz"


def registry_config(registry: str, username: str, password: str) -> str:
    """A docker-style auths file: helm reads it instead of a `helm registry login`."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {registry: {"auth": auth}}})


def classify(output: str, target: "Target | None" = None) -> str:
    """What helm's error output means: absent, denied, transient or error.

    Only helm's `Error:` lines are read, with the registry, repository and version taken
    out first, so that a version such as 1.403.0 or a repository named "geofence" cannot
    pass for a status code or an EOF.
    """
    lines = [line for line in output.splitlines() if line.strip().startswith("Error")]
    text = "\n".join(lines) if lines else output
    if target is not None:
        for name in (target.chart.removeprefix("oci://"), target.registry,
                     target.repository, target.version):
            text = text.replace(name, "<name>")
    for kind, pattern in VERDICTS:
        if pattern.search(text):
            return kind
    return "error"


def last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error")]
    return (errors or lines or ["(no output)"])[-1]


def refuse_existing(target: Target) -> PublishError:
    return PublishError(
        f"{target.chart}:{target.version} already exists in {target.registry}: published "
        f"versions are immutable; tag a new version")


def registry_failure(target: Target, step: str, output: str, attempts: int) -> PublishError:
    kind = classify(output, target)
    cause = {"denied": "credentials rejected (check --username and --registry-password)",
             "transient": f"registry unreachable or failing after {attempts} attempt(s)",
             }.get(kind, "registry error")
    return PublishError(f"{step} {target.chart}:{target.version} on {target.registry}: "
                        f"{cause}: {last_error_line(output)}")


def package_failure(version: str, output: str) -> PublishError:
    return PublishError(f"helm package {layout.CHART} {version}: {output.strip()}")


def pushed_digest(output: str) -> str | None:
    match = PUSHED_DIGEST.search(output)
    return match[1] if match else None
