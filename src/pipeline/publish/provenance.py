"""Provenance of a published chart: which source, which commit, when that commit was made.

Helm copies Chart.yaml `annotations` into the OCI manifest's annotations, after its own,
and only `org.opencontainers.image.version` and `.title` are kept from being overridden
(helm v3.22.0 pkg/registry/util.go, generateOCIAnnotations). So stamping the packaged
copy of Chart.yaml with the OCI annotations below puts them on the artifact, and
`created` is the commit's date instead of the archive's mtime (the wall clock); with the
archive's entries stamped with the same time (publish/reproducible.py), packaging the same
commit again gives the same bytes and the same manifest digest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

import yaml

from pipeline.publish import PublishError

SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"
CREATED = "org.opencontainers.image.created"
COMMIT = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")  # SHA-1 or SHA-256 object names
SOURCE_URL = re.compile(r"^https://[^\s/@]+/\S+$")


@dataclass(frozen=True)
class Provenance:
    source: str
    revision: str
    created: str

    @property
    def epoch(self) -> int:
        """The commit's time in seconds: what every entry of the packaged archive carries."""
        return int(datetime.fromisoformat(self.created).timestamp())

    def annotations(self) -> dict[str, str]:
        return {SOURCE: self.source, REVISION: self.revision, CREATED: self.created}


@dataclass(frozen=True)
class Origin:
    """The provenance flags as given (`--source-url`, `--revision`, `--created`)."""

    source_url: str | None = None
    revision: str | None = None
    created: str | None = None


def from_origin(origin: Origin, why_missing: str) -> Provenance:
    """Every flag is needed: a release without provenance is not published."""
    values = {"--source-url": origin.source_url, "--revision": origin.revision,
              "--created": origin.created}
    missing = [flag for flag, value in values.items() if not value]
    if missing:
        raise PublishError(f"{', '.join(missing)} not given; {why_missing}")
    return provenance(origin.source_url, origin.revision, origin.created)


def provenance(source: str, revision: str, created: str) -> Provenance:
    """Validated provenance; `created` normalised to RFC 3339 in UTC (as helm writes it)."""
    if not SOURCE_URL.match(source):
        raise PublishError(f"--source-url {source!r}: expected the repository's https URL, "
                           f"e.g. https://github.com/acme/dpp-platform")
    if not COMMIT.match(revision):
        raise PublishError(f"--revision {revision!r}: expected a full commit id "
                           f"(40 or 64 lower-case hex digits), e.g. `git rev-parse HEAD`")
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise PublishError(f"--created {created!r}: expected the commit's date in RFC 3339 "
                           f"with a time zone, e.g. `git log -1 --format=%cI`")
    utc = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Provenance(source.removesuffix(".git"), revision, utc)


def github_url(remote: str) -> str:
    """`git@github.com:acme/x.git` or `https://github.com/acme/x.git` -> https URL, without
    the credentials a CI checkout's remote may carry (`https://x-access-token:TOKEN@...`):
    they must never reach an annotation, an error or a log."""
    scp = re.match(r"^[\w.-]+@([^:/]+):(.+)$", remote)
    if scp:
        return f"https://{scp[1]}/{scp[2]}".removesuffix(".git")
    return re.sub(r"^(ssh|git|https?)://([^@/]+@)?", "https://", remote).removesuffix(".git")


def stamped_chart_yaml(text: str, stamp: Provenance) -> str:
    """The packaged Chart.yaml: the repo's, plus the provenance annotations."""
    chart = yaml.safe_load(text)
    chart["annotations"] = {**(chart.get("annotations") or {}), **stamp.annotations()}
    return yaml.safe_dump(chart, sort_keys=False)
