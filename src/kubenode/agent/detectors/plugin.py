"""node-problem-detector's custom plugin protocol, run safely.

A plugin is an executable: exit 0 means OK (the condition is False), 1 means
a problem (True), anything else — a crash, a timeout — Unknown. Its stdout,
trimmed to `max_output_length` (80) characters, is the message. A plugin that
outlives its timeout is killed with its whole process group.

Plugins are only run from allowlisted directories: ours (ROOT/etc/kubenode/
detectors/plugins, or /etc/kubenode/detectors/plugins on hosts) and NPD's
standard locations (`/config/plugin`, `/home/kubernetes/bin`) when the node's
admin installed plugins there (not writable by others); a path that resolves
anywhere else is refused, so a config file cannot point the agent at an
arbitrary program. Arguments come from the node-local config file, never
from a custom resource, and no shell is involved.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..bounded import run_bounded

OK, NON_OK, UNKNOWN = 0, 1, 2


@dataclass(frozen=True)
class PluginResult:
    """What one plugin run says."""

    status: str  # condition status: False (OK), True (problem), Unknown
    message: str
    exit_code: int | None  # None when it timed out or could not start


def status_for_exit(code: int | None) -> str:
    """NPD's mapping: 0 → False (OK), 1 → True (problem), anything else → Unknown."""
    if code == OK:
        return "False"
    if code == NON_OK:
        return "True"
    return "Unknown"


def trim_output(out: bytes, limit: int) -> str:
    """The message: stdout decoded, whitespace-trimmed, cut to `limit` characters."""
    return out.decode("utf-8", errors="replace").strip()[:limit]


#: node-problem-detector's standard plugin locations (host paths): `./config/plugin/…` in its shipped configs is
#: relative to NPD's working directory `/`; GKE installs `health-checker` and `log-counter` in /home/kubernetes/bin.
NPD_PLUGIN_DIRS = ("/config/plugin", "/home/kubernetes/bin")


def _admin_owned(path: Path) -> None:
    """Refuse a plugin (or its directory) that users other than its owner could have changed."""
    for p in (path, path.parent):
        st = p.stat()
        if st.st_mode & 0o022:
            raise ValueError(f"{p} is writable by group or others: not trusted as an admin-installed plugin "
                             "(chmod go-w it)")
        if st.st_uid not in (0, os.getuid()):
            raise ValueError(f"{p} is owned by uid {st.st_uid}, neither root nor the agent")


def resolve_plugin(path: str, allowed_dir: Path, npd_dirs: Sequence[Path] = (),
                   host_root: Path | None = None) -> Path:
    """The executable `path` resolved inside an allowlisted directory; ValueError otherwise.

    Relative paths are taken relative to `allowed_dir` (ours), except NPD's
    own `./config/plugin/…`, which is relative to NPD's working directory
    (the host's `/`). Absolute paths are host paths (under `host_root` in
    local mode). Besides `allowed_dir`, the `npd_dirs` (NPD's standard
    locations, when they exist on this node) are allowed, provided the
    plugin and its directory are not writable by others: only the node's
    admin can have put a program there.
    """
    base = allowed_dir.resolve()
    candidate = Path(path)
    root = host_root if host_root is not None else Path("/")
    if candidate.is_absolute():
        if host_root is not None:
            candidate = host_root / path.lstrip("/")
    elif npd_dirs and path.removeprefix("./").startswith("config/plugin/"):
        candidate = root / path.removeprefix("./")
    else:
        candidate = base / candidate
    real = candidate.resolve()
    extra = [d.resolve() for d in npd_dirs if d.is_dir()]
    inside_ours = real.parent == base or base in real.parents
    inside_npd = next((d for d in extra if real.parent == d or d in real.parents), None)
    if not inside_ours and inside_npd is None:
        where = ", ".join(str(d) for d in [base, *extra])
        raise ValueError(f"plugin {path!r} is outside the allowlisted directories ({where})")
    if not real.is_file() or not os.access(real, os.X_OK):
        raise ValueError(f"plugin {path!r} is not an executable file")
    if not inside_ours:
        _admin_owned(real)
    return real


async def run_plugin(executable: Path, args: tuple[str, ...], limit_seconds: float, max_output: int) -> PluginResult:
    """Run one plugin (no shell) and map its result; kills its process group on timeout."""
    try:
        done = await run_bounded([str(executable), *args], limit_seconds, cwd=executable.parent, stderr=False)
    except TimeoutError:
        return PluginResult("Unknown", f"plugin timed out after {limit_seconds:g}s"[:max_output], None)
    except OSError as exc:
        return PluginResult("Unknown", f"cannot run plugin: {exc.strerror}"[:max_output], None)
    return PluginResult(status_for_exit(done.returncode), trim_output(done.output, max_output), done.returncode)
