"""Kubernetes JSON schemas for kubeconform, from the PyPI wheel kubernetes-validate.

The wheel bundles `kubernetes-json-schema/v1.XX.0-local[-strict]/`: kind files with an
absolute `$id` and `/api/_definitions.json#/$defs/...` refs into one shared 1.4 MB
`_definitions.json` (whose own refs are `#/$defs/...`). We drop `$id` (it would make
kubeconform go online) and write each kind file self-contained: it carries, under its
own `$defs`, the transitive closure of the definitions it references and nothing else,
every ref local (`#/$defs/<name>`).

Why: kubeconform compiles each kind's schema with a new compiler, which parsed the whole
shared `_definitions.json` again for every kind (about 0.12 s CPU a kind). One kubeconform
-strict over the six renders of Kubernetes 1.37 (GOGC=400, as the native executor runs it;
2 cores, median of 5) costs 1.43 s CPU (user+sys) with the shared file and 0.27 s with
self-contained files, with the same verdicts (tests/pipeline/test_kubeschemas.py). The
price: about 4x the bytes on disk (132 MB for four versions, from 36 MB) and ~0.2 s more
CPU to write them. `_definitions.json` is still written (refs local too) for other tools.

The layout is kubeconform's for `-schema-location DIR`: `DIR/v1.XX.0-standalone[-strict]/`
(pkg/registry/registry.go appends `{{ .NormalizedKubernetesVersion }}-standalone
{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json` to a location not ending in
`json`). In yannh/kubernetes-json-schema (build.sh) "standalone" means "de-referenced
schemas, more useful as standalone documents": ours keep `$ref`s but resolve them inside
the file, so each is a standalone document too.

Stdlib only: scripts/bootstrap runs this before any virtualenv exists, and the
Dagger executor runs it as a script in a plain python image.
"""

from __future__ import annotations

import json
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

# The output layout's version: scripts/bootstrap puts it in its stamp, so a cache written
# in another layout is regenerated. Change it whenever the files written change.
FORMAT = 3  # 3: the wheel is kept under SOURCE

# Where scripts/bootstrap keeps the wheel the schemas were made from, beside them (not a
# kubeconform location: it reads only v*-standalone*/).
SOURCE = "wheel"

WHEEL_ROOT = "kubernetes_validate/kubernetes-json-schema/"
DEFINITIONS = "_definitions.json"
ABSOLUTE_REF = "/api/_definitions.json#/$defs/"
LOCAL_REF = "#/$defs/"


def localise(node: object, refs: set[str]) -> object:
    """The schema with `$id` dropped and definition refs made `#/$defs/<name>`; the names
    it refers to are added to `refs`."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$id":
                continue
            if key == "$ref" and isinstance(value, str):  # not a property named "$ref"
                if value.startswith(ABSOLUTE_REF):
                    value = LOCAL_REF + value[len(ABSOLUTE_REF):]
                if not value.startswith(LOCAL_REF):
                    raise ValueError(f"$ref {value!r} is not a definition")
                refs.add(value[len(LOCAL_REF):])
                out[key] = value
            else:
                out[key] = localise(value, refs)
        return out
    if isinstance(node, list):
        return [localise(item, refs) for item in node]
    return node


def closure(names: set[str], refs_of: dict[str, set[str]]) -> list[str]:
    """`names` and every definition they refer to, transitively, sorted."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(refs_of.get(name, ()))
    return sorted(seen)


def encode(schema: object) -> str:
    return json.dumps(schema, separators=(",", ":"))


def write_folder(members: dict[str, bytes], where: str, dest: Path) -> int:
    """Write one wheel folder's files (name -> bytes) self-contained to `dest`; the count.

    `where` names the folder in errors."""
    if DEFINITIONS not in members:
        raise SystemExit(f"{where}: no {DEFINITIONS}")
    definitions: dict[str, object] = {}
    refs_of: dict[str, set[str]] = {}
    try:
        raw = json.loads(members[DEFINITIONS])
        for name, body in raw["$defs"].items():
            refs_of[name] = set()
            definitions[name] = localise(body, refs_of[name])
        shared = {key: definitions if key == "$defs" else localise(value, set())
                  for key, value in raw.items() if key != "$id"}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise SystemExit(f"{where}/{DEFINITIONS}: {error}") from None
    encoded = {name: encode(body) for name, body in definitions.items()}
    dest.mkdir(parents=True, exist_ok=True)
    (dest / DEFINITIONS).write_text(encode(shared))
    for filename, data in members.items():
        if filename == DEFINITIONS:
            continue
        used: set[str] = set()
        try:
            schema = localise(json.loads(data), used)
        except ValueError as error:
            raise SystemExit(f"{where}/{filename}: {error}") from None
        needed = closure(used, refs_of)
        unknown = [name for name in needed if name not in definitions]
        if unknown:
            raise SystemExit(f"{where}/{filename}: $ref to {', '.join(unknown)}: "
                            f"not defined in {DEFINITIONS}")
        if needed and (not isinstance(schema, dict) or "$defs" in schema):
            raise SystemExit(f"{where}/{filename}: cannot add $defs (not an object, or has its own)")
        text = encode(schema)
        if needed:  # == encode({**schema, "$defs": ...}), each definition encoded once
            defs = ",".join(f"{json.dumps(name)}:{encoded[name]}" for name in needed)
            text = f"{text[:-1]}{',' if schema else ''}\"$defs\":{{{defs}}}}}"
        (dest / filename).write_text(text)
    return len(members)


def target_folder(source_folder: str) -> str:
    """`v1.32.0-local-strict` -> `v1.32.0-standalone-strict` (kubeconform's name)."""
    return source_folder.replace("-local", "-standalone", 1)


def extract(wheel: Path, versions: list[str], out: Path) -> int:
    """Write the schemas of `versions` (e.g. "1.32.0") from `wheel` to `out`; return file count."""
    wanted = {f"v{v}-local" for v in versions} | {f"v{v}-local-strict" for v in versions}
    folders: dict[str, dict[str, bytes]] = defaultdict(dict)
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if not name.startswith(WHEEL_ROOT) or not name.endswith(".json"):
                continue
            folder, _, filename = name[len(WHEEL_ROOT):].partition("/")
            if folder in wanted and "/" not in filename:
                folders[folder][filename] = archive.read(name)
    missing = sorted(wanted - folders.keys())
    if missing:
        raise SystemExit(f"{wheel.name}: no schemas for {', '.join(missing)} in {WHEEL_ROOT}")
    return sum(write_folder(folders[folder], f"{wheel.name}: {WHEEL_ROOT}{folder}",
                            out / target_folder(folder))
               for folder in sorted(folders))


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: python -m pipeline.kubeschemas WHEEL OUTDIR VERSION...", file=sys.stderr)
        return 2
    wheel = Path(argv[0])
    if wheel.is_dir():  # a download folder holding the one wheel
        wheel = next(wheel.glob("*.whl"))
    count = extract(wheel, argv[2:], Path(argv[1]))
    print(f"wrote {count} schema files to {argv[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
