"""Running one short-lived program of ours on the node with a time limit, never leaving it behind.

The agent runs three such programs: a custom plugin of node-problem-detector's kind (detectors), a
component's exec health probe (installer) and a remediation script of the fixed registry (executor). Each
is a file inside a directory we own, run without a shell in a session of its own, so that on its time
limit, or when the agent stops while it runs (the awaiting task is cancelled), the whole process group is
killed and reaped: no script keeps running unobserved after the agent that started it has gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Finished:
    """How the program ended within its limit: exit code (negative: the signal) and its output."""

    returncode: int
    output: bytes


async def run_bounded(argv: Sequence[str], limit_seconds: float, *, cwd: Path,
                      env: Mapping[str, str] | None = None, stderr: bool = True) -> Finished:
    """Run `argv` (no shell, stdin from /dev/null) for at most `limit_seconds`; stdout (with stderr unless
    `stderr` is false: then it is discarded) is returned whole.

    Raises :class:`TimeoutError` once the program's process group is killed and reaped at the limit, and
    :class:`OSError` when it cannot be started; a cancellation kills and reaps it, then propagates.
    """
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if stderr else asyncio.subprocess.DEVNULL,
        cwd=str(cwd), env=None if env is None else dict(env), start_new_session=True)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), limit_seconds)
    except TimeoutError:
        await _kill(proc)
        raise
    except asyncio.CancelledError:
        # Reap it even if the canceller cancels again: never a process (or its transport) left behind.
        with contextlib.suppress(Exception):
            await asyncio.shield(_kill(proc))
        raise
    return Finished(proc.returncode if proc.returncode is not None else -1, out or b"")


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()
