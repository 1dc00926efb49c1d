"""Generators: `dagger generate` (a Changeset, offline over the recorder) and its native twin."""

from __future__ import annotations

import anyio
import dagger
import pytest
import yaml

from pipeline import generators, plan, toolchain
from pipeline.executors import dagger as executor
from pipeline.main import Pipeline
from pipeline.plan.chart import CHART
from tests.conftest import REPO, copy_repo, run_pipeline
from tests.dagger_recorder import Recorder, chain_of

FUNCTIONS = Pipeline.__dagger_object_type__.functions
RULE = "infra/monitoring/alertmanager/rules"


def test_one_generate_function_per_generator():
    marked = {name.replace("_", "-") for name, f in FUNCTIONS.items() if f.generate}
    assert marked == {g.name for g in generators.GENERATORS}
    for name in marked:
        parameters = FUNCTIONS[name.replace("-", "_")].parameters.values()
        assert [p.name for p in parameters] == ["source"]


def test_the_changeset_is_the_generators_output_against_its_inputs(monkeypatch):
    tree = plan.Tree.from_path(REPO)
    Recorder(answers={"glob": lambda c: sorted(tree.files)}).install(monkeypatch)
    changes = anyio.run(lambda: Pipeline().chart_files(source=dagger.dag.directory()))
    assert isinstance(changes, dagger.Changeset)
    chain = chain_of(changes)
    assert chain[-1].name == "changes"
    before = chain_of(chain[-1].args["from"])
    copied = {f.args["path"]: chain_of(f.args["source"])[-1].args["path"]
              for f in before if f.name in ("withDirectory", "withFile")}
    generator = generators.select(["chart-files"])[0]
    wanted = [p for p in (*generator.reads, *generator.writes) if tree.exists(p)]
    assert copied == {p: p for p in wanted}
    run = [f for f in chain if f.name == "withExec"]
    assert run[-1].args["args"] == list(generator.argv)
    assert [f.args["address"] for f in chain if f.name == "from"] == \
        [toolchain.tool("python").image_ref]
    after = [f for f in chain if f.name == "withDirectory" and f.args["path"] == executor.WORKDIR]
    assert chain_of(after[0].args["source"]) == before, "the generator ran on other inputs"
    assert executor.MODULE_SRC in {f.args["path"].rsplit("/", 1)[0] for f in chain
                                   if f.name == "withMountedDirectory"}


def test_a_generator_without_its_inputs_writes_nothing(monkeypatch):
    listing = [f for f in plan.Tree.from_path(REPO).files
               if not f.startswith(generators.CRD_SOURCES)]
    recorder = Recorder(answers={"glob": lambda c: listing}).install(monkeypatch)
    with pytest.raises(generators.GenerateError,
                       match=f"{generators.CRD_SOURCES} not found in the source"):
        anyio.run(lambda: Pipeline().crd_schemas(source=dagger.dag.directory()))
    assert not [c for c in recorder.calls if c.leaf != "glob"]


def drifted_copy(tmp_path):
    from pipeline.layout import CHART_COPIES

    root = copy_repo(tmp_path, *(s for s, _, _ in CHART_COPIES if (REPO / s).is_dir()), f"{CHART}/files")
    rule = sorted((root / RULE).glob("*.yml"))[0]
    doc = yaml.safe_load(rule.read_text())
    doc["groups"][0]["rules"][0].setdefault("labels", {})["edited"] = "by-the-test"
    rule.write_text(yaml.safe_dump(doc, sort_keys=False))
    (root / f"{CHART}/files/rules/stale.yml").write_text("groups: []\n")
    return root, rule


def test_the_drift_check_names_the_fixing_command(tmp_path):
    root, _ = drifted_copy(tmp_path)
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "pipeline.checks.chart.chartfiles", "--check",
                           "--root", str(root)], capture_output=True, text=True)
    assert done.returncode == 1
    assert "dagger generate chart-files" in done.stdout + done.stderr
    assert "python -m pipeline generate chart-files" in done.stdout + done.stderr


def test_the_native_twin_writes_the_copies(tmp_path):
    root, rule = drifted_copy(tmp_path)
    done = run_pipeline("generate", "chart-files", "--source", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    from pipeline.checks.chart import chartfiles

    assert chartfiles.drift(root) == []
    assert "by-the-test" in (root / f"{CHART}/files/rules" / rule.name).read_text()
    assert not (root / f"{CHART}/files/rules/stale.yml").exists()
    assert "generate chart-files:" in done.stdout


def test_an_unknown_generator_lists_the_generators(tmp_path):
    done = run_pipeline("generate", "nosuch", "--source", str(tmp_path))
    assert done.returncode == 2
    assert "generate nosuch: no such generator (generators: chart-files, crd-schemas)" in \
        done.stdout


def test_missing_inputs_keep_the_outputs(tmp_path):
    root = copy_repo(tmp_path, "infra/schemas/crds")
    before = sorted(p.name for p in (root / "infra/schemas/crds").iterdir())
    done = run_pipeline("generate", "crd-schemas", "--source", str(root))
    assert done.returncode == 2
    assert f"{generators.CRD_SOURCES} not found in the source: nothing generated" in done.stdout
    assert sorted(p.name for p in (root / "infra/schemas/crds").iterdir()) == before
