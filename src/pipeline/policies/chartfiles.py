"""Keep the chart's copies of the monitoring rules and dashboards in sync.

Helm cannot read files outside the chart, so infra/monitoring (the one source of
truth) is copied into the chart:

    infra/monitoring/alertmanager/rules/*.yml      -> infra/helm/dpp-platform/files/rules/
    infra/monitoring/grafana/dashboards/*.json     -> infra/helm/dpp-platform/files/dashboards/
    infra/monitoring/query-exporter/*.yaml         -> infra/helm/dpp-platform/files/query-exporter/

    python -m pipeline.policies.chartfiles --check [--root DIR]   # lint: fail on drift
    python -m pipeline.policies.chartfiles --sync  [--root DIR]   # scripts/sync-chart-files

A missing source directory counts as empty (the monitoring sources may not exist
yet); then the chart must not hold stale copies either.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

CHART = "infra/helm/dpp-platform"
PAIRS = (  # (source dir, glob, copy dir)
    ("infra/monitoring/alertmanager/rules", "*.yml", f"{CHART}/files/rules"),
    ("infra/monitoring/grafana/dashboards", "*.json", f"{CHART}/files/dashboards"),
    ("infra/monitoring/query-exporter", "*.yaml", f"{CHART}/files/query-exporter"),
)


def drift(root: Path) -> list[str]:
    """One message per copy that is missing, different or without a source."""
    problems = []
    for source_dir, pattern, copy_dir in PAIRS:
        sources = {p.name: p for p in sorted((root / source_dir).glob(pattern))}
        copies = {p.name: p for p in sorted((root / copy_dir).glob(pattern))}
        for name, source in sources.items():
            copy = copies.get(name)
            if copy is None:
                problems.append(f"{copy_dir}/{name}: missing copy of {source_dir}/{name}")
            elif copy.read_bytes() != source.read_bytes():
                problems.append(f"{copy_dir}/{name}: differs from {source_dir}/{name}")
        for name in sorted(set(copies) - set(sources)):
            problems.append(f"{copy_dir}/{name}: no source {source_dir}/{name} (stale copy)")
    return problems


def sync(root: Path) -> list[str]:
    """Make the copies equal to the sources; return what changed."""
    changed = []
    for source_dir, pattern, copy_dir in PAIRS:
        target = root / copy_dir
        target.mkdir(parents=True, exist_ok=True)
        sources = {p.name: p for p in (root / source_dir).glob(pattern)}
        for old in target.glob(pattern):
            if old.name not in sources:
                old.unlink()
                changed.append(f"removed {copy_dir}/{old.name}")
        for name, source in sorted(sources.items()):
            copy = target / name
            if not copy.exists() or copy.read_bytes() != source.read_bytes():
                shutil.copyfile(source, copy)
                changed.append(f"copied {source_dir}/{name} -> {copy_dir}/{name}")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.policies.chartfiles",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--sync", action="store_true")
    parser.add_argument("--root", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    if args.sync:
        for line in sync(args.root) or ["chart copies already up to date"]:
            print(f"chartfiles: {line}")
        return 0
    problems = drift(args.root)
    for problem in problems:
        print(f"chartfiles: {problem}", file=sys.stderr)
    if problems:
        print("chartfiles: run scripts/sync-chart-files", file=sys.stderr)
        return 1
    counts = [len(list((args.root / c).glob(p))) for _, p, c in PAIRS]
    print(f"chartfiles: {counts[0]} rule file(s), {counts[1]} dashboard(s) and {counts[2]} "
          "query-exporter config(s) in sync")
    return 0


if __name__ == "__main__":
    sys.exit(main())
