"""Prometheus relabelling, reproduced from Prometheus' own code (v2.51.0, the pinned version).

What a scrape job keeps, and with which labels, is decided by `relabel_configs`; a
mistake there (a selector on a label the chart never sets) silently keeps no target.
This module applies relabel configs exactly as Prometheus does, so a lint check can
run them over the chart's rendered objects:

- defaults, regex anchoring and actions: prometheus/prometheus `model/relabel/relabel.go`
  (DefaultRelabelConfig: action replace, separator ";", regex "(.*)", replacement "$1";
  NewRegexp anchors as `^(?:REGEX)$`; `relabel()` for replace, keep, drop, keepequal,
  dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase);
- `$1` / `${name}` expansion: Go's `regexp.(*Regexp).ExpandString` (a name is the
  longest run of letters, digits and `_`; a number is a group index; an unknown name or
  index expands to ""; `$$` is "$"; a malformed `$` stays literal);
- target labels before and after relabelling: `scrape/target.go` PopulateLabels (job,
  __metrics_path__, __scheme__, __scrape_interval__, __scrape_timeout__ seeded when
  unset; a target without __address__ is an error; meta labels (`__meta_*`) are dropped
  afterwards; `instance` defaults to __address__, which gets the scheme's default port).

Regexes are RE2 (Go); Python's `re` reads the subset used in scrape configs the same way.
A regex Python cannot compile is reported as an error, never guessed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

META_PREFIX = "__meta_"
DEFAULTS = {"action": "replace", "separator": ";", "regex": "(.*)", "replacement": "$1"}
ACTIONS = ("replace", "keep", "drop", "keepequal", "dropequal", "hashmod", "labelmap",
           "labeldrop", "labelkeep", "lowercase", "uppercase")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_EXPAND = re.compile(r"\$(\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")
_SANITIZE = re.compile(r"[^a-zA-Z0-9_]")


class RelabelError(ValueError):
    """A relabel config Prometheus would reject (or that cannot be evaluated faithfully)."""


def sanitize_label_name(name: str) -> str:
    """prometheus/prometheus `util/strutil` SanitizeLabelName: invalid characters become `_`."""
    return _SANITIZE.sub("_", name)


def anchored(regex: str) -> re.Pattern:
    """`^(?:REGEX)$` as relabel.NewRegexp compiles it (`\\Z`: Go's `$` never matches before a
    final newline)."""
    try:
        return re.compile(f"^(?:{regex})\\Z")
    except re.error as error:
        raise RelabelError(f"regex {regex!r} does not compile: {error}") from error


def expand(template: str, match: re.Match) -> str:
    """Go's Regexp.ExpandString of `template` with the groups of `match`."""
    out = []
    pos = 0
    for found in _EXPAND.finditer(template):
        out.append(template[pos:found.start()])
        pos = found.end()
        if found.group(1) == "$":
            out.append("$")
            continue
        name = found.group(2) or found.group(3)
        if name.isdigit():
            index = int(name)
            value = match.group(index) if index <= (match.re.groups or 0) else None
        else:
            value = match.group(name) if name in match.re.groupindex else None
        out.append(value or "")
    out.append(template[pos:])
    return "".join(out)


