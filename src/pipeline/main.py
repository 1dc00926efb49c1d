"""The Dagger module `pipeline`: `dagger call lint`, `publish` and `smoke`, `dagger check`.

Thin: each function builds the same plan the native CLI builds and hands it to
the Dagger executor. `python -m pipeline <function>` is its native twin.
"""

from __future__ import annotations

import functools
from typing import Annotated

import dagger
from dagger import (DefaultPath, Doc, Ignore, Name, check, function, generate, object_type,
                    up)
from dagger.mod._exceptions import FunctionError

from pipeline import generators, plan
from pipeline.executors import dagger as executor
from pipeline.executors import hints, report
from pipeline.plan.model import IGNORED_DIRS
from pipeline.publish import DEFAULT_REGISTRY, DEFAULT_REPOSITORY, DEFAULT_USERNAME, PublishError
from pipeline.publish import containers as publish_containers
from pipeline.publish.provenance import Origin
from pipeline.smoke import containers as smoke_containers
from pipeline.smoke.stack import StackError

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
    Doc("Run only these checks: a group (chart, argocd, apiserver, ...), GROUP/NAME or a glob of ids"),
]
Tag = Annotated[str, Doc("Release tag, SemVer 2 with an optional leading v, e.g. v1.4.0")]


class LintFailed(FunctionError):
    """The report of a lint with failed checks: the engine shows it, without a traceback."""


@functools.cache
def reported(kind: type[Exception]) -> type[Exception]:
    """`kind` as an error the SDK hands to the engine as it is (a FunctionError subclass is
    neither logged with a traceback nor wrapped): the user reads our message only."""
    return type(kind.__name__, (kind, FunctionError), {"__module__": kind.__module__})


# What a user's input or the checked tree can cause: reported without a traceback.
EXPECTED = (PublishError, plan.PlanError, smoke_containers.SmokeFailed, StackError,
            executor.StepFailed, generators.GenerateError)


def expected_failures(fn):
    """Re-raise the expected failures of `fn` as `reported` errors (a bug keeps its traceback)."""
    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        try:
            return await fn(*args, **kwargs)
        except FunctionError:
            raise
        except EXPECTED as error:
            raise reported(type(error))(str(error)) from None
        except dagger.ExecError as error:  # a step of ours failed: its command and words
            raise reported(executor.StepFailed)(executor.exec_failure(error)) from None
    return wrapper


async def lint_report(source: dagger.Directory, only: list[str] | None, verbose: bool = False,
                      format: str = "text") -> str:  # noqa: A002 - the flag's name
    """Run the selected checks; the report, or LintFailed with it."""
    if format not in report.FORMATS:
        raise plan.PlanError(f"--format {format!r}: expected one of {', '.join(report.FORMATS)}")
    tree = await executor.source_tree(source)
    planned = plan.require_some(plan.build(tree), "--source")
    checks = plan.select(planned, only)
    matched = "".join(f"--only {s}: {plan.describe_match(planned, s)}\n" for s in only or [])
    results = await executor.run_in_containers(checks, source, tree)
    read = await executor.reader(source, tree, [
        path for r in results if not r.ok for path in hints.values_files(r)])
    text = report.as_format(format, results, "source", verbose=verbose, read=read)
    if format == "text":
        text = matched + text
    if not all(r.ok for r in results):
        raise LintFailed(text)
    return text


def group_check(group: str, doc: str, more: str = ""):
    """The `dagger check` function of one plan group: `lint --only GROUP`, nothing returned,
    LintFailed with the report when a check fails. `doc` is its help line, `more` follows
    "The GROUP group of `lint`"."""
    async def lint_group(self, source: Source) -> None:
        await lint_report(source, [group])

    lint_group.__name__ = lint_group.__qualname__ = f"lint_{group}"
    lint_group.__doc__ = f"{doc}\n\nThe `{group}` group of `lint`{': ' + more if more else '.'}"
    return function(check(expected_failures(lint_group)))


async def changes(source: dagger.Directory, name: str) -> dagger.Changeset:
    tree = await executor.source_tree(source)
    generator = generators.select([name])[0]
    generators.check_inputs(generator, tree.exists)
    return executor.generated(generator, source, tree)


