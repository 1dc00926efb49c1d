"""workflows/pins through the plan: each broken convention fails naming file and field.

The check runs with the argv the plan gives it for the tree, forked from the warm server as
the native executor runs it (tests.support.warmchecks); `lint --only workflows/pins` itself,
its report and exit codes, is tests/pipeline/test_cli.py's."""

from __future__ import annotations

import pytest

from pipeline.plan import Tree, build
from tests.support import warmchecks
from tests.support.repo import native, workflows_repo

pytestmark = pytest.mark.tools


@pytest.fixture
def root(tmp_path):
    """What workflows/pins reads (dagger.json and the workflows): its Python runs the
    module's own code, never a copy in the tree (executors/native.py)."""
    return workflows_repo(tmp_path / "repo")


def lint_pins(root):
    [check] = [c for c in build(Tree.from_path(root)) if c.id == "workflows/pins"]
    return warmchecks.run(native(check.argv, check.tool), root, timeout=120)


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_the_repo_workflows_pass(root):
    done = lint_pins(root)
    assert done.returncode == 0, done.stdout


def test_an_action_on_a_tag_fails(root):
    edit(root / ".github/workflows/ci.yml",
         "actions/setup-go@d35c59abb061a4a6fb18e82ac0862c26744d6ab5", "actions/setup-go@v5")
    done = lint_pins(root)
    assert done.returncode == 1
    assert (".github/workflows/ci.yml: jobs.test.steps[2].uses: actions/setup-go@v5 is not "
            "pinned to a full commit SHA") in done.stdout


def test_a_dagger_cli_other_than_the_engine_version_fails(root):
    edit(root / ".github/workflows/deploy.yml", 'version: "0.21.11"', "version: latest")
    done = lint_pins(root)
    assert done.returncode == 1
    assert ".github/workflows/deploy.yml: jobs.publish.steps[2].with.version: latest is not " \
           "dagger.json's engineVersion v0.21.11" in done.stdout


def test_check_logic_in_a_run_step_fails(root):
    edit(root / ".github/workflows/ci.yml", "      - run: ./scripts/test",
         "      - run: helm lint infra/helm/dpp-platform")
    done = lint_pins(root)
    assert done.returncode == 1
    assert "jobs.test.steps[4].run: calls a check tool (helm); put checks in the plan" \
        in done.stdout


def test_id_token_write_for_the_whole_workflow_fails(root):
    edit(root / ".github/workflows/deploy.yml", "permissions: {}",
         "permissions:\n  contents: read\n  id-token: write")
    done = lint_pins(root)
    assert done.returncode == 1
    assert (".github/workflows/deploy.yml: permissions.id-token: write is granted to every job; "
            "grant it only on the job that signs") in done.stdout

@pytest.mark.parametrize("old, new, message", [
    ("          args: smoke\n", "          args: lint\n",
     "no job runs `dagger call smoke`: CI runs the functions a laptop runs (lint, smoke)"),
    ("          args: smoke\n", "          args: smoke && helm lint x\n",
     "jobs.smoke.steps[1].with.args: shell syntax (&); call one function with its flags"),
    ("          verb: call\n          args: smoke\n", "          verb: shell\n          args: smoke\n",
     "jobs.smoke.steps[1].with.verb: shell is not one of call, check"),
], ids=["no-smoke-job", "shell-in-args", "other-verb"])
def test_a_dagger_step_that_is_no_thin_wrapper_fails(root, old, new, message):
    edit(root / ".github/workflows/ci.yml", old, new)
    done = lint_pins(root)
    assert done.returncode == 1
    assert message in done.stdout
