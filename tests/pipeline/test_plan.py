"""The plan itself: ids, reads and argv agree with the repo, so containers mount enough."""

from __future__ import annotations

import tomllib

import pytest

from pipeline import plan, toolchain
from pipeline.plan.model import SCHEMAS
from tests.support.repo import REPO

TREE = plan.Tree.from_path(REPO)
CHECKS = plan.build(TREE)


def test_ids_are_unique_and_grouped():
    ids = [c.id for c in CHECKS]
    assert len(ids) == len(set(ids))
    assert {c.group for c in CHECKS} <= {m.__name__.rsplit(".", 1)[-1] for m in plan.GROUPS}


def test_a_misspelt_check_module_fails_the_plan_and_a_found_one_is_named():
    from pipeline.plan.model import check_modules

    with pytest.raises(ModuleNotFoundError, match="pipeline.checks.chart.polices"):
        check_modules("pipeline.checks.chart", "policies", "polices")
    with pytest.raises(ModuleNotFoundError, match="no check package pipeline.checks.chrat"):
        check_modules("pipeline.checks.chrat", "policies")
    (policies,) = check_modules("pipeline.checks.chart", "policies")
    assert plan.python_check("p", "chart", policies, ["--env", "dev"], []).argv == (
        "python", "-m", "pipeline.checks.chart.policies", "--env", "dev")


def test_building_the_plan_imports_no_check_module_and_no_server_client():
    """Every `python -m pipeline` builds the plan: the checks' modules (and the API server's
    client, urllib/ssl/http, and the YAML parser) are imported only by the process that
    runs a check."""
    import subprocess
    import sys

    code = ("import sys; from pipeline import plan, cli; from pathlib import Path; "
            "checks = plan.build(plan.Tree.from_path(Path('.'))); "
            "assert any(c.tool == 'python' for c in checks); "
            "print(sorted(m for m in sys.modules if m.startswith('pipeline.checks.') "
            "and m.count('.') == 3 or m in ('pipeline.kubeapi.server', 'urllib.request', "
            "'ssl', 'http.client', 'pipeline.main', 'dagger', 'yaml')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_every_read_exists(check):
    missing = [p for p in check.reads if not TREE.exists(p)]
    assert not missing, f"{check.id} reads paths that are not in the repo: {missing}"


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_every_repo_path_in_argv_is_declared_as_read(check):
    """A path on the command line that is not mounted would fail only in the container."""
    steps = [check] + ([check.stdin_from] if check.stdin_from else [])
    for step in steps:
        for arg in step.argv[1:]:
            for token in arg.split("="):
                if token and TREE.exists(token.rstrip("/")):
                    assert any(token == r or token.startswith(r.rstrip("/") + "/")
                               for r in check.reads), f"{check.id}: {token} not in reads"


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_every_tool_is_pinned(check):
    for tool in check.tools:
        assert toolchain.tool(tool).image, f"{check.id}: {tool} has no image"


def test_python_check_image_pins_match_pyproject():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    declared = set(pyproject["project"]["dependencies"])
    assert set(toolchain.tool("python").pip) <= declared


def test_schemas_placeholder_only_where_kubeconform_runs():
    for check in CHECKS:
        for step in [check] + ([check.stdin_from] if check.stdin_from else []):
            if any(SCHEMAS in a for a in step.argv):
                assert step.tool == "kubeconform", check.id


def test_select_by_group_name_and_glob():
    assert plan.select(CHECKS, ["workflows"]) == [c for c in CHECKS if c.group == "workflows"]
    with pytest.raises(plan.PlanError, match="matches no check"):
        plan.select(CHECKS, ["nope/none"])


def test_validated_kubernetes_versions_are_the_charts_oldest_and_three_newest():
    """toolchain.toml's versions follow Chart.yaml's kubeVersion and helm's own Kubernetes."""
    import re

    import yaml

    chart = yaml.safe_load((REPO / "infra/helm/dpp-platform/Chart.yaml").read_text())
    oldest = re.fullmatch(r">=\s*1\.(\d+)\.0-0", chart["kubeVersion"])
    assert oldest, f"Chart.yaml kubeVersion {chart['kubeVersion']!r}: expected '>=1.N.0-0'"
    minors = [int(v.split(".")[1]) for v in toolchain.kube_versions()]
    assert minors[0] == int(oldest[1])
    newest = int(next(f for f in toolchain.pins()["tools"]["helm"]["ldflags"]
                      if "chartutil.k8sVersionMinor" in f).rsplit("=", 1)[1])
    assert minors[-3:] == [newest - 2, newest - 1, newest]


@pytest.mark.parametrize("module", sorted({c.argv[2] for c in CHECKS if c.tool == "python"}))
def test_python_checks_need_only_what_their_image_installs(module):
    """The python image gets only toolchain.toml's `pip` list (PyYAML), not the CLI's deps."""
    import subprocess
    import sys

    code = (f"import importlib, sys; importlib.import_module({module!r}); "
            "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] not in "
            "sys.stdlib_module_names and not m.startswith('_')}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    third_party = set(eval(done.stdout))  # noqa: S307  (our own subprocess's list literal)
    allowed = ({"pipeline", "yaml", "cython_runtime"}  # cython_runtime: PyYAML's C loader
               | {pkg.split("==")[0] for pkg in toolchain.tool("python").pip})
    assert third_party <= allowed, f"{module} imports {sorted(third_party - allowed)}"


@pytest.mark.parametrize("listing", [
    ["infra/", "infra/a.yaml", "infra/sub/", "infra/sub/b.json", "README.md"],
    ["infra", "infra/a.yaml", "infra/sub", "infra/sub/b.json", "README.md"],
], ids=["dirs-with-slash", "dirs-without-slash"])
def test_a_dagger_listing_gives_the_files_whatever_the_directory_marking(listing):
    tree = plan.Tree.from_listing(listing)
    assert tree.files == {"infra/a.yaml", "infra/sub/b.json", "README.md"}
    assert tree.is_dir("infra/sub") and not tree.is_file("infra/sub")