@dataclass(frozen=True)
class Rule:
    """One relabel config, defaults applied (relabel.Config.UnmarshalYAML)."""

    action: str
    source_labels: tuple[str, ...]
    separator: str
    regex: re.Pattern
    target_label: str
    replacement: str
    modulus: int

    @classmethod
    def parse(cls, raw: dict) -> "Rule":
        if not isinstance(raw, dict):
            raise RelabelError(f"a relabel config must be a mapping, found {raw!r}")
        spec = {**DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
        action = str(spec["action"]).lower()
        if action not in ACTIONS:
            raise RelabelError(f"unknown relabel action {spec['action']!r}")
        target = str(spec.get("target_label", ""))
        if action in ("replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal") \
                and not target:
            raise RelabelError(f"relabel configuration for {action} action requires 'target_label'")
        if action == "hashmod" and not spec.get("modulus"):
            raise RelabelError("relabel configuration for hashmod requires non-zero modulus")
        return cls(action=action, source_labels=tuple(str(s) for s in spec.get("source_labels") or ()),
                   separator=str(spec["separator"]), regex=anchored(str(spec["regex"])),
                   target_label=target, replacement=str(spec["replacement"]),
                   modulus=int(spec.get("modulus") or 0))

    def apply(self, labels: dict[str, str]) -> bool:
        """Mutate `labels` as relabel.relabel does; False when the target is dropped."""
        value = self.separator.join(labels.get(name, "") for name in self.source_labels)
        action = self.action
        if action == "drop":
            return self.regex.match(value) is None
        if action == "keep":
            return self.regex.match(value) is not None
        if action == "dropequal":
            return labels.get(self.target_label, "") != value
        if action == "keepequal":
            return labels.get(self.target_label, "") == value
        if action == "replace":
            match = self.regex.match(value)
            if match is None:
                return True
            target = expand(self.target_label, match)
            if not LABEL_NAME.match(target):
                return True
            result = expand(self.replacement, match)
            if result:
                labels[target] = result
            else:
                labels.pop(target, None)
        elif action == "lowercase":
            labels[self.target_label] = value.lower()
        elif action == "uppercase":
            labels[self.target_label] = value.upper()
        elif action == "hashmod":
            digest = hashlib.md5(value.encode()).digest()
            labels[self.target_label] = str(int.from_bytes(digest[8:], "big") % self.modulus)
        elif action == "labelmap":
            for name, label_value in list(labels.items()):
                match = self.regex.match(name)
                if match is not None:
                    labels[expand(self.replacement, match)] = label_value
        elif action == "labeldrop":
            for name in [n for n in labels if self.regex.match(n)]:
                del labels[name]
        elif action == "labelkeep":
            for name in [n for n in labels if not self.regex.match(n)]:
                del labels[name]
        return True


def parse_rules(raw: list | None) -> list[Rule]:
    return [Rule.parse(entry) for entry in raw or []]


def process(labels: dict[str, str], rules: list[Rule]) -> dict[str, str] | None:
    """The relabelled copy of `labels`, or None when a rule drops the target (relabel.Process)."""
    result = dict(labels)
    for rule in rules:
        if not rule.apply(result):
            return None
    return result


def _default_port(address: str, scheme: str) -> str:
    """PopulateLabels' addPort: a host without a port gets the scheme's default port."""
    if address.startswith("["):
        has_port = "]:" in address
    else:
        has_port = address.count(":") == 1
    if has_port:
        return address
    return f"{address}:{443 if scheme == 'https' else 80}"


def populate(discovered: dict[str, str], job: dict, rules: list[Rule],
             global_interval: str = "1m", global_timeout: str = "10s") -> dict[str, str] | None:
    """The final labels of one discovered target for scrape job `job`, or None when dropped.

    scrape/target.go PopulateLabels: seed the scrape labels, relabel, require an address,
    drop `__meta_*`, default `instance` to the address.
    """
    labels = dict(discovered)
    seeds = {"job": str(job.get("job_name", "")),
             "__scrape_interval__": str(job.get("scrape_interval") or global_interval),
             "__scrape_timeout__": str(job.get("scrape_timeout") or global_timeout),
             "__metrics_path__": str(job.get("metrics_path") or "/metrics"),
             "__scheme__": str(job.get("scheme") or "http")}
    for name, value in seeds.items():
        if not labels.get(name):
            labels[name] = value
    for name, values in (job.get("params") or {}).items():
        if values:
            labels[f"__param_{name}"] = str(values[0])
    result = process(labels, rules)
    if result is None:
        return None
    address = result.get("__address__", "")
    if not address:
        raise RelabelError("no address")
    result["__address__"] = _default_port(address, result.get("__scheme__", "http"))
    result = {k: v for k, v in result.items() if not k.startswith(META_PREFIX)}
    if not result.get("instance"):
        result["instance"] = result["__address__"]
    return result
