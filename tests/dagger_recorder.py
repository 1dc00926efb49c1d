"""A recording stand-in for the Dagger engine connection.

dagger-io builds each query as a chain of `Field`s on a `Context` and only
talks to the engine in `Context.execute`. Replacing that one method lets the
real module functions run offline: every leaf query is recorded with its full
chain and answered from canned values. Private API: dagger-io is pinned exactly.
"""

from __future__ import annotations

import functools
import inspect
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagger._exceptions import _query_error_from_transport
from dagger.client import _core
from dagger.client._core import Context, Field
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError

from pipeline.executors import dagger as executor
from pipeline.kubeapi import server

# The leaves that read an exec's outcome (its own, when it ran with expect=ANY).
OUTCOME_LEAVES = ("exitCode", "stdout", "stderr", "combinedOutput")


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


@dataclass(frozen=True)
class Exit:
    """How a command ends in the stand-in engine: its exit code and what it printed."""

    code: int = 1
    stdout: str = ""
    stderr: str = ""

    @property
    def combined(self) -> str:
        return self.stdout + self.stderr


def exec_error(argv: list[str], exit: Exit) -> Exception:
    """The error the engine answers for a failed exec, parsed by the SDK's own code.

    The engine's message is only the exit code and a trace id (core/exec_error.go,
    dagger v0.21.8); the command and outputs travel in the GraphQL error's extensions.
    """
    message = f"exit code: {exit.code} [traceparent:00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01]"
    errors = [{"message": message, "path": ["container", "withExec"],
               "extensions": {"_type": "EXEC_ERROR", "cmd": argv, "exitCode": exit.code,
                              "stdout": exit.stdout.strip(), "stderr": exit.stderr.strip()}}]
    return _query_error_from_transport(TransportQueryError(message, errors=errors),
                                       GraphQLRequest("{ container { id } }"))


def runs(field_: Field) -> list[str] | None:
    """The argv a field runs: an exec's args, or a service's start args ([] = the image's)."""
    if field_.name == "withExec":
        return field_.args["args"]
    if field_.name in ("asService", "up"):
        return field_.args.get("args", [])
    return None


@dataclass
class Recorder:
    """Install with `recorder.install(monkeypatch)`; answers come from `answers` by leaf name.

    `exits` makes commands fail the way the engine does: each entry is (predicate on the
    argv, Exit). A failing exec run with the default expect=SUCCESS (or a failing service)
    fails every query that depends on it, through the chain or a mounted/bound object,
    with an `ExecError`; the last exec of a chain run with expect=ANY answers its outcome
    leaves (exitCode, stdout, ...) from its Exit instead. An answer may be a callable of
    the call, and may return an awaitable (e.g. to hang).
    """

    answers: dict[str, Any] = field(default_factory=dict)
    exits: list[tuple[Callable[[list[str]], bool], Exit]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)

    def install(self, monkeypatch) -> "Recorder":
        recorder = self

        async def execute(ctx: Context, return_type: Any = None) -> Any:
            call = Call(list(ctx.selections))
            recorder.calls.append(call)
            answer = recorder.answer(call)
            return await answer if inspect.isawaitable(answer) else answer

        monkeypatch.setattr(Context, "execute", execute)
        # dagger-io builds a new cattrs converter for every selection (Context.__post_init__),
        # most of a recorded run's CPU. Its ctx serves only to structure results, which
        # `execute` above answers instead; one converter unstructures every selection's args
        # the same way (made with no ctx: structuring a result with it would fail loudly).
        converter = _core.make_converter(None)
        monkeypatch.setattr(_core, "make_converter", lambda ctx: converter)
        return self

    def exit_of(self, argv: list[str]) -> Exit | None:
        return next((exit for matches, exit in self.exits if matches(argv)), None)

    def answer(self, call: Call) -> Any:
        final = call.fields("withExec")[-1] if call.fields("withExec") else None
        own = None
        if final is not None and final.args.get("expect") == "ANY":
            own = final
        for item in all_fields(call.chain):
            argv = runs(item)
            exit = None if argv is None or item is own else self.exit_of(argv)
            if exit is not None and exit.code != 0 and item.args.get("expect") != "ANY":
                raise exec_error(argv, exit)
        exit = self.exit_of(own.args["args"]) if own is not None else None
        if exit is not None and call.leaf in OUTCOME_LEAVES:
            return {"exitCode": exit.code, "stdout": exit.stdout, "stderr": exit.stderr,
                    "combinedOutput": exit.combined}[call.leaf]
        if final is not None and call.leaf in ("stdout", "stderr") and batch_files(final):
            return kubeconform_json(batch_files(final)) if call.leaf == "stdout" else ""
        if final is not None and call.leaf == "combinedOutput" and promtool_files(final):
            return promtool_passes(final)
        answer = self.answers.get(call.leaf)
        return answer(call) if callable(answer) else answer

    def leaves(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.leaf == name]


