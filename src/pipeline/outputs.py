"""`python -m pipeline render|package`: the native twins of `dagger call render|package`.

The same steps as the Dagger functions, with the bootstrap's helm: `render --env ENV`
writes the chart rendered as the checks and ArgoCD see it, one file per template, into
`--output` (default ./rendered); `package --tag vX.Y.Z` writes the chart .tgz publish
pushes into `--output` (default .). Each prints the path it wrote.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.workspace import DEFAULT_SOURCE_HELP, default_source

if TYPE_CHECKING:
    from rich.console import Console

# Each command imports what it runs (the plan, the executor, publish's packaging) in its
# function: `python -m pipeline` builds every command's flags, whichever one runs.


def add_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, default=None, metavar="DIR",
                        help=f"the repository (default: {DEFAULT_SOURCE_HELP})")


def source_of(args: argparse.Namespace) -> Path:
    return (args.source or default_source()).resolve()


def add_render_flags(parser: argparse.ArgumentParser) -> None:
    add_source(parser)
    parser.add_argument("--env", required=True, help="the environment whose values-ENV.yaml "
                                                      "to render, e.g. dev")
    parser.add_argument("--output", type=Path, default=Path("rendered"),
                        help="directory to write the manifests into (default: ./rendered)")


def add_package_flags(parser: argparse.ArgumentParser) -> None:
    add_source(parser)
    parser.add_argument("--tag", required=True, help="release tag, SemVer 2 (e.g. v1.4.0)")
    parser.add_argument("--output", type=Path, default=Path("."),
                        help="directory to write the .tgz into (default: .)")


def helm(argv: list[str], source: Path) -> subprocess.CompletedProcess[str]:
    from pipeline.executors.native import environment, resolve

    env = environment(source)
    return subprocess.run(resolve(tuple(argv), "helm", env), cwd=source, env=env,
                          capture_output=True, text=True, check=False)


def say(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def render(args: argparse.Namespace, console: Console) -> int:
    from pipeline import plan
    from pipeline.plan import chart

    source = source_of(args)
    step = chart.render_step(plan.Tree.from_path(source), args.env)  # PlanError: exit 2
    output = args.output.resolve()
    done = helm([*step.argv, "--output-dir", str(output)], source)
    if done.returncode != 0:
        say(console, f"render: {' '.join(step.argv)}: {(done.stderr or done.stdout).strip()}")
        return 1
    say(console, str(output))
    return 0


def package(args: argparse.Namespace, console: Console) -> int:
    from pipeline.publish import PublishError, package_argv, package_file, version_from_tag

    source = source_of(args)
    try:
        version = version_from_tag(args.tag)
    except PublishError as error:
        say(console, f"package: {error}")
        return 2
    output = args.output.resolve()
    done = helm(package_argv(version, str(output)), source)
    if done.returncode != 0:
        say(console, f"package: helm package {version}: {(done.stderr or done.stdout).strip()}")
        return 1
    say(console, package_file(version, str(output)))
    return 0
