"""deploy.yml: a thin, safe wrapper around `dagger call publish`."""

from __future__ import annotations

import yaml

from tests.support.repo import REPO

WORKFLOW = yaml.safe_load((REPO / ".github/workflows/deploy.yml").read_text())
# PyYAML reads the bare key `on` as True.
TRIGGER = WORKFLOW.get("on", WORKFLOW.get(True))
STEPS = WORKFLOW["jobs"]["publish"]["steps"]
PUBLISH = next(s for s in STEPS if s.get("uses", "").startswith("dagger/dagger-for-github@"))


def test_runs_on_version_tags_with_least_privilege_and_one_run_per_ref():
    assert TRIGGER == {"push": {"tags": ["v*"]}}
    assert WORKFLOW["permissions"] == {}
    assert WORKFLOW["jobs"]["publish"]["permissions"] == {
        "contents": "read", "packages": "write", "id-token": "write"}
    assert "github.ref" in WORKFLOW["concurrency"]["group"]


def test_id_token_write_only_on_the_job_that_signs():
    for name, job in WORKFLOW["jobs"].items():
        signs = "--certificate-identity" in str(job)
        assert (job.get("permissions", {}).get("id-token") == "write") == signs, name


def test_signs_keyless_with_the_workflow_identity_and_stamps_provenance():
    args, env = PUBLISH["with"]["args"], PUBLISH["env"]
    assert '--certificate-identity "$IDENTITY"' in args
    assert env["IDENTITY"] == "${{ github.server_url }}/${{ github.workflow_ref }}"
    assert "--oidc-request-url env:ACTIONS_ID_TOKEN_REQUEST_URL" in args
    assert "--oidc-request-token env:ACTIONS_ID_TOKEN_REQUEST_TOKEN" in args
    assert "--signing-key" not in args
    assert '--revision "$REVISION"' in args and env["REVISION"] == "${{ github.sha }}"
    assert '--created "$CREATED"' in args and "created" in env["CREATED"]
    names = next(s for s in STEPS if s.get("id") == "names")
    assert 'git log -1 --format=%cI "$GITHUB_SHA"' in names["run"]
    assert env["SOURCE_URL"] == "${{ github.server_url }}/${{ github.repository }}"


def test_calls_publish_with_the_token_as_an_env_secret():
    args = PUBLISH["with"]["args"]
    assert args.startswith("publish") and "--registry-password env:GITHUB_TOKEN" in args
    assert PUBLISH["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    assert PUBLISH["env"]["TAG"] == "${{ github.ref_name }}" and '--tag "$TAG"' in args


def test_no_untrusted_expression_is_spliced_into_a_command():
    """The action pastes `args` into a bash script: a tag like v1.0.0$(id) must stay data."""
    for step in STEPS:
        for text in (step.get("run", ""), (step.get("with") or {}).get("args", "")):
            assert "${{" not in text, step.get("name")


def test_writes_the_pushed_reference_to_the_job_summary():
    summary = next(s for s in STEPS if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert summary["env"]["REFERENCE"] == f"${{{{ steps.{PUBLISH['id']}.outputs.output }}}}"
