"""The repository's generated files, as data both executors run.

    dagger generate [NAME]               each generator as a Changeset to review and apply
    python -m pipeline generate [NAME]   the native twin: writes the files in place

A generator is an argv run at the repository root with the pipeline's code; it
reads `reads` (of which `required` must exist: a generator over nothing would delete
its outputs) and writes only under `writes`. The lint checks that detect drift
(chart/monitoring-files-sync, the CRD schemas test) name `fix_command`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.layout import CHART_COPIES, CRD_SCHEMAS, CRD_SOURCES
from pipeline.plan.model import check_modules

(chartfiles,) = check_modules("pipeline.checks.chart", "chartfiles")  # run, never imported here


@dataclass(frozen=True)
class Generator:
    name: str
    argv: tuple[str, ...]
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    description: str
    required: tuple[str, ...] = ()


GENERATORS = (
    # A missing monitoring source counts as empty (as the drift check reads it): no required.
    Generator("chart-files", ("python", "-m", chartfiles.__name__, "--sync"),
              reads=tuple(source for source, _, _ in CHART_COPIES),
              writes=tuple(copy for _, _, copy in CHART_COPIES),
              description="the chart's copies of infra/monitoring's rules, dashboards and "
                          "exporter queries (Helm reads only files inside the chart)"),
    Generator("crd-schemas", ("python", "-m", "pipeline.crdschemas", CRD_SOURCES, CRD_SCHEMAS),
              reads=(CRD_SOURCES,), writes=(CRD_SCHEMAS,), required=(CRD_SOURCES,),
              description="kubeconform's strict JSON schemas from the CRDs' openAPIV3Schema"),
)


class GenerateError(ValueError):
    """A generator that cannot run (unknown name, missing input); nothing was written."""


def fix_command(name: str) -> str:
    return f"dagger generate {name} (natively: python -m pipeline generate {name})"


def select(names: list[str] | None) -> list[Generator]:
    """The named generators (all when none is named)."""
    known = {g.name: g for g in GENERATORS}
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise GenerateError(f"generate {', '.join(unknown)}: no such generator "
                            f"(generators: {', '.join(known)})")
    return [known[n] for n in names] if names else list(GENERATORS)


def check_inputs(generator: Generator, exists) -> None:
    """Refuse to run without the required inputs (nothing is written then)."""
    missing = [path for path in generator.required if not exists(path)]
    if missing:
        raise GenerateError(f"generate {generator.name}: {', '.join(missing)} not found in the "
                            f"source: nothing generated")


def run_native(root, names: list[str] | None, say=print) -> int:
    """Run the generators at `root` with this machine's Python and the pipeline's code."""
    import subprocess
    import sys

    from pipeline.executors.native import environment

    env = environment(root)
    failed = 0
    chosen = select(names)
    for generator in chosen:
        check_inputs(generator, lambda path: (root / path).exists())
    for generator in chosen:
        done = subprocess.run([sys.executable, *generator.argv[1:]], cwd=root, env=env,
                              capture_output=True, text=True, check=False)
        say(f"generate {generator.name}: " + (done.stdout + done.stderr).strip())
        failed += done.returncode != 0
    return 1 if failed else 0
