"""What the checks over a chart render share: the render read from stdin (or a file), and
where a problem lives (the chart template each resource came from, helm's `# Source:`)."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import yaml

from pipeline.checks.cli import read_input
from pipeline.checks.problem import LoadError, Problem
from pipeline.model.kube import load, template_sources


def finding(rule: str, resource: str, field: str, message: str) -> Problem:
    """A problem a rule finds in a render; `Render.located` adds the template's path."""
    return Problem(path="", message=message, resource=resource, field=field, rule=rule)


@dataclass(frozen=True)
class Render:
    text: str
    docs: list[dict]

    def located(self, problems: list[Problem], chart: str | None) -> list[Problem]:
        """The problems, each naming the chart template of its resource (repo path with `chart`)."""
        sources = template_sources(self.text, chart)
        return [dataclasses.replace(p, path=sources[p.resource]) if not p.path and p.resource in sources
                else p for p in problems]


def render_arguments(parser: argparse.ArgumentParser, chart: bool = True,
                     rules: dict | None = None) -> None:
    """The arguments of a check over a render: the render (a file, stdin by default), with
    `chart` --chart to name each problem's template by repo path, with `rules` --rule."""
    if rules is not None:
        parser.add_argument("--rule", action="append", choices=sorted(rules), help="only these rules")
    if chart:
        parser.add_argument("--chart", help="the chart directory, to name each resource's template")
    parser.add_argument("file", nargs="?", default="-", help="the rendered manifests (default: stdin)")


def read_render(path: str) -> Render:
    """The rendered manifests of `path` ("-": stdin); none, or no YAML, is a LoadError."""
    text = read_input(path)
    where = "stdin" if path == "-" else path
    try:
        docs = load(text)
    except yaml.YAMLError as error:
        raise LoadError(f"{where}: not valid YAML: {error}") from error
    if not docs:
        raise LoadError(f"{where}: no manifests on input")
    return Render(text, docs)
