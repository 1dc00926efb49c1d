"""Grafana 10.4 dashboards and provisioning, checked without a Grafana server.

    python -m pipeline.checks.monitoring.dashboards [--provisioning DIR] DASHBOARD.json...

Fails when a dashboard is not JSON Grafana 10.4 accepts as
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

Whether every panel query parses as PromQL is the dashboards-promql check
(panel_queries.py feeds them to promtool).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from pipeline.checks.cli import run_check
from pipeline.checks.files import load_each, load_json, load_yaml
from pipeline.checks.monitoring.documents import panel_label, panels_of
from pipeline.checks.monitoring.promql import PromQLTokenError, label_matcher, selectors
from pipeline.checks.problem import Problem, collector

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


def check_dashboard(path: str, board: object, problems: list[Problem]) -> None:
    add = collector(problems, "dashboard")
    if not isinstance(board, dict):
        add(path, "a dashboard must be a JSON object")
        return
    uid = board.get("uid")
    if not isinstance(uid, str) or not UID.match(uid):
        add(path, f"uid {uid!r} must be 1-40 characters of A-Z a-z 0-9 _ - (a stable uid "
                  "keeps links and provisioning stable)")
    if not str(board.get("title") or "").strip():
        add(path, "no title")
    if board.get("schemaVersion") != SCHEMA_VERSION:
        add(path, f"schemaVersion {board.get('schemaVersion')!r}, expected {SCHEMA_VERSION} "
                  "(Grafana 10.4)")
    if board.get("editable") is not False:
        add(path, "editable must be false: provisioned dashboards change in the repo, not the UI")

    variables = (board.get("templating") or {}).get("list") or []
    datasources = [v for v in variables if isinstance(v, dict) and v.get("type") == "datasource"]
    if len(datasources) != 1 or datasources[0].get("name") != "datasource":
        add(path, "templating needs exactly one datasource variable, named `datasource`")
    else:
        variable = datasources[0]
        if variable.get("label") != "Data source":
            add(path, "the datasource variable's label must be `Data source`")
        if variable.get("query") != "prometheus":
            add(path, "the datasource variable must list prometheus datasources (query: prometheus)")

    namespaces = [v for v in variables if isinstance(v, dict) and v.get("name") == NAMESPACE_VARIABLE]
    if len(namespaces) != 1 or namespaces[0].get("type") != "query":
        add(path, "templating needs one query variable named `namespace` (the environment), "
                  "which every panel query selects on")
    elif (namespaces[0].get("datasource") or {}).get("uid") not in DATASOURCE_REFS:
        add(path, "the namespace variable must query ${datasource}")

    panels = panels_of(board)
    if not panels:
        add(path, "no panels")
    ids: dict[object, str] = {}
    placed: list[tuple[str, dict]] = []
    for panel in panels:
        where = panel_label(panel)
        ptype = panel.get("type")
        if not isinstance(ptype, str) or not ptype:
            add(path, f"{where}: no type")
        if not str(panel.get("title") or "").strip():
            add(path, f"{where}: no title")
        pid = panel.get("id")
        if not isinstance(pid, int):
            add(path, f"{where}: id must be an integer")
        elif pid in ids:
            add(path, f"{where}: id {pid} is also used by {ids[pid]}")
        else:
            ids[pid] = where
        grid = panel.get("gridPos")
        if not isinstance(grid, dict) or not all(isinstance(grid.get(k), int) for k in "xywh"):
            add(path, f"{where}: gridPos needs integer x, y, w, h")
        elif not (0 <= grid["x"] and 1 <= grid["w"] <= 24 and grid["x"] + grid["w"] <= 24
                  and grid["y"] >= 0 and grid["h"] >= 1):
            add(path, f"{where}: gridPos {grid} lies outside the 24-column grid")
        elif any(panel is top for top in board.get("panels") or []):  # a collapsed row's own grid aside
            for other, box in placed:
                if (grid["x"] < box["x"] + box["w"] and box["x"] < grid["x"] + grid["w"]
                        and grid["y"] < box["y"] + box["h"] and box["y"] < grid["y"] + grid["h"]):
                    add(path, f"{where}: gridPos {grid} overlaps {other} (Grafana moves one "
                              "of them)")
            placed.append((where, grid))
        if ptype in PANELS_WITHOUT_QUERIES:
            continue
        datasource = panel.get("datasource")
        if not isinstance(datasource, dict) or datasource.get("uid") not in DATASOURCE_REFS:
            add(path, f"{where}: datasource must be {{\"uid\": \"${{datasource}}\"}}, "
                      f"found {datasource!r}")
        unit = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
        if not unit:
            add(path, f"{where}: no unit (fieldConfig.defaults.unit)")
        elif unit not in UNITS:
            add(path, f"{where}: unit {unit!r} is not a Grafana unit id we know")
        targets = panel.get("targets")
        if not isinstance(targets, list) or not targets:
            add(path, f"{where}: no targets")
            continue
        ref_ids = set()
        for target in targets:
            ref = target.get("refId") if isinstance(target, dict) else None
            if not ref:
                add(path, f"{where}: a target without refId")
                continue
            if ref in ref_ids:
                add(path, f"{where}: refId {ref} used twice")
            ref_ids.add(ref)
            own = target.get("datasource")
            if own is not None and (not isinstance(own, dict) or own.get("uid") not in DATASOURCE_REFS):
                add(path, f"{where}, target {ref}: datasource must be ${{datasource}}, found {own!r}")
            expr = target.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                add(path, f"{where}, target {ref}: no expr")
                continue
            for problem in _namespace_problems(expr):
                add(path, f"{where}, target {ref}: {problem}")
            if RANGE_FUNCTIONS.search(expr):
                for window in RANGE.findall(expr):
                    if window.strip() != "$__rate_interval":
                        add(path, f"{where}, target {ref}: range [{window}] in a rate/irate/"
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


def check_unique(boards: dict[str, dict], problems: list[Problem]) -> None:
    add = collector(problems, "dashboard-unique")
    for key in ("uid", "title"):
        seen: dict[str, str] = {}
        for path, board in boards.items():
            value = board.get(key)
            if not isinstance(value, str):
                continue
            if value in seen:
                add(path, f"duplicate dashboard {key} {value!r} (also in {seen[value]})")
            else:
                seen[value] = path


def _provisioned(folder: Path, key: str, problems: list[Problem]) -> Iterator[tuple[Path, dict]]:
    """(file, entry) for each entry under `key` of the *.yaml/*.yml files Grafana reads in folder."""
    add = collector(problems, "provisioning")
    files = sorted(str(p) for p in folder.glob("*") if p.suffix in (".yaml", ".yml"))
    for name, doc in load_each(files, load_yaml, problems).items():
        path = Path(name)
        if not isinstance(doc, dict) or doc.get("apiVersion") != 1:
            add(path, f"{folder.name} provisioning needs `apiVersion: 1`")
            continue
        for entry in doc.get(key) or []:
            if isinstance(entry, dict):
                yield path, entry


def check_provisioning(root: str, dashboards: list[str], problems: list[Problem]) -> None:
    """The layout grafana/grafana:10.4 reads when `root` is /etc/grafana/provisioning."""
    add = collector(problems, "provisioning")
    base = Path(root)
    found_prometheus = False
    for path, source in _provisioned(base / "datasources", "datasources", problems):
        if source.get("type") == "prometheus":
            found_prometheus = True
            for key in ("name", "uid", "url"):
                if not source.get(key):
                    add(path, f"datasource {source.get('name')!r}: no {key}")
    if not found_prometheus:
        add(base / "datasources", "no *.yaml provisions a prometheus datasource")

    providers = 0
    covered: set[str] = set()
    prefix = "/etc/grafana/provisioning"
    for path, provider in _provisioned(base / "dashboards", "providers", problems):
        providers += 1
        if provider.get("type", "file") != "file":
            continue
        target = str((provider.get("options") or {}).get("path") or "")
        if not target.startswith(prefix):
            add(path, f"provider {provider.get('name')!r}: options.path {target!r} is not "
                      f"under {prefix}, where {root} is mounted")
            continue
        local = PurePosixPath(root) / target[len(prefix):].lstrip("/")
        covered |= {d for d in dashboards if PurePosixPath(d).is_relative_to(local)}
    if not providers:
        add(base / "dashboards", "no *.yaml dashboard provider")
    for dashboard in dashboards:
        if dashboard not in covered:
            add(dashboard, f"no file provider in {base / 'dashboards'} loads this dashboard")


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dashboards", nargs="+")
    parser.add_argument("--provisioning", help="the directory mounted at /etc/grafana/provisioning")


def check(args: argparse.Namespace) -> tuple[list[Problem], str]:
    problems: list[Problem] = []
    boards: dict[str, dict] = {}
    for path, board in load_each(args.dashboards, load_json, problems).items():
        check_dashboard(path, board, problems)
        if isinstance(board, dict):
            boards[path] = board
    check_unique(boards, problems)
    if args.provisioning:
        check_provisioning(args.provisioning, args.dashboards, problems)
    panels = sum(len(panels_of(b)) for b in boards.values())
    return problems, f"{len(boards)} dashboards, {panels} panels"


if __name__ == "__main__":
    raise SystemExit(run_check("dashboards", __doc__, arguments, check))
