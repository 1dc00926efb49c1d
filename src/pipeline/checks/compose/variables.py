"""Every variable of the compose file has a default or is required.

    docker-compose -f docker-compose.prod.yml --profile edc config --variables --format json \
      | python -m pipeline.checks.compose.variables docker-compose.prod.yml

Compose itself lists the variables (`config --variables`: compose-go's
template.ExtractVariables, so `$VAR`, `${VAR}`, `${VAR:-x}`, `${VAR:?msg}`, `${VAR:+x}`
are read exactly as Compose reads them). A `${VAR}` with neither a default (`:-`/`-`),
a required marker (`:?`/`?`) nor a presence value (`:+`/`+`) becomes an empty string when
the operator forgets it, with only a warning on `up` (e.g. an empty REDIS_PASSWORD or
PROMETHEUS_RETENTION, which then fails at start with a cryptic error). Malformed
expressions (`${REDIS_PASSWORD@x}`) are refused by Compose's own interpolation in
compose/config.
"""

from __future__ import annotations

import argparse
import json
import re

from pipeline.checks.cli import read_input, run_check
from pipeline.checks.problem import LoadError, Problem

RULE = "compose-variables"


def unguarded(variables: dict, text: str) -> list[str]:
    """Names of variables with no default, no required marker and no presence value.

    Compose lists an explicit empty default (`${VAR:-}`, `${VAR-}`) like no default at all;
    the file's text tells them apart (an intended empty value is not a forgotten one).
    """
    return sorted(name for name, variable in variables.items()
                  if not variable.get("Required") and not variable.get("DefaultValue")
                  and not variable.get("PresenceValue")
                  and not re.search(rf"\$\{{{name}:?-\}}", text))


def first_use(text: str, name: str) -> int | None:
    """The 1-based line of the first `$NAME` or `${NAME...}` in the compose file."""
    pattern = re.compile(rf"(?<!\$)\$(?:{name}\b|\{{{name}\b)")
    return next((number for number, line in enumerate(text.splitlines(), start=1)
                 if pattern.search(line)), None)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("compose_file")
    parser.add_argument("--variables", default="-",
                        help="`docker-compose config --variables --format json` (default: stdin)")


def check(args: argparse.Namespace) -> tuple[list[Problem], str]:
    compose = args.compose_file
    try:
        variables = json.loads(read_input(args.variables) or "{}")
    except ValueError as error:
        raise LoadError(f"{compose}: `docker-compose config --variables` gave no JSON: {error}") from error
    text = read_input(compose)
    problems = []
    for name in unguarded(variables, text):
        line = first_use(text, name)
        problems.append(Problem(
            path=f"{compose}:{line}" if line else compose, rule=RULE,
            message=f"${{{name}}} has no default and is not required: an unset {name} silently "
                    f"becomes an empty string; write ${{{name}:-default}} or "
                    f"${{{name}:?why it must be set}}"))
    return problems, f"{compose}: {len(variables)} variables, each with a default or required"


if __name__ == "__main__":
    raise SystemExit(run_check("compose-variables", __doc__, arguments, check))
