"""Every variable of the compose file has a default or is required.

    docker-compose -f docker-compose.prod.yml --profile edc config --variables --format json \
      | python -m pipeline.contracts.composevars docker-compose.prod.yml

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

import json
import re
import sys

from pipeline.policies.manifests import report


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


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m pipeline.contracts.composevars COMPOSE_FILE < variables.json",
              file=sys.stderr)
        return 2
    compose = argv[0]
    try:
        variables = json.loads(sys.stdin.read() or "{}")
        text = open(compose, encoding="utf-8").read()
    except (OSError, ValueError) as error:
        return report("compose-variables", [f"{compose}: cannot read: {error}"], "")
    problems = []
    for name in unguarded(variables, text):
        line = first_use(text, name)
        where = f"{compose}:{line}" if line else compose
        problems.append(f"{where}: ${{{name}}} has no default and is not required: an unset "
                        f"{name} silently becomes an empty string; write ${{{name}:-default}} "
                        f"or ${{{name}:?why it must be set}}")
    return report("compose-variables", problems,
                  f"{compose}: {len(variables)} variables, each with a default or required")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
