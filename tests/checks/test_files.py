"""Reading a check's input files: libyaml reads what yaml.safe_load reads, and bad input names the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.checks.files import load_values, load_yaml
from pipeline.checks.problem import LoadError
from tests.support.repo import REPO

CHART = REPO / "infra/helm/dpp-platform"
INPUTS = sorted([*CHART.glob("values*.yaml"), CHART / "edc-settings.yaml",
                 REPO / "infra/helm/network-edges.yaml", REPO / "infra/monitoring/metrics-contract.yaml",
                 REPO / "docker-compose.prod.yml"])


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: str(p.relative_to(REPO)))
def test_load_yaml_reads_what_the_pure_python_safe_loader_reads(path):
    assert path.is_file()
    assert load_yaml(path) == yaml.load(path.read_text(encoding="utf-8"), yaml.SafeLoader)


def test_a_file_that_is_not_yaml_is_a_load_error_naming_it_and_the_line(tmp_path: Path):
    broken = tmp_path / "values-dev.yaml"
    broken.write_text("global:\n  environment: [development\nbackend: {}\n")
    with pytest.raises(LoadError) as error:
        load_values([broken])
    assert str(error.value).startswith(f"{broken}: not valid YAML: ")
    assert f'in "{broken}", line 3' in str(error.value)
