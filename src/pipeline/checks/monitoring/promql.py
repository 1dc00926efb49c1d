"""Metric names used by a PromQL expression, and Grafana variable substitution.

Not a PromQL parser (promtool parses; see the dashboards-promql check): a small
tokenizer that is enough to name the metrics an expression selects. It skips
strings, comments, label matchers (`{...}`, except a `__name__` matcher),
ranges and subqueries (`[...]`), numbers and durations, function and
aggregation names (an identifier followed by `(`), keywords, and the label
lists after `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = frozenset({
    # binary and set operators, modifiers
    "and", "or", "unless", "bool", "offset", "atan2",
    # aggregations (may also appear as `sum by (x) (...)`)
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
    # number literals
    "inf", "nan",
})
# Keywords followed by a parenthesised list of label names.
LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})

_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F]+"
    r"|(?:[0-9]+(?:ms|[smhdwy]))+"  # durations, 1h30m
    r"|(?:[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)")
_GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]*\]\]")
_NAME_MATCHER = re.compile(r"""__name__\s*=\s*(["'`])([A-Za-z_:][A-Za-z0-9_:]*)\1""")

# Grafana's interval variables and the value substituted for them when an
# expression is handed to promtool.
GRAFANA_DURATIONS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
GRAFANA_NUMBERS = {"__interval_ms": "60000", "__range_s": "3600", "__range_ms": "3600000"}


class PromQLTokenError(ValueError):
    """An expression the tokenizer cannot read (unterminated string or bracket)."""


def _variable_name(token: str) -> str:
    if token.startswith("${"):
        return token[2:-1].split(":", 1)[0]
    if token.startswith("[["):
        return token[2:-2].split(":", 1)[0]
    return token[1:]


def substitute_grafana_variables(expr: str) -> str:
    """Replace Grafana variables with values that keep the expression valid PromQL.

    Interval variables become durations (`$__rate_interval` -> `5m`), `$__range_s`
    style ones numbers; any other variable (`$job`, `${datasource}`) is used inside
    a label matcher string in our dashboards and becomes the word `placeholder`.
    """
    def replace(match: re.Match) -> str:
        name = _variable_name(match.group(0))
        if name in GRAFANA_DURATIONS:
            return GRAFANA_DURATIONS[name]
        if name in GRAFANA_NUMBERS:
            return GRAFANA_NUMBERS[name]
        return "placeholder"
    return _GRAFANA_VAR.sub(replace, expr)


def _skip_string(expr: str, i: int) -> int:
    quote = expr[i]
    j = i + 1
    while j < len(expr):
        if expr[j] == "\\" and quote != "`":
            j += 2
            continue
        if expr[j] == quote:
            return j + 1
        j += 1
    raise PromQLTokenError(f"unterminated string starting at offset {i}")


def _skip_bracketed(expr: str, i: int, open_: str, close: str) -> tuple[int, str]:
    """Skip from expr[i] == open_ to after its matching close; return (end, inner text)."""
    depth = 0
    j = i
    while j < len(expr):
        c = expr[j]
        if c in "\"'`":
            j = _skip_string(expr, j)
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return j + 1, expr[i + 1:j]
        j += 1
    raise PromQLTokenError(f"unbalanced {open_!r} at offset {i}")


def _next_non_space(expr: str, i: int) -> int:
    while i < len(expr) and expr[i].isspace():
        i += 1
    return i


@dataclass(frozen=True)
class Selector:
    """One vector selector: its metric name (None for `{...}` alone), where the name ends,
    and the span of its `{...}` matchers (None when it has none)."""

    name: str | None
    start: int
    name_end: int
    braces: tuple[int, int] | None
    matchers: str = ""


def selectors(expr: str) -> list[Selector]:
    """The vector selectors of an expression, in order (see the module docstring)."""
    found: list[Selector] = []
    i = 0
    n = len(expr)
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
        elif c == "#":
            while i < n and expr[i] != "\n":
                i += 1
        elif c in "\"'`":
            i = _skip_string(expr, i)
        elif c == "{":
            start = i
            i, inner = _skip_bracketed(expr, i, "{", "}")
            named = _NAME_MATCHER.search(inner)
            found.append(Selector(named.group(2) if named else None, start, start, (start, i), inner))
        elif c == "[":
            i, _ = _skip_bracketed(expr, i, "[", "]")
        elif c == "$" or expr.startswith("[[", i):
            match = _GRAFANA_VAR.match(expr, i)
            i = match.end() if match else i + 1
        elif c.isdigit() or (c == "." and i + 1 < n and expr[i + 1].isdigit()):
            match = _NUMBER.match(expr, i)
            i = match.end() if match and match.end() > i else i + 1
            # a unit suffix glued to a number (e.g. 5m) is consumed by _NUMBER
        elif c.isalpha() or c in "_:":
            match = _IDENT.match(expr, i)
            word = match.group(0)
            start, i = i, match.end()
            after = _next_non_space(expr, i)
            lowered = word.lower()
            if lowered in LABEL_LIST_KEYWORDS:
                if after < n and expr[after] == "(":
                    i, _ = _skip_bracketed(expr, after, "(", ")")
            elif lowered in KEYWORDS:
                pass
            elif after < n and expr[after] == "(":
                pass  # a function call: its arguments are tokenized next
            elif after < n and expr[after] == "{":
                end, inner = _skip_bracketed(expr, after, "{", "}")
                found.append(Selector(word, start, i, (after, end), inner))
                i = end
            else:
                found.append(Selector(word, start, i, None))
        else:
            i += 1
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (vector selectors and `__name__` matchers)."""
    return {s.name for s in selectors(expr) if s.name}


def label_matcher(selector: Selector, label: str) -> str | None:
    """The text of the selector's matcher on `label` (e.g. `namespace=~"$namespace"`), if any."""
    match = re.search(rf"(?:^|[,{{\s]){re.escape(label)}\s*(=~|!~|!=|=)\s*(\"(?:[^\"\\\\]|\\\\.)*\"|'[^']*'|`[^`]*`)",
                      selector.matchers)
    return f"{label}{match.group(1)}{match.group(2)}" if match else None


def add_matcher(expr: str, matcher: str, label: str) -> str:
    """Every vector selector of `expr` with `matcher` added (those already matching `label`
    are left as they are): how a rule is scoped to one namespace."""
    out = expr
    for selector in reversed(selectors(expr)):
        if label_matcher(selector, label) is not None:
            continue
        if selector.braces is None:
            out = out[:selector.name_end] + "{" + matcher + "}" + out[selector.name_end:]
        else:
            open_, close = selector.braces
            inner = selector.matchers.strip()
            joined = f"{matcher}, " if inner else matcher
            out = out[:open_ + 1] + joined + out[open_ + 1:]
    return out


def expand_recorded(expr: str, recorded: dict[str, str],
                    seen: frozenset[str] = frozenset()) -> list[str]:
    """The expression plus those of the recording rules it reads (name -> expr), transitively."""
    found = [expr]
    for name in metric_names(expr):
        if name in recorded and name not in seen:
            found += expand_recorded(recorded[name], recorded, seen | {name})
    return found
