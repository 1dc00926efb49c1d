"""Signing the pushed chart with cosign, and verifying it, before a release is reported.

Pure: the cosign argv of each step and the reading of cosign's answers. Both
executors run these argv (natively as subprocesses, in Dagger in cosign's
pinned image); they only differ in where the key, password and registry
credentials come from.

Two modes:
- key pair (local, tests, air-gapped registries): `cosign sign --key`, no transparency
  log (`--tlog-upload=false`), verified against the given public key;
- keyless (GitHub Actions): a Fulcio certificate for the workflow's OIDC identity, the
  signature recorded in Rekor, verified against that identity and GitHub's issuer.

cosign v2.6.5 flags: cmd/cosign/cli/options/{sign,verify,certificate,registry}.go.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pipeline.publish import CHART_NAME, PublishError, Target, last_error_line

GITHUB_OIDC_ISSUER = "https://token.actions.githubusercontent.com"
# cosign's key-pair password comes from this variable only (cosign pkg/cosign/env/env.go);
# unset, cosign would prompt on a terminal.
PASSWORD_ENV = "COSIGN_PASSWORD"
# Where cosign (go-containerregistry's default keychain) reads registry credentials:
# $DOCKER_CONFIG/config.json, the same docker-style file helm reads.
DOCKER_CONFIG_ENV = "DOCKER_CONFIG"
DOCKER_CONFIG_FILE = "config.json"
# cosign's GitHub Actions provider fetches the OIDC token with these (pkg/providers/github).
GITHUB_OIDC_ENV = ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
WORKFLOW_IDENTITY = re.compile(r"^https://[^\s/]+/[^\s]+/\.github/workflows/[^\s@]+@refs/\S+$")


@dataclass(frozen=True)
class Signing:
    """How a release is signed and verified: `key` and `public_key` paths, or a keyless identity."""

    key: str = ""
    public_key: str = ""
    identity: str = ""
    issuer: str = GITHUB_OIDC_ISSUER

    @property
    def keyless(self) -> bool:
        return not self.key

    def describe(self) -> str:
        if self.keyless:
            return f"keyless, certificate identity {self.identity} issued by {self.issuer}"
        return "key pair, no transparency log"


def signing_mode(has_key: bool, has_public_key: bool, identity: str, has_oidc: bool) -> None:
    """Exactly one way to sign, given whole, before any work: nothing unsigned is published."""
    if has_key and identity:
        raise PublishError("--signing-key and --certificate-identity both given: sign with a "
                           "key pair (local) or keyless in GitHub Actions, not both")
    if has_key and not has_public_key:
        raise PublishError("--signing-key needs --verify-key (the public key the signature "
                           "is verified against before the release is reported)")
    if not has_key and has_public_key:
        raise PublishError("--verify-key without --signing-key: give the private key too")
    if not has_key and not identity:
        raise PublishError("publish signs every release: give --signing-key and --verify-key "
                           "(key pair) or --certificate-identity (keyless, GitHub Actions)")
    if identity and not WORKFLOW_IDENTITY.match(identity):
        raise PublishError(
            f"--certificate-identity {identity!r} is not a workflow identity: expected "
            f"https://github.com/OWNER/REPO/.github/workflows/FILE@refs/tags/TAG")
    if identity and not has_oidc:
        raise PublishError("keyless signing needs --oidc-request-url and --oidc-request-token "
                           "(GitHub Actions' ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN, given "
                           "with `id-token: write`)")


def image(target: Target, digest: str) -> str:
    """What cosign signs: the chart manifest by digest (never by tag, which can move)."""
    return f"{target.registry}/{target.repository}/{CHART_NAME}@{digest}"


def signature_tag(target: Target, digest: str) -> str:
    """Where cosign stores the signature: `<repo>:sha256-<hex>.sig` (cosign triangulate)."""
    return f"{target.registry}/{target.repository}/{CHART_NAME}:{digest.replace(':', '-')}.sig"


def registry_flags(target: Target) -> list[str]:
    return ["--allow-http-registry"] if target.plain_http else []


def sign_argv(target: Target, digest: str, signing: Signing) -> list[str]:
    mode = [] if signing.keyless else ["--key", signing.key, "--tlog-upload=false"]
    return ["cosign", "sign", "--yes", *mode, *registry_flags(target), image(target, digest)]


def verify_argv(target: Target, digest: str, signing: Signing) -> list[str]:
    if signing.keyless:
        mode = ["--certificate-identity", signing.identity,
                "--certificate-oidc-issuer", signing.issuer]
    else:
        mode = ["--key", signing.public_key, "--insecure-ignore-tlog=true"]
    return ["cosign", "verify", *mode, *registry_flags(target), image(target, digest)]


def verified_digests(output: str) -> set[str]:
    """The manifest digests cosign's verified payloads (JSON on stdout) vouch for."""
    found = set()
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("["):
            continue
        try:
            payloads = json.loads(line)
        except json.JSONDecodeError:
            continue
        for payload in payloads if isinstance(payloads, list) else []:
            digest = (payload.get("critical", {}).get("image", {})
                      .get("docker-manifest-digest"))
            if digest:
                found.add(digest)
    return found


def unsigned(target: Target, digest: str, step: str, output: str) -> PublishError:
    return PublishError(
        f"{step} {image(target, digest)}: {last_error_line(output)}\n"
        f"pushed {target.reference(digest)}, but it is NOT signed and verified: do not deploy "
        f"it; delete that version from {target.registry}, or sign and verify it by hand "
        f"(README, 'Verifying a release'), then publish a new version")


async def sign_and_verify(run, target: Target, digest: str, signing: Signing) -> str:
    """Sign the pushed digest, verify the signature; return the signature's location.

    `run(argv) -> (exit code, output)` runs cosign where the key and credentials are.
    """
    code, output = await run(sign_argv(target, digest, signing))
    if code != 0:
        raise unsigned(target, digest, "cosign sign", output)
    code, output = await run(verify_argv(target, digest, signing))
    if code != 0:
        raise unsigned(target, digest, "cosign verify", output)
    if digest not in verified_digests(output):
        raise unsigned(target, digest, "cosign verify",
                       f"Error: no verified signature names {digest}")
    return signature_tag(target, digest)


def signed_line(reference: str, signature: str, signing: Signing) -> str:
    """What publish prints: the reference, and that it is signed and how it was verified."""
    return (f"{reference} signed and verified (cosign, {signing.describe()}); "
            f"signature {signature}")