@object_type
class Pipeline:
    """Validate, publish and smoke-test the DPP platform's Helm chart and monitoring stack."""

    @function
    @expected_failures
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
        """Run every check of the plan, each in its tool's pinned image; fail if any fails.

        The tools: helm, kubeconform, promtool, amtool, pint, actionlint, yamllint, and the
        repository's own policies and contracts. `dagger check` runs the same checks, one
        function per group.
        """
        if list_checks:
            tree = await executor.source_tree(source)
            planned = plan.require_some(plan.build(tree), "--source")
            return plan.list_lines(plan.select(planned, only)) + "\n"
        return await lint_report(source, only, verbose, format)

    # `dagger check`: one function per plan group, `lint --only GROUP`.
    lint_chart = group_check(
        "chart", "Lint the Helm chart: helm lint, kubeconform and policies per environment.")
    lint_argocd = group_check(
        "argocd", "Lint the ArgoCD Application and ApplicationSet against their CRDs and the chart.")
    lint_apiserver = group_check(
        "apiserver", "Dry-run every render on a real kube-apiserver with Pod Security restricted.",
        "etcd and kube-apiserver run as services.")
    lint_monitoring = group_check(
        "monitoring",
        "Lint Prometheus rules and tests, Alertmanager routes, dashboards, metrics contract.")
    lint_compose = group_check("compose", "Lint docker-compose.prod.yml and the files it mounts.")
    lint_workflows = group_check(
        "workflows",
        "Lint the GitHub Actions workflows (actionlint, pins) and the repository's YAML.")

    @function
    @generate
    @expected_failures
    async def chart_files(self, source: Source) -> dagger.Changeset:
        """Copy infra/monitoring's rules and dashboards into the chart, as a changeset.

        Helm reads only files inside the chart; chart/monitoring-files-sync fails on drift.
        Natively: python -m pipeline generate chart-files.
        """
        return await changes(source, "chart-files")

    @function
    @generate
    @expected_failures
    async def crd_schemas(self, source: Source) -> dagger.Changeset:
        """Generate kubeconform's strict JSON schemas from the CRDs, as a changeset.

        From infra/schemas/crd-sources into infra/schemas/crds (src/pipeline/crdschemas.py).
        Natively: python -m pipeline generate crd-schemas.
        """
        return await changes(source, "crd-schemas")

    @function
    @expected_failures
    async def render(
        self,
        source: Source,
        env: Annotated[str, Doc("The environment whose values-ENV.yaml to render, e.g. dev")],
    ) -> dagger.Directory:
        """Render the chart for one environment as ArgoCD does: a directory of manifests.

        `helm template` with values-ENV.yaml, the newest Kubernetes version of the
        toolchain and the monitoring.coreos.com/v1 API, one file per template.
        """
        tree = await executor.source_tree(source)
        return await executor.rendered(source, tree, env)

    @function
    @expected_failures
    async def package(self, source: Source, tag: Tag) -> dagger.File:
        """Package the chart with the tag's version as its version and appVersion.

        `publish`'s packaging step, without its provenance annotations and fixed timestamps
        (so its digest differs from the published one); nothing is linted or pushed here.
        """
        return await publish_containers.package_of_tag(source, tag)

    @function(cache="never")
    @expected_failures
    async def publish(
        self,
        tag: Tag,
        registry_password: Annotated[dagger.Secret, Doc(
            "Registry password or token, e.g. env:GITHUB_TOKEN (reaches helm as a mounted file)")],
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
        plain_http: Annotated[bool, Doc(
            "Talk plain HTTP to the registry: a local test registry only, refused for ghcr.io")]
        = False,
        registry_service: Annotated[dagger.Service | None, Doc(
            "What the registry host name reaches, e.g. tcp://localhost:5000 for a registry "
            "on this machine")] = None,
    ) -> str:
        """Lint, package, push, sign and verify the chart once; return the signed reference.

        The cheap facts first (tag, registry reachable, credentials, version new), then lint,
        then oci://REGISTRY/REPOSITORY with the tag's version and provenance annotations; the
        pushed digest is signed with cosign and the signature verified. Never cached; an
        existing version is refused.
        """
        async def lint_failures() -> str | None:
            try:
                await lint_report(source, None)
            except LintFailed as failed:
                return str(failed)
            return None

        signing = publish_containers.SigningSecrets(
            signing_key, signing_password, verify_key, certificate_identity,
            oidc_request_url, oidc_request_token)
        origin = Origin(source_url or None, revision or None, created or None)
        return await publish_containers.publish_in_containers(
            source, tag, registry, repository, username, registry_password, lint_failures,
            signing, origin, plain_http, registry_service)

    @function(cache="never")
    @expected_failures
    async def smoke(self, source: Source) -> str:
        """Start the compose monitoring stack as services and prove the alert path end to end.

        Prometheus, Alertmanager, Grafana and node-exporter from docker-compose.prod.yml's
        images, commands and mounts, plus a fake metrics target and a webhook sink: targets
        up, rules loaded, Watchdog and a critical alert reach their receivers, Grafana
        provisions the datasource and dashboards.
        """
        return await smoke_containers.run_smoke_in_containers(source)

    @function
    @up
    @expected_failures
    async def prometheus(self, source: Source) -> dagger.Service:
        """Prometheus of the compose monitoring stack, for `dagger up` (port 9090).

        The smoke's services: scraping fake targets serving the metrics contract,
        alerting through Alertmanager to a webhook sink.
        """
        return await smoke_containers.service(source, "prometheus")

    @function
    @up
    @expected_failures
    async def alertmanager(self, source: Source) -> dagger.Service:
        """Alertmanager of the compose monitoring stack, for `dagger up` (port 9093).

        The smoke's services: its receivers point at a webhook sink.
        """
        return await smoke_containers.service(source, "alertmanager")

    @function
    @up
    @expected_failures
    async def grafana(self, source: Source) -> dagger.Service:
        """Grafana of the compose monitoring stack, for `dagger up` (port 3000).

        The smoke's services: provisioned with the repository's datasource and dashboards.
        """
        return await smoke_containers.service(source, "grafana")
