"""Kubernetes JSON schemas for kubeconform, from the PyPI wheel kubernetes-validate.

The wheel bundles `kubernetes-json-schema/v1.XX.0-local[-strict]/` whose kind
files carry an absolute `$id` and `/api/_definitions.json#` refs, which would
make kubeconform go online. We drop `$id`, make the refs file-local, and write
kubeconform's `-schema-location DIR` layout: `DIR/v1.XX.0-standalone[-strict]/`.

Stdlib only: scripts/bootstrap runs this before any virtualenv exists, and the
Dagger executor runs it in a plain python image.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

WHEEL_ROOT = "kubernetes_validate/kubernetes-json-schema/"
ABSOLUTE_REF = "/api/_definitions.json#"
LOCAL_REF = "_definitions.json#"


def localise(node: object) -> object:
    """Return the schema with `$id` dropped and definition refs made file-local."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$id":
                continue
            if key == "$ref" and isinstance(value, str) and value.startswith(ABSOLUTE_REF):
                value = LOCAL_REF + value[len(ABSOLUTE_REF):]
            out[key] = localise(value)
        return out
    if isinstance(node, list):
        return [localise(item) for item in node]
    return node


def target_folder(source_folder: str) -> str:
    """`v1.32.0-local-strict` -> `v1.32.0-standalone-strict` (kubeconform's name)."""
    return source_folder.replace("-local", "-standalone", 1)


def extract(wheel: Path, versions: list[str], out: Path) -> int:
    """Write the schemas of `versions` (e.g. "1.32.0") from `wheel` to `out`; return file count."""
    wanted = {f"v{v}-local" for v in versions} | {f"v{v}-local-strict" for v in versions}
    written = 0
    found: set[str] = set()
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if not name.startswith(WHEEL_ROOT) or not name.endswith(".json"):
                continue
            folder, _, filename = name[len(WHEEL_ROOT):].partition("/")
            if folder not in wanted or "/" in filename:
                continue
            found.add(folder)
            schema = localise(json.loads(archive.read(name)))
            dest = out / target_folder(folder) / filename
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(json.dumps(schema, separators=(",", ":")))
            written += 1
    missing = sorted(wanted - found)
    if missing:
        raise SystemExit(f"{wheel.name}: no schemas for {', '.join(missing)} in {WHEEL_ROOT}")
    return written


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