def batch_files(exec_field: Field) -> list[str]:
    """The input files of a batched kubeconform (executors/batch.py), or []."""
    argv = exec_field.args.get("args") or []
    if argv[:1] != ["kubeconform"] or "-output" not in argv:
        return []
    return [a for a in argv if a.endswith(".yaml") and a.startswith("/run/batch/")]


def kubeconform_json(files: list[str]) -> str:
    """What `kubeconform -output json -verbose FILE...` prints when every resource is valid
    (its shape as kubeconform 0.7 prints it: one entry a resource, naming its file)."""
    return json.dumps({"resources": [
        {"filename": path, "kind": "ConfigMap", "name": "settings", "version": "v1",
         "status": "statusValid", "msg": ""} for path in files]}, indent=2)


# What promtool 2.51.0 prints for each file that passes, stdout and stderr merged
# (prometheus v2.51.0 cmd/promtool/main.go checkRules/CheckConfig, unittest.go
# RulesUnitTest; executors/batch_promtool.py): a rule file of one rule, a config that
# loads no rule file.
PROMTOOL_PASSES = {
    ("check", "rules"): "Checking {file}\n  SUCCESS: 1 rules found\n\n",
    ("check", "config"): "Checking {file}\n SUCCESS: {file} is valid prometheus config file "
                         "syntax\n\n",
    ("test", "rules"): "Unit Testing:  {file}\n  SUCCESS\n\n",
}


def promtool_files(exec_field: Field) -> list[str]:
    """The files of a promtool check rules / check config / test rules, or []."""
    argv = exec_field.args.get("args") or []
    if argv[:1] != ["promtool"] or tuple(argv[1:3]) not in PROMTOOL_PASSES:
        return []
    return [a for a in argv[3:] if not a.startswith("-")]


def promtool_passes(exec_field: Field) -> str:
    """What promtool prints when every file it was given passes."""
    said = PROMTOOL_PASSES[tuple(exec_field.args["args"][1:3])]
    return "".join(said.format(file=f) for f in promtool_files(exec_field))


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


MAKE_CREDENTIALS = server.make_credentials  # the real one, before any test replaces it


@functools.cache
def _apiserver_credentials() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="dpp-test-credentials-") as work:
        MAKE_CREDENTIALS(Path(work))
        return {path.name: path.read_bytes() for path in Path(work).iterdir()}


def reuse_apiserver_credentials(monkeypatch) -> None:
    """The Dagger executor makes throwaway kube-apiserver credentials with openssl (two RSA
    key generations) for every lint with an API-server check. Over the stand-in they are
    only mounted, never served: one set, made by the real make_credentials, serves a test
    session (files and modes as it writes them)."""
    def make_credentials(directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in _apiserver_credentials().items():
            (directory / name).touch(mode=0o600)
            (directory / name).write_bytes(data)

    monkeypatch.setattr(server, "make_credentials", make_credentials)


def batch_file(check) -> str:
    return f"{executor.BATCH_DIR}/{check.group}-{check.name}.yaml"


def batch_input(check) -> str:
    """A batch member's input in its batch's container: its render as a file, or its own
    file of the repo (the argv's last, relative to the workdir)."""
    return batch_file(check) if check.stdin_from else check.argv[-1]
