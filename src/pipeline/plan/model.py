"""What a check is: data, with no knowledge of how it is run."""

from __future__ import annotations

import fnmatch
import importlib.machinery
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import ModuleType

# Placeholders an argv may hold; each executor substitutes its own location.
SCHEMAS = "{schemas}"  # Kubernetes JSON schemas in kubeconform's layout
KUBECONFIG = "{kubeconfig}"  # the kubeconfig of the running kube-apiserver service

# What no check reads: the native tree walk skips these directories, and the Dagger
# functions ignore them when they load the repository (main.SOURCE_IGNORE).
IGNORED_DIRS = frozenset({".git", "__pycache__", ".venv", "venv", "node_modules", "sdk",
                          ".pytest_cache", "dist"})


@dataclass(frozen=True)
class Step:
    """A command whose stdout feeds a check's stdin (e.g. `helm template`)."""

    tool: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Check:
    """One check: a tool, its argv, and the repo paths it reads (and nothing else)."""

    name: str
    group: str
    tool: str
    argv: tuple[str, ...]
    reads: tuple[str, ...]
    stdin_from: Step | None = None
    description: str = ""
    uses: tuple[str, ...] = ()  # other tools the check's program runs itself (on PATH)
    services: tuple[str, ...] = ()  # names of the services it needs (plan/services.py)
    # How the check may share one process with others of the same tool (its batch kind,
    # executors/batch.py): checks of a kind whose argv is the same but their input (stdin
    # "-", or their file) run as one process over every input, its output mapped back to
    # each check. "kubeconform"; "promtool-check-rules", "promtool-check-config",
    # "promtool-test-rules". Empty: the check runs alone.
    batch: str = ""

    @property
    def id(self) -> str:
        return f"{self.group}/{self.name}"

    @property
    def tools(self) -> tuple[str, ...]:
        """Every tool the check runs, producer first."""
        return ((self.stdin_from.tool,) if self.stdin_from else ()) + (self.tool,) + self.uses


@dataclass(frozen=True)
class Service:
    """A server that checks use: started once per run, only if a selected check needs it,
    and stopped by the executor. `placeholder` is what a check's argv holds to reach it."""

    name: str
    tools: tuple[str, ...]
    placeholder: str
    description: str = ""


class CheckModule:
    """A check's module, named and found but not imported (check_modules)."""

    def __init__(self, name: str):
        self.__name__ = name

    def __repr__(self) -> str:
        return f"CheckModule({self.__name__!r})"


def check_modules(package: str, *names: str) -> tuple[CheckModule, ...]:
    """The modules `names` of `package`, each found (a misspelt one fails the plan's build)
    but not run: the plan needs only their names, and every `python -m pipeline` builds it
    (`--help`, `--list`, a lint whose results are all cached). A check's module is imported
    by the process that runs the check (`python -m`, or the warm interpreter)."""
    # Found in the package's directory without importing the package (its __init__ may
    # import what its checks need).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"plan: no check package {package}", name=package)
    where = spec.submodule_search_locations
    modules = tuple(CheckModule(f"{package}.{name}") for name in names)
    for module in modules:
        if importlib.machinery.PathFinder.find_spec(module.__name__, where) is None:
            raise ModuleNotFoundError(f"plan: no check module {module.__name__}",
                                      name=module.__name__)
    return modules


def python_check(name: str, group: str, module: ModuleType | CheckModule, args: list[str],
                 reads: list[str], description: str = "", stdin_from: Step | None = None,
                 uses: tuple[str, ...] = (), services: tuple[str, ...] = ()) -> Check:
    """A pure-Python check: `python -m <module> ARGS`, the module named at the top of the
    plan's group module (`policies, ... = check_modules("pipeline.checks.chart", "policies",
    ...)` ... `python_check(..., policies, ...)`), so one place shows which code each check
    runs.

    The module comes from the running pipeline code (each executor provides it), never
    from the checked tree, so src/pipeline is not among the reads.
    """
    return Check(name=name, group=group, tool="python",
                 argv=("python", "-m", module.__name__, *args),
                 reads=tuple(dict.fromkeys(reads)),
                 stdin_from=stdin_from, description=description, uses=uses, services=services)


@dataclass(frozen=True)
class Tree:
    """The repo's file list (repo-relative, '/'-separated): what the plan is built from."""

    files: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_path(cls, root: Path) -> "Tree":
        found = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
            rel = Path(folder).relative_to(root)
            found += [(rel / n).as_posix() for n in names]
        return cls(frozenset(found))

    @classmethod
    def from_listing(cls, entries: list[str]) -> "Tree":
        """From a recursive listing such as Dagger's `Directory.glob("**/*")`.

        The engine marks directories with a trailing "/" only for clients that ask for it,
        so an entry that is the parent of another entry is a directory either way.
        """
        paths = {e.removeprefix("./") for e in entries}
        parents = {str(PurePosixPath(p).parent) for p in paths} | {p.rstrip("/") for p in paths
                                                                  if p.endswith("/")}
        return cls(frozenset(p for p in paths if not p.endswith("/") and p not in parents))

    def glob(self, pattern: str) -> list[str]:
        return sorted(f for f in self.files if fnmatch.fnmatchcase(f, pattern))

    def is_file(self, path: str) -> bool:
        return path in self.files

    def is_dir(self, path: str) -> bool:
        prefix = path.rstrip("/") + "/"
        return any(f.startswith(prefix) for f in self.files)

    def exists(self, path: str) -> bool:
        return self.is_file(path) or self.is_dir(path)
