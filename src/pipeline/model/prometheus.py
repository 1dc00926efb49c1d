"""What Prometheus and Alertmanager mean by their configuration, written down once.

- matchers: Alertmanager 0.27's classic matcher syntax (pkg/labels/parse.go ParseMatcher and
  ParseMatchers; regexes anchored as labels.NewMatcher does);
- durations: Prometheus 2.51's `model.ParseDuration` (prometheus/common model/time.go):
  integer units in order y w d h m s ms, "0" allowed, no fractions;
- the route tree: Alertmanager's dispatch/route.go `Route.Match` (depth first, `continue`,
  settings inherited from the parent, root defaults `DefaultRouteOpts`);
- a Prometheus config's static targets (scrape jobs and Alertmanagers);
- what a rule file is: the YAML files directly in the rules directory (layout.RULES_DIR);
  promtool's test files live below it.

A configuration with the wrong shape where we read it raises ConfigError naming the field,
so a caller reports its file and field instead of carrying on with an empty answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from pipeline import layout
from pipeline.checks.problem import LoadError


class ConfigError(LoadError):
    """A configuration whose shape we cannot read: `field` says where (scrape_configs[0]...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


# --- matchers ------------------------------------------------------------------------------
# Alertmanager 0.27 parses matchers in "fallback" mode by default (matchers/compat/parse.go
# FallbackMatchersParser): both the classic parser (pkg/labels/parse.go) and the UTF-8 one
# (matchers/parse); the classic result when it parses (also when the two disagree, e.g.
# on `\t`), else the UTF-8 one (quoted or digit-led label names); both refuse -> the config
# does not load (the classic parser's error).


@dataclass(frozen=True)
class Matcher:
    """`name op value`; a missing label has the value "" (as in Alertmanager)."""

    name: str
    op: str  # = != =~ !~
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(f"(?:{self.value})", actual, re.DOTALL) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        value = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{value}"'


def _checked(matcher: Matcher) -> Matcher:
    """labels.NewMatcher: a regex must compile (Go's RE2; Python's re is close enough here)."""
    if matcher.op in ("=~", "!~"):
        try:
            re.compile(matcher.value)
        except re.error as error:
            raise ValueError(f"{matcher}: invalid regular expression: {error}") from error
    return matcher


# The UTF-8 parser (matchers/parse/lexer.go, parse.go).
_TOKEN = re.compile(r'\s*(?:(?P<punct>[{},])|(?P<op>=~|=|!=|!~)|(?P<quoted>"(?:\\.|[^"\\])*")'
                    r"|(?P<unquoted>[^\s{}!=~,\"'`]+))", re.DOTALL)
_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
               "\\": "\\", '"': '"'}
_GO_NUMERIC = {"x": (2, 16), "u": (4, 16), "U": (8, 16)}


def _go_unquote(token: str) -> str:
    """Go's strconv.Unquote of a double-quoted token."""
    body, out, index = token[1:-1], [], 0
    while index < len(body):
        char = body[index]
        if char == "\n":
            raise ValueError(f"{token}: invalid input")
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escape = body[index + 1:index + 2]
        if escape in _GO_ESCAPES:
            out.append(_GO_ESCAPES[escape])
            index += 2
        elif escape in _GO_NUMERIC or escape in "01234567" and escape:
            width, base = _GO_NUMERIC.get(escape, (3, 8))
            start = index + (1 if base == 8 else 2)
            digits = body[start:start + width]
            try:
                out.append(chr(int(digits, base)))
            except ValueError:
                raise ValueError(f"{token}: invalid input") from None
            if len(digits) != width:
                raise ValueError(f"{token}: invalid input")
            index = start + width
        else:
            raise ValueError(f"{token}: invalid input")
    return "".join(out)


def _utf8_tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while text[position:].strip():
        found = _TOKEN.match(text, position)
        if not found:
            raise ValueError(f"{text[position:].strip()}: invalid input")
        kind = found.lastgroup or ""
        tokens.append((kind, found.group(kind)))
        position = found.end()
    return tokens


def _utf8_matchers(text: str) -> list[Matcher]:
    tokens = _utf8_tokens(text)
    braced = bool(tokens) and tokens[0] == ("punct", "{")
    if braced:
        if tokens[-1] != ("punct", "}"):
            raise ValueError("expected close brace")
        tokens = tokens[1:-1]
    found, index = [], 0
    while index < len(tokens):
        part = tokens[index:index + 3]
        kinds = [kind for kind, _ in part]
        if len(part) < 3 or kinds[0] not in ("quoted", "unquoted") or kinds[1] != "op" \
                or kinds[2] not in ("quoted", "unquoted"):
            raise ValueError(f"{' '.join(value for _, value in part)}: expected a matcher")
        name, op, value = (v if k != "quoted" else _go_unquote(v) for k, v in part)
        found.append(_checked(Matcher(name, op, value)))
        index += 3
        if index < len(tokens):
            if tokens[index] != ("punct", ","):
                raise ValueError(f"{tokens[index][1]}: expected a comma or close brace")
            index += 1
    return found


