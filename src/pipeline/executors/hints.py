"""Pointing a failure at the file the user edited, where the tool names another.

helm validates the *merged* values and calls them `values.yaml`, so a typo in
values-dev.yaml reads as an error in values.yaml; its template errors name the chart
path (dpp-platform/templates/...), not the repo path. A hint names the repo file and
line. `read(path)` returns a repo file's text (None if absent): each executor reads
from its own tree; without it the hint names the overlay to look at.
"""

from __future__ import annotations

import re
from collections.abc import Callable


from pipeline.executors import Result

SCHEMA_ERROR = re.compile(r"at '(?P<path>/[^']*)': (?:additional properties (?P<extra>'[^']+'"
                          r"(?:, '[^']+')*) not allowed|(?P<other>.+))")
TEMPLATE_ERROR = re.compile(r"template: (?P<chart>[\w.-]+)/(?P<file>templates/[^:\s]+):(?P<line>\d+)")

Reader = Callable[[str], "str | None"]


def values_files(result: Result) -> list[str]:
    """The values files of the check's helm command, in helm's order (-f overlays last wins)."""
    for step in (result.check.stdin_from, result.check):
        if step is None or "helm" not in step.argv[0]:
            continue
        argv = list(step.argv)
        chart = next((a for a in argv[2:] if not a.startswith("-") and "/" in a), None)
        overlays = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-f", "--values")]
        return ([f"{chart}/values.yaml"] if chart else []) + overlays
    return []


def line_of(text: str, keys: list[str]) -> int | None:
    """The 1-based line where the key path is set in a YAML document, or None."""
    import yaml  # only for a failure's hint: a passing lint never parses here

    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return None
        found = next(((k, v) for k, v in node.value if k.value == key), None)
        if found is None:
            return None
        key_node, node = found
    return key_node.start_mark.line + 1 if keys else None


def schema_paths(output: str) -> list[list[str]]:
    """The value paths a helm schema error names, e.g. [['global', 'environmnt']]."""
    paths = []
    for match in SCHEMA_ERROR.finditer(output):
        base = [part for part in match["path"].split("/") if part]
        extra = re.findall(r"'([^']+)'", match["extra"] or "")
        paths += [base + [name] for name in extra] or [base]
    return [list(p) for p in dict.fromkeys(tuple(p) for p in paths if p)]


def values_hints(result: Result, read: Reader | None) -> list[str]:
    files = values_files(result)
    if "values.yaml" not in result.output and "values don't meet" not in result.output:
        return []
    if not files:
        return []
    overlays = files[1:]
    paths = schema_paths(result.output)
    if read is None or not paths:
        return [f"helm calls the merged values `values.yaml`: the value may come from "
                f"{' or '.join(reversed(overlays))} (the overlay) as well as {files[0]}"]
    out = []
    for path in paths:
        setters = []
        for file in reversed(files):  # the last overlay wins
            text = read(file)
            line = line_of(text, path) if text else None
            if line is not None:
                setters.append(f"{file}:{line}")
        dotted = ".".join(path)
        out.append(f"{dotted} is set in {', '.join(setters)}" if setters else
                   f"{dotted} is set in none of {', '.join(reversed(files))} (a missing value)")
    return out


def template_hints(result: Result) -> list[str]:
    chart_dir = next((f.rsplit("/", 1)[0] for f in values_files(result)[:1]), None)
    if chart_dir is None:
        return []
    seen = dict.fromkeys(f"{chart_dir}/{m['file']}:{m['line']}"
                         for m in TEMPLATE_ERROR.finditer(result.output))
    return [f"the template is {where}" for where in seen]


def hints(result: Result, read: Reader | None = None) -> list[str]:
    """What to open: the overlay line behind a helm values error, the template's repo path."""
    return values_hints(result, read) + template_hints(result)
