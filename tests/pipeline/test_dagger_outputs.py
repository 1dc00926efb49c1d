"""Typed outputs of the module, offline: `render` returns a Directory, `package` a File."""

from __future__ import annotations

import anyio
import dagger
import pytest

from pipeline import plan, toolchain
from pipeline.executors import dagger as executor
from pipeline.main import Pipeline
from pipeline.plan import chart
from pipeline.publish import containers as publish_containers
from tests.support.repo import REPO
from tests.dagger_recorder import Exit, Recorder, chain_of
from tests.support.repo import repo_listing


@pytest.fixture
def recorder(monkeypatch) -> Recorder:
    return Recorder(answers={"glob": lambda c: repo_listing(), "exitCode": 0}).install(monkeypatch)


def test_render_returns_the_directory_helm_template_wrote(recorder):
    rendered = anyio.run(lambda: Pipeline().render(source=dagger.dag.directory(), env="dev"))
    assert isinstance(rendered, dagger.Directory)
    chain = chain_of(rendered)
    assert chain[-1].name == "directory" and chain[-1].args["path"] == executor.RENDER_DIR
    argv = [f for f in chain if f.name == "withExec"][-1].args["args"]
    step = chart.render_step(plan.Tree.from_path(REPO), "dev")
    assert argv == [*step.argv, "--output-dir", executor.RENDER_DIR]
    assert [f.args["address"] for f in chain if f.name == "from"] == \
        [toolchain.tool("helm").image_ref]
    mounts = [f.args["path"] for f in chain if f.name.startswith("withMounted")]
    assert mounts == [f"{executor.WORKDIR}/{chart.CHART}"]


def test_render_of_an_unknown_environment_lists_the_environments(recorder):
    known = chart.environments(plan.Tree.from_path(REPO))
    assert known
    with pytest.raises(plan.PlanError) as raised:
        anyio.run(lambda: Pipeline().render(source=dagger.dag.directory(), env="nosuch"))
    message = str(raised.value)
    assert "--env 'nosuch'" in message and f"{chart.CHART}/values-nosuch.yaml" in message
    assert f"the environments are {', '.join(known)}" in message
    assert recorder.leaves("exitCode") == []


def test_a_failing_render_is_helms_error(monkeypatch):
    Recorder(answers={"glob": lambda c: repo_listing()},
             exits=[(lambda argv: argv[:2] == ["helm", "template"],
                     Exit(1, stderr="Error: template: dpp-platform/templates/x.yaml:3: nil"))]
             ).install(monkeypatch)
    with pytest.raises(executor.StepFailed, match="templates/x.yaml:3: nil"):
        anyio.run(lambda: Pipeline().render(source=dagger.dag.directory(), env="dev"))


def test_package_returns_the_chart_tgz_of_the_tags_version(recorder):
    package = anyio.run(lambda: Pipeline().package(source=dagger.dag.directory(), tag="v1.4.0"))
    assert isinstance(package, dagger.File)
    chain = chain_of(package)
    assert chain[-1].name == "file"
    assert chain[-1].args["path"] == f"{publish_containers.PACKAGE_DIR}/dpp-platform-1.4.0.tgz"
    argv = [f for f in chain if f.name == "withExec"][-1].args["args"]
    assert argv[:3] == ["helm", "package", chart.CHART]
    assert argv[argv.index("--version") + 1] == argv[argv.index("--app-version") + 1] == "1.4.0"


def test_a_failing_package_is_helms_error(monkeypatch):
    from pipeline.publish import PublishError

    Recorder(answers={"glob": lambda c: repo_listing()},
             exits=[(lambda argv: argv[:2] == ["helm", "package"],
                     Exit(1, stderr="Error: validation: chart.metadata.name is required"))]
             ).install(monkeypatch)
    with pytest.raises(PublishError, match="chart.metadata.name is required"):
        anyio.run(lambda: Pipeline().package(source=dagger.dag.directory(), tag="1.4.0"))
