"""Alertmanager configuration rules amtool does not check.

    python -m pipeline.contracts.alertmanager alertmanager.yml

Fails when
- a secret is written into the file instead of read from a `*_file` field
  (webhook `url`, slack `api_url`, pagerduty `routing_key`/`service_key`,
  `http_config` passwords, credentials and tokens, the global `slack_api_url`,
  `smtp_auth_password`, ...): Alertmanager has no env substitution, so an inline
  secret is a secret in git;
- a `*_file` path is relative: Alertmanager opens url_file, api_url_file and
  the like relative to its working directory at send time, and amtool
  check-config does not notice;
- no inhibit rule lets a critical alert inhibit the warning of the same alert
  (source severity="critical", target severity="warning", `alertname` in equal).
Which check runs amtool itself: monitoring/amtool-config (plan/monitoring.py).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from typing import Any

from pipeline.contracts.common import Report, load_yaml

# Inline secret fields per receiver integration; each has a `<field>_file` twin.
RECEIVER_SECRETS = {
    "webhook_configs": ("url",),
    "slack_configs": ("api_url",),
    "pagerduty_configs": ("routing_key", "service_key"),
    "opsgenie_configs": ("api_key",),
    "victorops_configs": ("api_key",),
    "pushover_configs": ("user_key", "token"),
    "telegram_configs": ("bot_token",),
    "discord_configs": ("webhook_url",),
    "msteams_configs": ("webhook_url",),
    "email_configs": ("auth_password", "auth_secret"),
    "wechat_configs": ("api_secret",),
}
GLOBAL_SECRETS = ("slack_api_url", "smtp_auth_password", "smtp_auth_secret", "opsgenie_api_key",
                  "victorops_api_key", "wechat_api_secret")
# Inside any http_config (global or per integration): path -> field.
HTTP_SECRETS = (("basic_auth", "password"), ("authorization", "credentials"), (None, "bearer_token"),
                ("oauth2", "client_secret"))
MATCHER = re.compile(r"""^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$""")


def _set(value: Any) -> bool:
    return value not in (None, "", [], {})


def _http_secrets(http: Any, where: str, path: str, report: Report) -> None:
    if not isinstance(http, dict):
        return
    for section, key in HTTP_SECRETS:
        holder = http if section is None else http.get(section)
        if isinstance(holder, dict) and _set(holder.get(key)):
            name = key if section is None else f"{section}.{key}"
            report.add(path, f"{where}: http_config.{name} is written inline; use {key}_file")


def file_fields(node: Any) -> Iterator[tuple[str, str]]:
    """(key, path) of every `*_file` field anywhere below node."""
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key).endswith("_file") and isinstance(value, str):
                yield str(key), value
            else:
                yield from file_fields(value)
    elif isinstance(node, list):
        for item in node:
            yield from file_fields(item)


def _file_fields(node: Any, where: str, path: str, report: Report) -> None:
    """Every `*_file` value below node is an absolute path."""
    for key, value in file_fields(node):
        if not value.startswith("/"):
            report.add(path, f"{where}: {key}: {value} must be an absolute path (Alertmanager "
                             "opens it relative to its working directory at send time)")


def _matchers(rule: dict, side: str) -> dict[str, tuple[str, str]]:
    """label -> (operator, value) of an inhibit rule's source or target matchers."""
    found = {str(k): ("=", str(v)) for k, v in (rule.get(f"{side}_match") or {}).items()}
    found |= {str(k): ("=~", str(v)) for k, v in (rule.get(f"{side}_match_re") or {}).items()}
    for entry in rule.get(f"{side}_matchers") or []:
        match = MATCHER.match(str(entry))
        if match:
            found[match.group(1)] = (match.group(2), match.group(3))
    return found


def check(path: str, config: Any, report: Report) -> int:
    """Returns the number of receivers looked at."""
    if not isinstance(config, dict):
        report.add(path, "not an Alertmanager configuration (expected a mapping)")
        return 0
    settings = config.get("global") or {}
    for key in GLOBAL_SECRETS:
        if _set(settings.get(key)):
            report.add(path, f"global: {key} is written inline; use {key}_file")
    _http_secrets(settings.get("http_config"), "global", path, report)
    _file_fields(settings, "global", path, report)

    receivers = config.get("receivers") or []
    for receiver in receivers:
        if not isinstance(receiver, dict):
            continue
        name = receiver.get("name")
        for kind, entries in receiver.items():
            if not kind.endswith("_configs") or not isinstance(entries, list):
                continue
            for index, entry in enumerate(entries):
                if not isinstance(entry, dict):
                    continue
                where = f"receiver {name!r}, {kind}[{index}]"
                for key in RECEIVER_SECRETS.get(kind, ()):
                    if _set(entry.get(key)):
                        report.add(path, f"{where}: {key} is written inline; use {key}_file")
                _http_secrets(entry.get("http_config"), where, path, report)
                _file_fields(entry, where, path, report)

    same_alert = False
    for rule in config.get("inhibit_rules") or []:
        if not isinstance(rule, dict):
            continue
        source, target = _matchers(rule, "source"), _matchers(rule, "target")
        if (source.get("severity") == ("=", "critical") and target.get("severity") == ("=", "warning")
                and "alertname" in (rule.get("equal") or [])):
            same_alert = True
    if not same_alert:
        report.add(path, "inhibit_rules: no rule lets a critical alert inhibit the warning of the same "
                         "alert (source severity=\"critical\", target severity=\"warning\", "
                         "equal including alertname)")
    return len(receivers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.contracts.alertmanager", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    args = parser.parse_args(argv)
    report = Report("alertmanager")
    ok, config = report.load(args.config, load_yaml)
    if not ok:
        return report.finish()
    receivers = check(args.config, config, report)
    return report.finish(f"{receivers} receivers, secrets only in absolute *_file paths")


if __name__ == "__main__":
    sys.exit(main())
