"""CustomResourceDefinition YAML -> strict JSON schemas for kubeconform.

Our own converter (same idea as kubeconform's scripts/openapi2jsonschema.py):
for every served version of every CRD, take `schema.openAPIV3Schema`, make it
strict and write `OUT/<kind>-<first group label>-<version>.json`, which is the
layout of kubeconform's template location
`-schema-location 'OUT/{{ .ResourceKind }}{{ .KindSuffix }}.json'`.

Strict means:
- every object with `properties` and no `additionalProperties` gets
  `additionalProperties: false`, unless it is marked
  `x-kubernetes-preserve-unknown-fields: true` (free-form by design);
- `nullable: true` adds "null" to the allowed types;
- `apiVersion` and `kind` are pinned to the CRD's own values.

Then every subschema that occurs more than once (and is not tiny) is written once under
`$defs` and referred to (`shared`): kubeconform compiles a schema location once, and the
ApplicationSet CRD repeats its template and generators dozens of times (390 KB of schema,
about 1 s CPU to compile). A `$ref` to an identical subschema validates the same
instance the same way, so the verdicts and messages (instance paths) do not change.

Usage:
    python -m pipeline.crdschemas CRD_DIR OUT_DIR            # (re)generate
    python -m pipeline.crdschemas CRD_DIR OUT_DIR --check    # exit 1 if OUT is stale

Stdlib + PyYAML only (with libyaml where PyYAML has it: the CRDs are 2.5 MB of YAML,
parsed ten times faster).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys
from pathlib import Path

import yaml

from pipeline.model.kube import LOADER

GENERATED_SUFFIX = ".json"


def strict(node: object) -> object:
    """Return a copy of an OpenAPI v3 schema node made strict (see module doc)."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strict(value) for key, value in node.items()}
    if out.pop("nullable", False) and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
    preserve = out.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


# Keywords whose value is a subschema, or a map or list of subschemas (OpenAPI v3 as a CRD
# may use it: structural schemas allow no other nesting).
SCHEMA_KEYWORDS = ("items", "additionalProperties", "not")
SCHEMA_MAPS = ("properties",)
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
SHARED_MIN_BYTES = 256  # smaller repeats cost more as refs than they save


def subschemas(node: dict):
    """(container, key) of each subschema directly under the schema `node`."""
    for key in SCHEMA_KEYWORDS:
        if isinstance(node.get(key), dict):
            yield node, key
    for key in SCHEMA_MAPS:
        if isinstance(node.get(key), dict):
            yield from ((node[key], name) for name, value in node[key].items()
                        if isinstance(value, dict))
    for key in SCHEMA_LISTS:
        if isinstance(node.get(key), list):
            yield from ((node[key], index) for index, value in enumerate(node[key])
                        if isinstance(value, dict))


def canonical(node: object) -> str:
    return json.dumps(node, sort_keys=True, separators=(",", ":"))


def shared(schema: dict) -> dict:
    """`schema` with each repeated subschema of SHARED_MIN_BYTES or more moved to `$defs`
    (named by its content's digest) and referred to by `$ref`, outermost repeats first."""
    counts: dict[str, int] = {}

    def count(node: dict) -> None:
        for container, key in subschemas(node):
            text = canonical(container[key])
            counts[text] = counts.get(text, 0) + 1
            count(container[key])

    count(schema)
    defs: dict[str, dict] = {}

    def replace(node: dict) -> None:
        for container, key in list(subschemas(node)):
            text = canonical(container[key])
            if counts[text] > 1 and len(text) >= SHARED_MIN_BYTES:
                name = hashlib.sha256(text.encode()).hexdigest()[:16]
                if name not in defs:
                    defs[name] = container[key]
                    replace(defs[name])
                container[key] = {"$ref": f"#/$defs/{name}"}
            else:
                replace(container[key])

    if "$defs" in schema:
        raise ValueError("the schema has its own $defs")
    replace(schema)
    if defs:
        schema["$defs"] = dict(sorted(defs.items()))
    return schema


def file_name(kind: str, group: str, version: str) -> str:
    """kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}`: kind lowercased, first group label."""
    return f"{kind.lower()}-{group.split('.')[0]}-{version}{GENERATED_SUFFIX}"


def schemas_of(crd: dict, share: bool = True) -> dict[str, dict]:
    """{file name: JSON schema} for every version of one CRD document (repeats `shared`
    unless `share` is False)."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    out = {}
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema is None:
            raise ValueError(f"{kind}.{group}/{version['name']}: no openAPIV3Schema")
        schema = strict(schema)
        props = schema.setdefault("properties", {})
        props["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
        props["kind"] = {"type": "string", "enum": [kind]}
        schema.setdefault("required", [])
        for key in ("apiVersion", "kind"):
            if key not in schema["required"]:
                schema["required"].append(key)
        schema["additionalProperties"] = False
        schema["title"] = f"{kind} ({group}/{version['name']})"
        out[file_name(kind, group, version["name"])] = shared(schema) if share else schema
    return out


@functools.lru_cache(maxsize=16)
def documents(text: str) -> tuple:
    """The documents of one CRD file, parsed once a process for each content (0.9 s CPU for
    the 2.5 MB): a process that generates more than once (the freshness check, the plain
    conversion beside the shared one) parses once. Read only: `strict` copies what it keeps."""
    return tuple(yaml.load_all(text, LOADER))


def generate(crd_dir: Path, share: bool = True) -> dict[str, str]:
    """{file name: file text} for every CRD YAML under crd_dir (sorted, deterministic)."""
    sources = tuple((str(path), path.read_text()) for path in sorted(crd_dir.rglob("*.yaml")))
    return dict(_generated(sources, share))


@functools.lru_cache(maxsize=4)
def _generated(sources: tuple[tuple[str, str], ...], share: bool) -> dict[str, str]:
    """generate's texts from (path, content) pairs, made once a process for the same sources:
    a process that asks again (the suite's freshness test, then its shared-schema test) gets
    the same texts without converting again."""
    files: dict[str, str] = {}
    for path, text in sources:
        for doc in documents(text):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            for name, schema in schemas_of(doc, share).items():
                if name in files:
                    raise ValueError(f"{path}: {name} generated twice")
                files[name] = json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n"
    return files


def stale(crd_dir: Path, out_dir: Path) -> list[str]:
    """Why out_dir differs from what crd_dir generates (empty when up to date)."""
    want = generate(crd_dir)
    have = {p.name for p in out_dir.glob(f"*{GENERATED_SUFFIX}")}
    problems = [f"{out_dir / n}: missing" for n in sorted(set(want) - have)]
    problems += [f"{out_dir / n}: not generated from {crd_dir} (remove it)"
                 for n in sorted(have - set(want))]
    problems += [f"{out_dir / n}: differs from the generator's output"
                 for n in sorted(set(want) & have) if (out_dir / n).read_text() != want[n]]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.crdschemas", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("crd_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale(args.crd_dir, args.out_dir)
        for problem in problems:
            print(f"crdschemas: {problem}", file=sys.stderr)
        if problems:
            from pipeline.generators import fix_command

            print(f"crdschemas: fix with {fix_command('crd-schemas')}", file=sys.stderr)
            return 1
        print(f"crdschemas: {args.out_dir} is up to date")
        return 0
    files = generate(args.crd_dir)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for old in args.out_dir.glob(f"*{GENERATED_SUFFIX}"):
        if old.name not in files:
            old.unlink()
    for name, text in files.items():
        (args.out_dir / name).write_text(text)
    print(f"crdschemas: wrote {len(files)} schemas to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
