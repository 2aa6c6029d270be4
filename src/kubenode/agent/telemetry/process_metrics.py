"""The agent's own `process_*` metrics, read from /proc/self as prometheus_client's ProcessCollector does.

Same names, help texts, types and sources (`/proc/self/stat`, `limits`, `fd`,
`btime` from `/proc/stat`), written through :mod:`.exposition` (integers
exactly). Why not prometheus_client: importing it loads its HTTP exposition
stack (http.server, wsgiref, urllib.request), ~5 MiB of an agent's RSS for
six numbers (issue 15, a light agent).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from .exposition import Family

__all__ = ["process_families"]

_TICKS = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
_PAGESIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_boot_time: float | None = None


def _btime(proc: Path) -> float:
    global _boot_time
    if _boot_time is None:
        with open(proc / "stat", "rb") as f:
            _boot_time = next((float(line.split()[1]) for line in f if line.startswith(b"btime ")), 0.0)
    return _boot_time


def process_families(proc: Path = Path("/proc"), pid: str = "self") -> Iterator[Family]:
    """The six process families of one scrape (none when /proc cannot be read)."""
    base = proc / pid
    try:
        btime = _btime(proc)
        with open(base / "stat", "rb") as f:
            parts = f.read().split(b")")[-1].split()
    except OSError:
        return
    if not btime:
        return
    yield _one("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", int(parts[20]))
    yield _one("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", int(parts[21]) * _PAGESIZE)
    yield _one("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
               int(parts[19]) / _TICKS + btime)
    yield _one("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
               (int(parts[11]) + int(parts[12])) / _TICKS)
    try:
        with open(base / "limits", "rb") as f:
            max_fds = next((int(line.split()[3]) for line in f if line.startswith(b"Max open file")), None)
        open_fds = len(os.listdir(base / "fd"))
    except (OSError, ValueError):
        return
    yield _one("process_open_fds", "gauge", "Number of open file descriptors.", open_fds)
    if max_fds is not None:
        yield _one("process_max_fds", "gauge", "Maximum number of open file descriptors.", max_fds)


def _one(name: str, type_: str, help_: str, value: float | int) -> Family:
    family = Family(name, type_, help_)
    family.add(value)
    return family
