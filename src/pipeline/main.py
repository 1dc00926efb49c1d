"""The Dagger module `pipeline`: `dagger call lint`, `publish` and `smoke`.

Thin: each function builds the same plan the native CLI builds and hands it to
the Dagger executor. `python -m pipeline <function>` is its native twin.
"""

from __future__ import annotations

from typing import Annotated

import dagger
from dagger import DefaultPath, Doc, Ignore, Name, function, object_type

from pipeline import plan
from pipeline.executors import dagger as executor
from pipeline.executors import hints, report
from pipeline.plan.model import IGNORED_DIRS
from pipeline.publish import DEFAULT_REGISTRY, DEFAULT_REPOSITORY, DEFAULT_USERNAME
from pipeline.publish import containers as publish_containers
from pipeline.publish.provenance import Origin
from pipeline.smoke import containers as smoke_containers

# What never reaches a check: VCS data, caches, virtualenvs, the generated SDK.
SOURCE_IGNORE = [f"**/{name}" for name in sorted(IGNORED_DIRS)]

Source = Annotated[
    dagger.Directory,
    DefaultPath("/"),
    Ignore(SOURCE_IGNORE),
    Doc("The repository to check (default: the repository this module lives in)"),
]
Only = Annotated[
    list[str] | None,
    Doc("Run only these checks: a group (chart, argocd, apiserver, monitoring, compose, workflows), "
        "GROUP/NAME, or a glob of ids"),
]


class LintFailed(Exception):
    """Raised with the full report so `dagger call` exits non-zero and shows it."""


@object_type
class Pipeline:
    """Validate, publish and smoke-test the DPP platform's Helm chart and monitoring stack."""

    @function
    async def lint(
        self,
        source: Source,
        only: Only = None,
        list_checks: Annotated[bool, Name("list"), Doc("List the selected checks, run nothing")]
        = False,
        verbose: Annotated[bool, Doc("Also one line per check, passed ones included")] = False,
        format: Annotated[str, Doc("The report: text, json, or junit (JUnit XML, one test "
                                   "case a check)")] = "text",
    ) -> str:
        """Run every check of the plan (helm, kubeconform, promtool, amtool, pint, actionlint,
        policies, contracts), each in its tool's pinned image; fail if any check fails."""
        if format not in report.FORMATS:
            raise ValueError(f"--format {format!r}: expected one of {', '.join(report.FORMATS)}")
        tree = await executor.source_tree(source)
        planned = plan.require_some(plan.build(tree), "--source")
        checks = plan.select(planned, only)
        if list_checks:
            return plan.list_lines(checks) + "\n"
        matched = "".join(f"--only {s}: {plan.describe_match(planned, s)}\n" for s in only or [])
        results = await executor.run(checks, source, tree)
        read = await executor.reader(source, tree, [
            path for r in results if not r.ok for path in hints.values_files(r)])
        text = report.as_format(format, results, "source", verbose=verbose, read=read)
        if format == "text":
            text = matched + text
        if not all(r.ok for r in results):
            raise LintFailed(text)
        return text

    @function(cache="never")
    async def publish(
        self,
        tag: Annotated[str, Doc("Release tag, SemVer 2 with an optional leading v (e.g. v1.4.0); "
                                "becomes the chart's version and appVersion")],
        registry_password: Annotated[dagger.Secret, Doc(
            "Registry password or token, e.g. env:GITHUB_TOKEN; reaches helm only as a "
            "mounted registry config")],
        source: Source,
        registry: Annotated[str, Doc("OCI registry host")] = DEFAULT_REGISTRY,
        repository: Annotated[str, Doc("Repository path in the registry, e.g. "
                                       "<owner>/<repo>/charts")] = DEFAULT_REPOSITORY,
        username: Annotated[str, Doc("Registry user name")] = DEFAULT_USERNAME,
        source_url: Annotated[str, Doc("Provenance: the repository's https URL, e.g. "
                                       "https://github.com/acme/dpp-platform")] = "",
        revision: Annotated[str, Doc("Provenance: the full commit id released")] = "",
        created: Annotated[str, Doc("Provenance: the commit's date, RFC 3339 "
                                    "(git log -1 --format=%cI)")] = "",
        signing_key: Annotated[dagger.Secret | None, Doc(
            "cosign private key (key-pair signing, local); omit for keyless")] = None,
        signing_password: Annotated[dagger.Secret | None, Doc(
            "Password of the cosign private key")] = None,
        verify_key: Annotated[dagger.File | None, Doc(
            "cosign public key the signature is verified against (with --signing-key)")] = None,
        certificate_identity: Annotated[str, Doc(
            "Keyless: the workflow identity the certificate must name, e.g. https://github.com/"
            "OWNER/REPO/.github/workflows/deploy.yml@refs/tags/v1.4.0")] = "",
        oidc_request_url: Annotated[dagger.Secret | None, Doc(
            "Keyless: env:ACTIONS_ID_TOKEN_REQUEST_URL (GitHub Actions)")] = None,
        oidc_request_token: Annotated[dagger.Secret | None, Doc(
            "Keyless: env:ACTIONS_ID_TOKEN_REQUEST_TOKEN (GitHub Actions)")] = None,
    ) -> str:
        """Lint, package the chart with the tag's version and provenance annotations, push
        it once to oci://<registry>/<repository>, sign its digest with cosign and verify the
        signature; return the signed reference. Never cached; an existing version is refused."""
        async def lint_failures() -> str | None:
            try:
                await self.lint(source)
            except LintFailed as failed:
                return str(failed)
            return None

        signing = publish_containers.SigningSecrets(
            signing_key, signing_password, verify_key, certificate_identity,
            oidc_request_url, oidc_request_token)
        origin = Origin(source_url or None, revision or None, created or None)
        line = await publish_containers.publish(
            source, tag, registry, repository, username, registry_password, lint_failures,
            signing, origin)
        print(f"published {line}")
        return line + "\n"

    @function(cache="never")
    async def smoke(self, source: Source) -> str:
        """Start the monitoring services of docker-compose.prod.yml (Prometheus, Alertmanager,
        Grafana, node-exporter) as Dagger services from the compose file's images, commands and
        mounts, plus a fake metrics target and a webhook sink, and prove the alert path:
        targets up, rules loaded, Watchdog and a critical alert reach their receivers,
        Grafana provisions the datasource and dashboards."""
        return await smoke_containers.run(source)