# The classic parser (pkg/labels/parse.go).
_CLASSIC = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*(.*?)\s*$", re.DOTALL)


def _classic_matcher(text: str) -> Matcher:
    found = _CLASSIC.match(text)
    if not found:
        raise ValueError(f"bad matcher format: {text}")
    name, op, raw = found.groups()
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    value, escaped = [], False
    for index, char in enumerate(body):
        if escaped:
            escaped = False
            value.append({"n": "\n", '"': '"', "\\": "\\"}.get(char, "\\" + char))
        elif char == "\\":
            if index < len(body) - 1:
                escaped = True
            else:
                value.append("\\")
        elif char == '"':
            if not quoted or index < len(body) - 1:
                raise ValueError(f"matcher value contains unescaped double quote: {raw}")
            quoted = False
        else:
            value.append(char)
    if quoted:
        raise ValueError(f"matcher value contains unescaped double quote: {raw}")
    return _checked(Matcher(name, op, "".join(value)))


def _classic_matchers(text: str) -> list[Matcher]:
    text = text[1:] if text.startswith("{") else text
    text = text[:-1] if text.endswith("}") else text
    tokens, token, quoted, escaped = [], "", False, False
    for char in text:
        if char == "," and not quoted:
            tokens.append(token)
            token = ""
            continue
        if char == '"':
            quoted = quoted if escaped else not quoted
            escaped = False
        elif char == "\\":
            escaped = not escaped
        else:
            escaped = False
        token += char
    if token.strip():
        tokens.append(token.strip())
    return [_classic_matcher(item) for item in tokens]


def parse_matcher(text: str) -> Matcher:
    """One matcher, as Alertmanager 0.27 reads it; ValueError when it would refuse it."""
    if text.startswith("{") or text.endswith("}"):
        raise ValueError(f"unexpected open or close brace: {text}")
    try:
        return _classic_matcher(text)
    except ValueError:
        found = _utf8_matchers(text)
        if len(found) != 1:
            raise
        return found[0]


def parse_matchers(text: str) -> list[Matcher]:
    """A comma-separated list, optionally in braces, as Alertmanager 0.27 reads it (the
    `matchers` of a route or an inhibit rule, amtool's arguments)."""
    try:
        return _classic_matchers(text)
    except ValueError as classic:
        try:
            return _utf8_matchers(text)
        except ValueError:
            raise classic from None


def matchers_of(section: Mapping[str, Any], prefix: str = "") -> list[Matcher]:
    """The matchers of a route (prefix "") or of an inhibit rule's side ("source_", "target_"):
    the deprecated `match` / `match_re` maps and the `matchers` list."""
    found = [Matcher(str(k), "=", str(v)) for k, v in _mapping(section, f"{prefix}match").items()]
    found += [Matcher(str(k), "=~", str(v))
              for k, v in _mapping(section, f"{prefix}match_re").items()]
    for index, entry in enumerate(_list(section, f"{prefix}matchers")):
        try:
            found += parse_matchers(str(entry))
        except ValueError as error:
            raise ConfigError(f"{prefix}matchers[{index}]", str(error)) from error
    return found


# --- durations -----------------------------------------------------------------------------

_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?"
                       r"(?:(\d+)ms)?$")
_UNITS = (31536000, 604800, 86400, 3600, 60, 1, 0.001)


def parse_duration(text: str) -> float:
    """A Prometheus duration ("1m30s", "250ms", "0") in seconds; ValueError as Prometheus."""
    if text == "0":
        return 0.0
    if text == "":
        raise ValueError("empty duration string")
    found = _DURATION.match(text)
    if not found:
        raise ValueError(f"not a valid duration string: {text!r}")
    return float(sum(int(n) * unit for n, unit in zip(found.groups(), _UNITS) if n))


def duration_field(section: Mapping[str, Any], key: str, default: float, where: str = "") -> float:
    """`section[key]` as seconds, `default` when absent; ConfigError naming the field when it
    is not a duration (YAML `15` is the string "15" to Prometheus: no unit, refused)."""
    value = section.get(key)
    if value is None:
        return default
    try:
        return parse_duration(str(value))
    except ValueError as error:
        raise ConfigError(f"{where}{key}", str(error)) from error


# --- the Alertmanager route tree -----------------------------------------------------------

DEFAULT_GROUP_WAIT = 30.0  # dispatch.DefaultRouteOpts


@dataclass(frozen=True)
class RouteEnd:
    """A route an alert ends in: its receiver and group_wait (inherited where unset)."""

    receiver: str
    group_wait: float


def routes_for(config: Mapping[str, Any], labels: Mapping[str, str]) -> list[RouteEnd]:
    """Every route an alert with `labels` ends in, as Alertmanager's route tree decides."""

    def walk(route: Mapping[str, Any], where: str, parent: RouteEnd) -> list[RouteEnd]:
        if not isinstance(route, Mapping):
            raise ConfigError(where, f"expected a mapping, got {type(route).__name__}")
        try:
            matchers = matchers_of(route)
        except ConfigError as error:
            raise ConfigError(f"{where}.{error.field}", error.reason) from error
        if not all(m.matches(labels) for m in matchers):
            return []
        here = RouteEnd(str(route.get("receiver") or parent.receiver),
                        duration_field(route, "group_wait", parent.group_wait, f"{where}."))
        found: list[RouteEnd] = []
        for index, child in enumerate(_list(route, "routes", where)):
            ends = walk(child, f"{where}.routes[{index}]", here)
            found += ends
            if ends and not child.get("continue", False):
                break
        return found or [here]

    return walk(config.get("route") or {}, "route", RouteEnd("", DEFAULT_GROUP_WAIT))


