"""node-problem-detector's custom plugin protocol, run safely.

A plugin is an executable: exit 0 means OK (the condition is False), 1 means
a problem (True), anything else — a crash, a timeout — Unknown. Its stdout,
trimmed to `max_output_length` (80) characters, is the message. A plugin that
outlives its timeout is killed with its whole process group.

Plugins are only run from the allowlisted directory (ROOT/etc/kubenode/
detectors/plugins, or /etc/kubenode/detectors/plugins on hosts): a path that
resolves anywhere else is refused, so a config file cannot point the agent at
an arbitrary program. Arguments come from the node-local config file, never
from a custom resource, and no shell is involved.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

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


def resolve_plugin(path: str, allowed_dir: Path) -> Path:
    """The executable `path` resolved inside `allowed_dir`; ValueError if it is anywhere else or not executable.

    Relative paths are taken relative to the allowlisted directory.
    """
    base = allowed_dir.resolve()
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = base / candidate
    real = candidate.resolve()
    if real.parent != base and base not in real.parents:
        raise ValueError(f"plugin {path!r} is outside the allowlisted directory {base}")
    if not real.is_file() or not os.access(real, os.X_OK):
        raise ValueError(f"plugin {path!r} is not an executable file")
    return real


async def run_plugin(executable: Path, args: tuple[str, ...], limit_seconds: float, max_output: int) -> PluginResult:
    """Run one plugin (no shell) and map its result; kills its process group on timeout."""
    try:
        proc = await asyncio.create_subprocess_exec(
            str(executable), *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True, cwd=str(executable.parent))
    except OSError as exc:
        return PluginResult("Unknown", f"cannot run plugin: {exc.strerror}"[:max_output], None)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), limit_seconds)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return PluginResult("Unknown", f"plugin timed out after {limit_seconds:g}s"[:max_output], None)
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.shield(proc.wait())
        raise
    code = proc.returncode
    return PluginResult(status_for_exit(code), trim_output(out or b"", max_output), code)
