"""Reading helm's error output: names and versions never pass for a status."""

from __future__ import annotations

import pytest

from pipeline.publish import Target, classify


@pytest.mark.parametrize("repository,version,output,kind", [
    ("acme/charts", "1.403.0",
     'Error: failed to perform "FetchReference" on source: ghcr.io/acme/charts/dpp-platform:'
     '1.403.0: not found', "absent"),
    ("geofence/charts", "1.4.0",
     "Error: failed to perform FetchReference: ghcr.io/geofence/charts/dpp-platform:1.4.0: "
     "not found", "absent"),
    ("acme/denied-charts", "1.4.0",
     "Error: ghcr.io/acme/denied-charts/dpp-platform:1.4.0: not found", "absent"),
    ("acme/charts", "1.4.0",
     'Error: GET "https://ghcr.io/v2/acme/charts/dpp-platform/manifests/1.4.0": response status '
     "code 401: unauthorized: authentication required", "denied"),
    ("acme/charts", "1.4.0",
     'Error: Get "https://ghcr.io/v2/": dial tcp 1.2.3.4:443: connect: connection refused',
     "transient"),
    ("acme/charts", "1.4.0", "Error: unexpected EOF", "transient"),
    ("acme/charts", "1.4.0",
     "Error: failed to push: response status code 503: Service Unavailable", "transient"),
    ("acme/charts", "1.4.0", "Error: chart.metadata.version is required", "error"),
])
def test_classify(repository, version, output, kind):
    target = Target("ghcr.io", repository, version)
    assert classify("Pulling...\n" + output, target) == kind
