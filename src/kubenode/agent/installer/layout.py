"""Where a component lives on a node, and the one check that keeps every path inside it.

Everything the installer touches for component C sits under three roots of
the machine (ROOT is `/` on a real host, `DATA/machines/M/` in local mode):

* ``ROOT/opt/kubenode/components/C/<version>/`` — one unpacked, verified
  artifact per version, plus the ``current`` symlink naming the live one;
* ``ROOT/var/lib/kubenode/components/C/`` — the agent's bookkeeping (intent
  journal, state, downloads, process id);
* ``ROOT/var/log/components/C.log`` — the service's output.

A custom resource only ever names paths *relative* to a version directory
(command, health-check program, files). The schema already refuses leading
slashes and ``..`` segments, but an archive may contain symlinks, so every
such path is resolved with ``realpath`` and refused when it lands outside
(defence in depth: the schema is one check, this is the one that matters).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ComponentLayout", "PathEscapeError", "resolve_inside", "validate_name"]

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~-]*$")

#: Written last into an unpacked version directory: its presence means "complete and verified".
COMPLETE_MARKER = ".kubenode-complete"


class PathEscapeError(ValueError):
    """A path taken from a custom resource or an archive points outside its directory."""


def validate_name(kind: str, value: str) -> str:
    """Check a component name or version before it becomes a directory name; returns it."""
    pattern = _NAME if kind == "component" else _VERSION
    if not value or len(value) > 128 or not pattern.match(value) or value in (".", ".."):
        raise ValueError(f"invalid {kind} {value!r}: must match {pattern.pattern}")
    return value


def resolve_inside(base: Path, relative: str) -> Path:
    """``base/relative`` with every symlink resolved, refused unless it stays inside ``base``.

    ``relative`` must be relative and free of ``..`` segments even before
    resolution: a path that only stays inside by accident is still refused.
    """
    if not relative or relative.startswith("/") or "\x00" in relative:
        raise PathEscapeError(f"{relative!r}: must be a non-empty relative path")
    if any(part == ".." for part in relative.split("/")):
        raise PathEscapeError(f"{relative!r}: must not contain '..'")
    real_base = os.path.realpath(base)
    resolved = os.path.realpath(os.path.join(real_base, relative))
    if resolved != real_base and not resolved.startswith(real_base + os.sep):
        raise PathEscapeError(f"{relative!r} resolves to {resolved}, outside {real_base}")
    return Path(resolved)


@dataclass(frozen=True)
class ComponentLayout:
    """The directories of one component on one machine."""

    root: Path
    component: str

    def __post_init__(self) -> None:
        validate_name("component", self.component)

    @property
    def home(self) -> Path:
        """``ROOT/opt/kubenode/components/C``: the versions and the ``current`` link."""
        return self.root / "opt" / "kubenode" / "components" / self.component

    @property
    def current(self) -> Path:
        """The ``current`` symlink (relative target: the version directory's name)."""
        return self.home / "current"

    @property
    def state_dir(self) -> Path:
        """``ROOT/var/lib/kubenode/components/C``: journal, state, downloads."""
        return self.root / "var" / "lib" / "kubenode" / "components" / self.component

    @property
    def log_file(self) -> Path:
        """``ROOT/var/log/components/C.log``."""
        return self.root / "var" / "log" / "components" / f"{self.component}.log"

    def version_dir(self, version: str) -> Path:
        """The directory of one unpacked version."""
        return self.home / validate_name("version", version)

    def is_complete(self, version: str) -> bool:
        """Whether ``version`` was unpacked completely (its marker exists)."""
        return (self.version_dir(version) / COMPLETE_MARKER).is_file()

    def current_version(self) -> str | None:
        """The version ``current`` points to, or None when nothing is installed."""
        try:
            target = os.readlink(self.current)
        except (FileNotFoundError, OSError):
            return None
        name = os.path.basename(target.rstrip("/"))
        return name if _VERSION.match(name) else None

    def installed_versions(self) -> list[str]:
        """Every complete version directory on disk, sorted by name."""
        if not self.home.is_dir():
            return []
        return sorted(p.name for p in self.home.iterdir()
                      if p.is_dir() and not p.is_symlink() and _VERSION.match(p.name)
                      and (p / COMPLETE_MARKER).is_file())

    def ensure_dirs(self) -> None:
        """Create the component's directories (idempotent)."""
        for d in (self.home, self.state_dir, self.log_file.parent):
            d.mkdir(parents=True, exist_ok=True)
