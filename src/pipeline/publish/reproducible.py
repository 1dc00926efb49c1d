"""Make a packaged chart byte-reproducible: every archive entry stamped with the commit's time.

    python reproducible.py PACKAGE.tgz OUT.tgz EPOCH

`helm package` stamps each tar entry with the current time (helm v3.22.0
pkg/chartutil/save.go, writeToTar), so packaging the same commit twice gives two
chart layers, and two manifest digests. This rewrites the archive with the same
entries, in the same order, with mtime = EPOCH (the commit's time), owner 0 and
a gzip header without a time or name: the same commit gives the same bytes.
Standard library only: the Dagger path runs this file alone in the python image.
"""

from __future__ import annotations

import gzip
import io
import sys
import tarfile
from pathlib import Path


def repack(package: Path, out: Path, epoch: int) -> None:
    buffer = io.BytesIO()
    with tarfile.open(package, "r:gz") as source, \
            tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as target:
        for member in source.getmembers():
            if not member.isfile():
                continue
            data = source.extractfile(member).read()
            entry = tarfile.TarInfo(member.name)
            entry.size, entry.mode, entry.mtime = len(data), 0o644, epoch
            entry.uid = entry.gid = 0
            entry.uname = entry.gname = ""
            target.addfile(entry, io.BytesIO(data))
    with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                mtime=0) as zipped:
        zipped.write(buffer.getvalue())


def repack_command(argv: list[str]) -> int:
    """`python reproducible.py PACKAGE.tgz OUT.tgz EPOCH`: how the Dagger path runs it."""
    if len(argv) != 3 or not argv[2].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    repack(Path(argv[0]), Path(argv[1]), int(argv[2]))
    return 0


if __name__ == "__main__":
    raise SystemExit(repack_command(sys.argv[1:]))
