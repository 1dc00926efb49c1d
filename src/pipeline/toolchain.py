"""The pinned toolchain (toolchain.toml) as Python data, for both executors."""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

PINS_FILE = Path(__file__).with_name("toolchain.toml")
BOOTSTRAP = "scripts/bootstrap"


@dataclass(frozen=True)
class Tool:
    name: str
    version: str
    image: str
    digest: str
    binary: str
    image_path: str = ""  # a directory to add to PATH in the image (binary outside PATH)
    pip: tuple[str, ...] = ()  # Python packages the image needs for the check
    image_binary: str = ""  # the binary's path in the image (copied out, or run by a service)

    @property
    def image_ref(self) -> str:
        """The image with its digest when one is pinned, else its tag."""
        return f"{self.image}@{self.digest}" if self.digest else self.image


@functools.cache
def pins() -> dict:
    return tomllib.loads(PINS_FILE.read_text())


def tool(name: str) -> Tool:
    try:
        entry = pins()["tools"][name]
    except KeyError:
        raise KeyError(f"{PINS_FILE}: no [tools.{name}] pin") from None
    return Tool(name=name, version=entry["version"], image=entry["image"],
                digest=entry.get("digest", ""), binary=entry.get("binary", name),
                image_path=entry.get("image_path", ""), pip=image_pip(entry),
                image_binary=entry.get("image_binary", ""))


def image_pip(entry: dict) -> tuple[str, ...]:
    """What to pip-install into the image: a pip-installed tool itself, or listed packages."""
    if entry.get("native") == "pip" and not entry.get("image_has_tool"):
        return (f"{entry['pypi']}=={entry['version']}",)
    return tuple(entry.get("pip", ()))


def kube_versions() -> list[str]:
    """Kubernetes versions every render is validated against, oldest first."""
    return list(pins()["kubernetes"]["versions"])


def tools_home() -> Path:
    """Where scripts/bootstrap installs the native tools (outside the repo)."""
    return Path(os.environ.get("DPP_TOOLS_HOME", Path.home() / ".cache" / "dpp-platform"))


def native_bin() -> Path:
    return tools_home() / "bin"


def native_schemas() -> Path:
    return tools_home() / "schemas"
