"""Every key of the chart's values.yaml is documented and known to its schema.

    python -m pipeline.checks.chart.valuesdoc VALUES_YAML VALUES_SCHEMA_JSON

Helm's convention: each value is documented by a comment block directly above it,
its first line starting with the name ("# replicas is the pod count"). Keys inside free-form
values (labels, annotations, securityContexts, probes, resources) are exempt;
the schema says which values are free-form (no `properties`).
"""

from __future__ import annotations

import argparse
import re

from pipeline.checks.cli import read_input, run_check
from pipeline.checks.files import load_json
from pipeline.checks.problem import Problem

KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_.\-/]*):(\s|$)")
RULE = "values-docs"
FREE_REFS = {"#/$defs/resources", "#/$defs/probe"}


def _resolve(schema: dict, node: dict) -> dict:
    ref = node.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return schema["$defs"][ref.split("/")[-1]]
    return node


def _comment_above(lines: list[str], index: int) -> str:
    """The first line of the comment block directly above lines[index] ('' if none)."""
    first = ""
    i = index - 1
    while i >= 0 and lines[i].strip().startswith("#"):
        first = lines[i].strip()
        i -= 1
    return first


def undocumented(values_text: str, schema: dict, values_path: str = "values.yaml") -> list[Problem]:
    """A problem (at file:line) per key without its comment or unknown to the schema."""
    problems = []
    lines = values_text.splitlines()
    stack: list[tuple[int, str, dict | None]] = []  # (indent, key, schema node of the key's value)
    for number, line in enumerate(lines, 1):
        match = KEY_LINE.match(line)
        if not match:
            continue
        indent, key = len(match.group("indent")), match.group("key")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][2] if stack else schema
        path = ".".join([k for _, k, _ in stack] + [key])
        node = None
        if parent is not None:
            resolved = _resolve(schema, parent)
            props = resolved.get("properties")
            if props is not None and parent.get("$ref") not in FREE_REFS:
                if key not in props:
                    problems.append(Problem(f"{values_path}:{number}", "not in values.schema.json",
                                            field=path, rule=RULE))
                else:
                    node = props[key]
                    above = _comment_above(lines, number - 1)
                    if not re.match(rf"^# {re.escape(key)}(\s|$|:|,)", above):
                        problems.append(Problem(f"{values_path}:{number}", "no comment above it "
                                                f"starting with its name (# {key} ...)",
                                                field=path, rule=RULE))
        stack.append((indent, key, node))
    return problems


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("values", help="the chart's values.yaml")
    parser.add_argument("schema", help="the chart's values.schema.json")


def check(args: argparse.Namespace) -> tuple[list[Problem], str]:
    text = read_input(args.values)
    problems = undocumented(text, load_json(args.schema), args.values)
    keys = sum(1 for line in text.splitlines() if KEY_LINE.match(line))
    return problems, f"{args.values}: {keys} keys, documented and in the schema"


if __name__ == "__main__":
    raise SystemExit(run_check(RULE, __doc__, arguments, check))
