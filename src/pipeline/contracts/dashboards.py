"""Grafana 10.4 dashboards and provisioning, checked without a Grafana server.

    python -m pipeline.contracts.dashboards [--provisioning DIR] DASHBOARD.json...
    python -m pipeline.contracts.dashboards --emit-rules DASHBOARD.json...

The first form fails when a dashboard is not JSON Grafana 10.4 accepts as
provisioned (schemaVersion 39, uid of at most 40 URL-safe characters, title,
panels with type, title, unique id, gridPos inside the 24-column grid and
targets with refId and expr), when two dashboards share a uid or a title, when
the `datasource` variable (label "Data source", type prometheus) is missing or
a panel or target does not use it, when the `namespace` variable (the environment:
one Prometheus serves dev, staging and prod) is missing or a vector selector of a
panel query ignores it (node-level series aside, which carry no namespace), when a panel has no unit, when
rate/irate/increase use a range other than $__rate_interval, or (with
--provisioning) when the provisioning directory lacks a Prometheus datasource
or a file provider whose path holds the dashboards.

The second form prints a Prometheus rule file with one recording rule per
panel target (Grafana variables substituted): the monitoring/dashboards-promql
check pipes it into `promtool check rules` (which reads stdin when given no
file), so PromQL is parsed by Prometheus' own parser, and the group name names
the dashboard file, panel and target of an expression that does not parse.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import yaml

from pipeline.contracts.common import LoadError, Report, load_json, load_yaml, panels_of
from pipeline.contracts.promql import (PromQLTokenError, label_matcher, selectors,
                                      substitute_grafana_variables)

SCHEMA_VERSION = 39  # what Grafana 10.4 writes; older ones are migrated on load
UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
DATASOURCE_REFS = {"$datasource", "${datasource}"}
PANELS_WITHOUT_QUERIES = {"row", "text", "news", "dashlist", "alertlist"}
# Grafana unit ids (packages/grafana-data/src/valueFormats/categories.ts) we allow.
UNITS = {
    "none", "short", "percent", "percentunit", "humidity", "dB", "hex0x", "hex", "sci", "locale",
    "bool", "bool_yes_no", "bool_on_off",
    "ns", "µs", "ms", "s", "m", "h", "d", "dtdurationms", "dtdurations", "dthms", "dtdhms",
    "timeticks", "clockms", "clocks", "dateTimeAsIso", "dateTimeFromNow",
    "bits", "bytes", "kbytes", "mbytes", "gbytes", "decbits", "decbytes", "deckbytes",
    "decmbytes", "decgbytes", "bps", "Bps", "binBps", "KBs", "MBs", "GBs",
    "ops", "reqps", "rps", "wps", "iops", "opm", "rpm", "wpm", "cps", "cpm",
}
NAMESPACE_VARIABLE = "namespace"
NAMESPACE_REFS = ("$namespace", "${namespace}", "${namespace:regex}")
# node-exporter describes hosts: its series have no namespace to select.
CLUSTER_SCOPED_PREFIXES = ("node_",)
RANGE_FUNCTIONS = re.compile(r"\b(rate|irate|increase)\s*\(")
RANGE = re.compile(r"\[([^\]]*)\]")


def _where(panel: dict) -> str:
    return f"panel {panel.get('id')!r} {str(panel.get('title', ''))!r}"


def check_dashboard(path: str, board: object, report: Report) -> None:
    if not isinstance(board, dict):
        report.add(path, "a dashboard must be a JSON object")
        return
    uid = board.get("uid")
    if not isinstance(uid, str) or not UID.match(uid):
        report.add(path, f"uid {uid!r} must be 1-40 characters of A-Z a-z 0-9 _ - (a stable uid "
                         "keeps links and provisioning stable)")
    if not str(board.get("title") or "").strip():
        report.add(path, "no title")
    if board.get("schemaVersion") != SCHEMA_VERSION:
        report.add(path, f"schemaVersion {board.get('schemaVersion')!r}, expected {SCHEMA_VERSION} "
                         "(Grafana 10.4)")
    if board.get("editable") is not False:
        report.add(path, "editable must be false: provisioned dashboards change in the repo, not the UI")

    variables = (board.get("templating") or {}).get("list") or []
    datasources = [v for v in variables if isinstance(v, dict) and v.get("type") == "datasource"]
    if len(datasources) != 1 or datasources[0].get("name") != "datasource":
        report.add(path, "templating needs exactly one datasource variable, named `datasource`")
    else:
        variable = datasources[0]
        if variable.get("label") != "Data source":
            report.add(path, "the datasource variable's label must be `Data source`")
        if variable.get("query") != "prometheus":
            report.add(path, "the datasource variable must list prometheus datasources (query: prometheus)")

    namespaces = [v for v in variables if isinstance(v, dict) and v.get("name") == NAMESPACE_VARIABLE]
    if len(namespaces) != 1 or namespaces[0].get("type") != "query":
        report.add(path, "templating needs one query variable named `namespace` (the environment), "
                         "which every panel query selects on")
    elif (namespaces[0].get("datasource") or {}).get("uid") not in DATASOURCE_REFS:
        report.add(path, "the namespace variable must query ${datasource}")

    panels = panels_of(board)
    if not panels:
        report.add(path, "no panels")
    ids: dict[object, str] = {}
    placed: list[tuple[str, dict]] = []
    for panel in panels:
        where = _where(panel)
        ptype = panel.get("type")
        if not isinstance(ptype, str) or not ptype:
            report.add(path, f"{where}: no type")
        if not str(panel.get("title") or "").strip():
            report.add(path, f"{where}: no title")
        pid = panel.get("id")
        if not isinstance(pid, int):
            report.add(path, f"{where}: id must be an integer")
        elif pid in ids:
            report.add(path, f"{where}: id {pid} is also used by {ids[pid]}")
        else:
            ids[pid] = where
        grid = panel.get("gridPos")
        if not isinstance(grid, dict) or not all(isinstance(grid.get(k), int) for k in "xywh"):
            report.add(path, f"{where}: gridPos needs integer x, y, w, h")
        elif not (0 <= grid["x"] and 1 <= grid["w"] <= 24 and grid["x"] + grid["w"] <= 24
                  and grid["y"] >= 0 and grid["h"] >= 1):
            report.add(path, f"{where}: gridPos {grid} lies outside the 24-column grid")
        elif any(panel is top for top in board.get("panels") or []):  # a collapsed row's own grid aside
            for other, box in placed:
                if (grid["x"] < box["x"] + box["w"] and box["x"] < grid["x"] + grid["w"]
                        and grid["y"] < box["y"] + box["h"] and box["y"] < grid["y"] + grid["h"]):
                    report.add(path, f"{where}: gridPos {grid} overlaps {other} (Grafana moves one "
                                     "of them)")
            placed.append((where, grid))
        if ptype in PANELS_WITHOUT_QUERIES:
            continue
        datasource = panel.get("datasource")
        if not isinstance(datasource, dict) or datasource.get("uid") not in DATASOURCE_REFS:
            report.add(path, f"{where}: datasource must be {{\"uid\": \"${{datasource}}\"}}, "
                             f"found {datasource!r}")
        unit = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
        if not unit:
            report.add(path, f"{where}: no unit (fieldConfig.defaults.unit)")
        elif unit not in UNITS:
            report.add(path, f"{where}: unit {unit!r} is not a Grafana unit id we know")
        targets = panel.get("targets")
        if not isinstance(targets, list) or not targets:
            report.add(path, f"{where}: no targets")
            continue
        ref_ids = set()
        for target in targets:
            ref = target.get("refId") if isinstance(target, dict) else None
            if not ref:
                report.add(path, f"{where}: a target without refId")
                continue
            if ref in ref_ids:
                report.add(path, f"{where}: refId {ref} used twice")
            ref_ids.add(ref)
            own = target.get("datasource")
            if own is not None and (not isinstance(own, dict) or own.get("uid") not in DATASOURCE_REFS):
                report.add(path, f"{where}, target {ref}: datasource must be ${{datasource}}, found {own!r}")
            expr = target.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                report.add(path, f"{where}, target {ref}: no expr")
                continue
            for problem in _namespace_problems(expr):
                report.add(path, f"{where}, target {ref}: {problem}")
            if RANGE_FUNCTIONS.search(expr):
                for window in RANGE.findall(expr):
                    if window.strip() != "$__rate_interval":
                        report.add(path, f"{where}, target {ref}: range [{window}] in a rate/irate/"
                                         "increase query; use [$__rate_interval]")


def _namespace_problems(expr: str) -> list[str]:
    """Selectors of a panel query that ignore the namespace variable (mixing environments)."""
    try:
        found = selectors(expr)
    except PromQLTokenError as error:
        return [f"cannot read the expression: {error}"]
    problems = []
    for selector in found:
        if selector.name and selector.name.startswith(CLUSTER_SCOPED_PREFIXES):
            continue
        matcher = label_matcher(selector, NAMESPACE_VARIABLE) or ""
        if not any(ref in matcher for ref in NAMESPACE_REFS) or "!" in matcher:
            text = expr[selector.start:(selector.braces or (0, selector.name_end))[1]]
            problems.append(f"selector {text} ignores the namespace variable (add "
                            f'namespace=~"$namespace"): it would add up every environment')
    return problems


def check_unique(boards: dict[str, dict], report: Report) -> None:
    for key in ("uid", "title"):
        seen: dict[str, str] = {}
        for path, board in boards.items():
            value = board.get(key)
            if not isinstance(value, str):
                continue
            if value in seen:
                report.add(path, f"duplicate dashboard {key} {value!r} (also in {seen[value]})")
            else:
                seen[value] = path


def _provisioned(folder: Path, key: str, report: Report) -> Iterator[tuple[Path, dict]]:
    """(file, entry) for each entry under `key` of the *.yaml/*.yml files Grafana reads in folder."""
    for path in sorted(p for p in folder.glob("*") if p.suffix in (".yaml", ".yml")):
        ok, doc = report.load(path, load_yaml)
        if not ok:
            continue
        if not isinstance(doc, dict) or doc.get("apiVersion") != 1:
            report.add(path, f"{folder.name} provisioning needs `apiVersion: 1`")
            continue
        for entry in doc.get(key) or []:
            if isinstance(entry, dict):
                yield path, entry


def check_provisioning(root: str, dashboards: list[str], report: Report) -> None:
    """The layout grafana/grafana:10.4 reads when `root` is /etc/grafana/provisioning."""
    base = Path(root)
    found_prometheus = False
    for path, source in _provisioned(base / "datasources", "datasources", report):
        if source.get("type") == "prometheus":
            found_prometheus = True
            for key in ("name", "uid", "url"):
                if not source.get(key):
                    report.add(path, f"datasource {source.get('name')!r}: no {key}")
    if not found_prometheus:
        report.add(base / "datasources", "no *.yaml provisions a prometheus datasource")

    providers = 0
    covered: set[str] = set()
    prefix = "/etc/grafana/provisioning"
    for path, provider in _provisioned(base / "dashboards", "providers", report):
        providers += 1
        if provider.get("type", "file") != "file":
            continue
        target = str((provider.get("options") or {}).get("path") or "")
        if not target.startswith(prefix):
            report.add(path, f"provider {provider.get('name')!r}: options.path {target!r} is not "
                             f"under {prefix}, where {root} is mounted")
            continue
        local = PurePosixPath(root) / target[len(prefix):].lstrip("/")
        covered |= {d for d in dashboards if PurePosixPath(d).is_relative_to(local)}
    if not providers:
        report.add(base / "dashboards", "no *.yaml dashboard provider")
    for dashboard in dashboards:
        if dashboard not in covered:
            report.add(dashboard, f"no file provider in {base / 'dashboards'} loads this dashboard")


def emit_rules(paths: list[str], out=sys.stdout) -> int:
    """A rule file with each panel target's expression, for `promtool check rules` on stdin."""
    groups = []
    errors = 0
    for path in paths:
        try:
            board = load_json(path)
        except LoadError as error:
            print(f"ERROR {error}", file=sys.stderr)
            errors += 1
            continue
        for panel in panels_of(board):
            for target in panel.get("targets") or []:
                expr = target.get("expr") if isinstance(target, dict) else None
                if not isinstance(expr, str) or not expr.strip():
                    continue
                groups.append({
                    "name": f"{path} {_where(panel)} target {target.get('refId')}",
                    "rules": [{"record": "dashboard_panel_query",
                               "expr": substitute_grafana_variables(expr)}],
                })
    yaml.safe_dump({"groups": groups}, out, sort_keys=False, width=10_000)
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.contracts.dashboards",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dashboards", nargs="+")
    parser.add_argument("--provisioning", help="the directory mounted at /etc/grafana/provisioning")
    parser.add_argument("--emit-rules", action="store_true",
                        help="print the panel queries as a rule file instead of checking")
    args = parser.parse_args(argv)
    if args.emit_rules:
        return emit_rules(args.dashboards)
    report = Report("dashboards")
    boards: dict[str, dict] = {}
    for path in args.dashboards:
        ok, board = report.load(path, load_json)
        if not ok:
            continue
        check_dashboard(path, board, report)
        if isinstance(board, dict):
            boards[path] = board
    check_unique(boards, report)
    if args.provisioning:
        check_provisioning(args.provisioning, args.dashboards, report)
    panels = sum(len(panels_of(b)) for b in boards.values())
    return report.finish(f"{len(boards)} dashboards, {panels} panels")


if __name__ == "__main__":
    sys.exit(main())
