"""A recording stand-in for the Dagger engine connection.

dagger-io builds each query as a chain of `Field`s on a `Context` and only
talks to the engine in `Context.execute`. Replacing that one method lets the
real module functions run offline: every leaf query is recorded with its full
chain and answered from canned values. Private API: dagger-io is pinned exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dagger.client._core import Context, Field


@dataclass
class Call:
    """One leaf query: the selection chain from the root, e.g. container.from.withExec.stdout."""

    chain: list[Field]

    @property
    def leaf(self) -> str:
        return self.chain[-1].name

    def fields(self, name: str) -> list[Field]:
        return [f for f in self.chain if f.name == name]

    def arg(self, name: str, key: str) -> Any:
        found = self.fields(name)
        return found[-1].args.get(key) if found else None

    @property
    def image(self) -> str | None:
        return self.arg("from", "address")

    @property
    def execs(self) -> list[list[str]]:
        return [f.args["args"] for f in self.fields("withExec")]

    @property
    def mounts(self) -> dict[str, Any]:
        """Mount path -> mounted object (a Directory, File or Secret), after the last `from`."""
        start = max((i for i, f in enumerate(self.chain) if f.name == "from"), default=0)
        return {f.args["path"]: f.args.get("source")
                for f in self.chain[start:]
                if f.name in ("withMountedFile", "withMountedDirectory", "withMountedSecret")}

    def env(self) -> dict[str, Any]:
        values = {f.args["name"]: f.args.get("value") for f in self.fields("withEnvVariable")}
        values.update({f.args["name"]: f.args.get("secret")
                       for f in self.fields("withSecretVariable")})
        return values


def chain_of(obj: Any) -> list[Field]:
    """The selection chain behind a Dagger object (Directory, File, Secret)."""
    return list(obj._ctx.selections)  # noqa: SLF001


@dataclass
class Recorder:
    """Install with `recorder.install(monkeypatch)`; answers come from `answers` by leaf name."""

    answers: dict[str, Any] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def install(self, monkeypatch) -> "Recorder":
        recorder = self

        async def execute(ctx: Context, return_type: Any = None) -> Any:
            call = Call(list(ctx.selections))
            recorder.calls.append(call)
            answer = recorder.answers.get(call.leaf)
            return answer(call) if callable(answer) else answer

        monkeypatch.setattr(Context, "execute", execute)
        return self

    def leaves(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.leaf == name]


def all_fields(chain: list[Field]) -> list[Field]:
    """Every field of a chain and, recursively, of the objects passed as its arguments."""
    found = []
    for item in chain:
        found.append(item)
        for value in item.args.values():
            for obj in value if isinstance(value, list) else [value]:
                if hasattr(obj, "_ctx"):
                    found += all_fields(chain_of(obj))
    return found