# --- a Prometheus config's static targets --------------------------------------------------

def _list(section: Mapping[str, Any], key: str, where: str = "") -> list:
    value = section.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{where}.{key}" if where else key,
                          f"expected a list, got {type(value).__name__}")
    return value


def _mapping(section: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    value = section.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}.{key}" if where else key,
                          f"expected a mapping, got {type(value).__name__}")
    return value


def _targets(section: Any, where: str) -> list[str]:
    if not isinstance(section, Mapping):
        raise ConfigError(where, f"expected a mapping, got {type(section).__name__}")
    found = []
    for index, static in enumerate(_list(section, "static_configs", where)):
        at = f"{where}.static_configs[{index}]"
        if not isinstance(static, Mapping):
            raise ConfigError(at, f"expected a mapping, got {type(static).__name__}")
        found += [str(target) for target in _list(static, "targets", at)]
    return found


def _document(config: Any) -> Mapping[str, Any]:
    """A config document; an empty file (None) is an empty config, as for Prometheus."""
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise ConfigError("(top level)", f"expected a mapping, got {type(config).__name__}")
    return config


def scrape_targets(config: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """job_name -> the static targets of each scrape job (jobs without any included)."""
    found: dict[str, list[str]] = {}
    for index, job in enumerate(_list(_document(config), "scrape_configs")):
        targets = _targets(job, f"scrape_configs[{index}]")
        found.setdefault(str(job.get("job_name")), []).extend(targets)
    return found


def alertmanager_targets(config: Mapping[str, Any] | None) -> list[str]:
    """The static Alertmanager addresses a Prometheus config sends alerts to."""
    alerting = _mapping(_document(config), "alerting")
    return [target for index, section in enumerate(_list(alerting, "alertmanagers", "alerting"))
            for target in _targets(section, f"alerting.alertmanagers[{index}]")]


def static_targets(config: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """Scrape job -> targets, and "alerting" -> the Alertmanagers, when it lists any."""
    found = scrape_targets(config)
    alertmanagers = alertmanager_targets(config)
    if alertmanagers or _mapping(_document(config), "alerting").get("alertmanagers"):
        found.setdefault("alerting", []).extend(alertmanagers)
    return found


# --- Alertmanager receivers --------------------------------------------------------------

def receivers(config: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The receivers of an Alertmanager config, each a mapping whose `*_configs` are lists of
    mappings (the shape every reader of a receiver relies on)."""
    found = []
    for index, receiver in enumerate(_list(_document(config), "receivers")):
        where = f"receivers[{index}]"
        if not isinstance(receiver, Mapping):
            raise ConfigError(where, f"expected a mapping, got {type(receiver).__name__}")
        for kind in receiver:
            if str(kind).endswith("_configs"):
                for position, entry in enumerate(_list(receiver, str(kind), where)):
                    if not isinstance(entry, Mapping):
                        raise ConfigError(f"{where}.{kind}[{position}]",
                                          f"expected a mapping, got {type(entry).__name__}")
        found.append(receiver)
    return found


def file_fields(node: Any) -> Iterator[tuple[str, str]]:
    """(key, path) of every `*_file` field anywhere below node (secrets Alertmanager reads
    from files at send time: url_file, api_url_file, password_file, ...)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if str(key).endswith("_file") and isinstance(value, str):
                yield str(key), value
            else:
                yield from file_fields(value)
    elif isinstance(node, list):
        for item in node:
            yield from file_fields(item)


# --- rule files ----------------------------------------------------------------------------

RULE_FILE_SUFFIX = ".yml"


def rule_files(paths: Iterable[str], rules_dir: str = layout.RULES_DIR) -> list[str]:
    """The rule files among repo paths: the .yml files directly in the rules directory (the
    chart copies the same set, layout.CHART_COPIES); promtool tests live below it."""
    prefix = rules_dir.rstrip("/") + "/"
    return sorted(p for p in paths if p.startswith(prefix) and p.endswith(RULE_FILE_SUFFIX)
                  and "/" not in p[len(prefix):])


def listed_rule_files(config: Mapping[str, Any], config_path: str) -> set[str]:
    """The repo paths a Prometheus config at `config_path` lists in `rule_files` (relative to
    its directory, as Prometheus resolves them)."""
    from pipeline.checks.files import normpath  # YAML's loaders: not for the plan's build

    base = config_path.rsplit("/", 1)[0] if "/" in config_path else "."
    return {normpath(f"{base}/{entry}") for entry in _list(_document(config), "rule_files")
            if isinstance(entry, str)}
