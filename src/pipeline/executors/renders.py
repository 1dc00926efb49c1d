"""Render once: each producer step (a `helm template`, say) runs once per native run,
its output kept as a file in a private temp dir and shared by every check reading it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anyio

from pipeline.plan.model import Step


@dataclass(frozen=True)
class Render:
    """What a producer made: its exit code, stdout (kept as `path`) and stderr."""

    code: int
    stdout: bytes
    stderr: bytes
    path: Path


class Renders:
    """Producer outputs of one run, made on first use; concurrent users wait for the first."""

    def __init__(self, directory: Path, produce):
        self.directory = directory  # private (mkdtemp: mode 0700), removed after the run
        self._produce = produce  # async (Step) -> (code, stdout, stderr)
        self._made: dict[Step, Render] = {}
        self._pending: dict[Step, anyio.Event] = {}

    async def get(self, step: Step) -> Render:
        while step not in self._made:
            if step in self._pending:
                await self._pending[step].wait()
                continue
            self._pending[step] = done = anyio.Event()
            try:
                code, out, err = await self._produce(step)
                path = self.directory / f"render-{len(self._made) + 1}.yaml"
                path.write_bytes(out)
                self._made[step] = Render(code, out, err, path)
            finally:
                del self._pending[step]
                done.set()
        return self._made[step]
