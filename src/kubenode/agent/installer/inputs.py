"""What the installer accepts from a MachineComponent spec, checked again on the node (issue 9, item 5).

The CRD schema and its CEL rules reject the same inputs at admission; the agent does not rely on it
(an older CRD, a server without the rules, an object written before they existed):

* `files[].path` is normalised (`./bin/run`, `bin//run`, `bin/./run` are all `bin/run`) *before* it is
  compared with the verified archive's members, so no spelling replaces a verified file;
* file modes are capped: never world-writable, never set-user/group-ID or sticky;
* `run.env` names that change how a program loads (`loader_env.py`) are refused;
* `file://` sources are read only from directories the agent trusts (`--trust-file-dir`; in local mode
  by default the control plane's artifact directory, `DATA/artifacts`; on real hosts none).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from kubenode.api.loader_env import is_loader_env

from .layout import PathEscapeError

__all__ = ["MODE_MASK", "InputRefused", "capped_mode", "check_env", "check_file_source", "default_trusted_dirs",
           "normal_path"]

#: Permission bits a written file may keep: rwx for owner and group, r-x for others.
MODE_MASK = 0o775


class InputRefused(PathEscapeError):
    """A spec input the agent will not act on (a PathEscapeError, so every caller refuses it the same way)."""


def normal_path(relative: str) -> str:
    """The normal form of a relative path: no empty, '.' segments; '..' and absolute paths refused."""
    if not relative or relative.startswith("/") or "\x00" in relative:
        raise InputRefused(f"{relative!r}: must be a non-empty relative path")
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise InputRefused(f"{relative!r}: must name a file inside the component directory, without '..'")
    return posixpath.join(*parts)


def capped_mode(mode: int) -> int:
    """`mode` without world-write, set-user-ID, set-group-ID and sticky bits."""
    return int(mode) & MODE_MASK


def check_env(run: Mapping[str, Any] | None) -> None:
    """Refuse environment variables that change how programs load (LD_PRELOAD, BASH_ENV, PYTHONPATH, ...)."""
    for i, item in enumerate((run or {}).get("env") or ()):
        name = str((item or {}).get("name", ""))
        if is_loader_env(name):
            raise InputRefused(f"spec.run.env[{i}].name: {name} changes how programs load or what code they run "
                               "first; a component may not set it")


def check_file_source(url: str, trusted: Sequence[Path]) -> None:
    """Refuse a `file://` URL unless its file (symlinks resolved) lies inside a trusted directory."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        return
    if not trusted:
        raise InputRefused(f"spec.source.url: {url}: this agent reads file:// sources from no directory "
                           "(start it with --trust-file-dir DIR)")
    real = os.path.realpath(unquote(parts.path))
    for d in trusted:
        base = os.path.realpath(d)
        if real.startswith(base.rstrip(os.sep) + os.sep):
            return
    raise InputRefused(f"spec.source.url: {url}: file:// sources must be inside a trusted directory "
                       f"({', '.join(str(d) for d in trusted)})")


def default_trusted_dirs(root: Path, local: bool) -> tuple[Path, ...]:
    """Local mode: the control plane's artifact directory (`DATA/artifacts` for a root `DATA/machines/M`)."""
    return (root.parent.parent / "artifacts",) if local else ()


def duplicate_paths(files: Iterable[Mapping[str, Any]]) -> list[str]:
    """Paths that two entries of `files` spell differently but mean the same file."""
    seen: dict[str, str] = {}
    dups = []
    for f in files:
        rel = str(f.get("path", ""))
        try:
            norm = normal_path(rel)
        except InputRefused:
            continue
        if norm in seen:
            dups.append(f"{seen[norm]!r} and {rel!r}")
        seen[norm] = rel
    return dups
