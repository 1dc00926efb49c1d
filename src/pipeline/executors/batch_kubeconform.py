"""kubeconform in batches: one process over the renders of a Kubernetes version.

kubeconform compiles the large Kubernetes schemas once per process: one process over
the six renders of a Kubernetes version costs about what one render did alone (issue 14:
0.88 s against 5.06 s for six processes). Its `-output json -verbose` names the file of
every resource, so each check gets the lines kubeconform prints for its own input, in
kubeconform's text words with `stdin` as the file, exactly as the check's own argv
(`... -`) would have printed them: the report still names the environment (the check),
the resource and the field.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from pipeline.executors import ERROR, FAILED, PASSED, plural
from pipeline.plan.model import Check

JSON_FLAGS = ("-output", "json", "-verbose")
STDIN = "-"


def joins(check: Check) -> bool:
    """Its input is a producer's render on stdin (`... -`)."""
    return check.stdin_from is not None and check.argv[-1:] == (STDIN,)


def key(check: Check) -> tuple:
    """Renders validated with the same argv (Kubernetes version, schemas) share a process."""
    return check.argv


def batch_argv(argv: list[str], files: list[Path]) -> list[str]:
    """One check's resolved argv with its stdin replaced by every input file, JSON out."""
    return [*argv[:-1], *JSON_FLAGS, *map(str, files)]


def split(output: bytes, errors: bytes, code: int,
          files: dict[Path, Check]) -> dict[str, tuple[str, str]]:
    """check id -> (status, text) from kubeconform's JSON report over `files`.

    Output that is not kubeconform's JSON (a crash, a bad flag) is every member's error,
    in the tool's own words."""
    text = (errors + output).decode(errors="replace")
    try:
        resources = json.loads(output)["resources"] or []
    except (ValueError, KeyError, TypeError):
        return {c.id: (FAILED if code else ERROR, text or f"kubeconform exited {code}")
                for c in files.values()}
    by_file: dict[str, list[dict]] = defaultdict(list)
    for resource in resources:
        by_file[resource.get("filename", "")].append(resource)
    out = {}
    for path, check in files.items():
        lines, counts = [], dict.fromkeys(("Valid", "Invalid", "Errors", "Skipped"), 0)
        for resource in by_file.get(str(path), []):
            status = resource.get("status", "")
            what = f"{resource.get('kind', '')} {resource.get('name', '')}".strip()
            if status == "statusInvalid":
                counts["Invalid"] += 1
                lines.append(f"stdin - {what} is invalid: {resource.get('msg', '')}")
            elif status == "statusError":
                counts["Errors"] += 1
                lines.append(f"stdin - {what + ' ' if what else ''}failed validation: "
                             f"{resource.get('msg', '')}")
            elif status == "statusSkipped":
                counts["Skipped"] += 1
            else:
                counts["Valid"] += 1
        total = sum(counts.values())
        lines.append(f"Summary: {plural(total, 'resource')} found parsing stdin - "
                     + ", ".join(f"{name}: {count}" for name, count in counts.items()))
        failed = counts["Invalid"] or counts["Errors"]
        out[check.id] = (FAILED if failed else PASSED, "\n".join(lines) + "\n")
    if code and not any(status == FAILED for status, _ in out.values()):
        return {c.id: (ERROR, f"kubeconform exited {code} with no invalid resource:\n{text}")
                for c in files.values()}
    return out
