"""Alertmanager configuration rules amtool does not check.

    python -m pipeline.checks.monitoring.alertmanager alertmanager.yml

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
from typing import Any

from pipeline.checks.cli import run_check
from pipeline.checks.files import load_yaml
from pipeline.checks.problem import Problem
from pipeline.model.prometheus import ConfigError, Matcher, file_fields, matchers_of

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
HTTP_SECRETS = (("basic_auth", "password"), ("authorization", "credentials"),
                (None, "bearer_token"), ("oauth2", "client_secret"))
CRITICAL_INHIBITS_WARNING = (Matcher("severity", "=", "critical"),
                             Matcher("severity", "=", "warning"))


def _set(value: Any) -> bool:
    return value not in (None, "", [], {})


def _inline(path: str, where: str, name: str, key: str) -> Problem:
    return Problem(path, f"{name} is written inline; use {key}_file", resource=where,
                   rule="inline-secret")


def http_secrets(http: Any, where: str, path: str) -> list[Problem]:
    if not isinstance(http, dict):
        return []
    found = []
    for section, key in HTTP_SECRETS:
        holder = http if section is None else http.get(section)
        if isinstance(holder, dict) and _set(holder.get(key)):
            name = key if section is None else f"{section}.{key}"
            found.append(_inline(path, where, f"http_config.{name}", key))
    return found


def relative_files(node: Any, where: str, path: str) -> list[Problem]:
    """Every `*_file` value below node must be an absolute path."""
    return [Problem(path, f"{value} must be an absolute path (Alertmanager opens it relative to "
                          "its working directory at send time)", resource=where, field=key,
                    rule="absolute-secret-file")
            for key, value in file_fields(node) if not value.startswith("/")]


def receiver_problems(receiver: dict, path: str) -> list[Problem]:
    found = []
    for kind, entries in receiver.items():
        if not str(kind).endswith("_configs") or not isinstance(entries, list):
            continue
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                continue
            where = f"receiver {receiver.get('name')!r}, {kind}[{index}]"
            found += [_inline(path, where, key, key) for key in RECEIVER_SECRETS.get(kind, ())
                      if _set(entry.get(key))]
            found += http_secrets(entry.get("http_config"), where, path)
            found += relative_files(entry, where, path)
    return found


def critical_inhibits_warning(config: dict, path: str) -> list[Problem]:
    """Some inhibit rule lets a critical alert mute the warning of the same alert."""
    for index, rule in enumerate(config.get("inhibit_rules") or []):
        if not isinstance(rule, dict):
            continue
        try:
            source, target = matchers_of(rule, "source_"), matchers_of(rule, "target_")
        except ConfigError as error:
            return [Problem(path, error.reason, resource=f"inhibit_rules[{index}]",
                            field=error.field, rule="inhibition")]
        if (CRITICAL_INHIBITS_WARNING[0] in source and CRITICAL_INHIBITS_WARNING[1] in target
                and "alertname" in (rule.get("equal") or [])):
            return []
    return [Problem(path, "no rule lets a critical alert inhibit the warning of the same alert "
                          "(source severity=\"critical\", target severity=\"warning\", equal "
                          "including alertname)", field="inhibit_rules", rule="inhibition")]


def problems_of(path: str, config: Any) -> list[Problem]:
    if not isinstance(config, dict):
        return [Problem(path, "not an Alertmanager configuration (expected a mapping)")]
    settings = config.get("global") or {}
    found = [_inline(path, "global", key, key) for key in GLOBAL_SECRETS if _set(settings.get(key))]
    found += http_secrets(settings.get("http_config"), "global", path)
    found += relative_files(settings, "global", path)
    for receiver in config.get("receivers") or []:
        if isinstance(receiver, dict):
            found += receiver_problems(receiver, path)
    return found + critical_inhibits_warning(config, path)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config")


def check(args: argparse.Namespace) -> tuple[list[Problem], str]:
    config = load_yaml(args.config)
    receivers = len(config.get("receivers") or []) if isinstance(config, dict) else 0
    return (problems_of(args.config, config),
            f"{receivers} receivers, secrets only in absolute *_file paths")


if __name__ == "__main__":
    raise SystemExit(run_check("alertmanager", __doc__, arguments, check))
