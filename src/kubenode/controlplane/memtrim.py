"""Give freed heap back to the system after large reconcile bursts (glibc's `malloc_trim`).

A rollout or a re-list at fleet scale allocates and frees hundreds of MiB in
a few minutes (watch events decoded, objects compacted, old versions
dropped, status text re-rendered). CPython frees most of it, but glibc's
allocator keeps freed memory in its free lists and only returns the top of
the heap to the kernel, so the operator's RSS stays at its peak long after
the burst. `malloc_trim(0)` returns every free page of every arena
(`madvise(MADV_DONTNEED)`; the address space stays, reuse is free).

The trimmer checks the RSS every `interval` seconds and trims when it grew by
more than `min_growth` bytes since the last trim: an idle operator never
trims, a burst is followed by one trim. Each trim is logged at debug level
with what it returned (docs/scale.md has the figures). Without glibc (musl,
macOS) it does nothing.

For profiling, `KUBENODE_TRACEMALLOC_DUMP=FILE` with `PYTHONTRACEMALLOC=1` makes
SIGUSR2 write tracemalloc's live allocations grouped by file and line to FILE
(bench/scale.py --tracemalloc uses it).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import signal
import time
import tracemalloc
from collections.abc import Callable

from kubenode.apimachinery.tasks import cancel_and_wait

log = logging.getLogger(__name__)

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _load_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        fn = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


def rss_bytes() -> int:
    """This process's resident set size (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


class MallocTrimmer:
    """A Runnable that calls `malloc_trim(0)` after the RSS grew (see the module docstring)."""

    def __init__(self, interval: float = 30.0, min_growth: int = 32 * 2**20, *,
                 trim: Callable[[int], int] | None = None, rss: Callable[[], int] = rss_bytes) -> None:
        self.interval = interval
        self.min_growth = min_growth
        self._trim = trim if trim is not None else _load_trim()
        self._rss = rss
        self._baseline = 0
        self.trims = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        """Whether this platform has malloc_trim."""
        return self._trim is not None

    def check(self) -> bool:
        """Trim if the RSS grew by `min_growth` since the last trim; return whether it trimmed."""
        if self._trim is None:
            return False
        before = self._rss()
        if before - self._baseline < self.min_growth:
            # Follow a shrinking RSS down, so that the next burst is measured from there.
            self._baseline = min(self._baseline, before) if self._baseline else before
            return False
        t0 = time.perf_counter()
        self._trim(0)
        self._baseline = self._rss()
        self.trims += 1
        log.debug("malloc_trim: RSS %d -> %d MiB in %.1f ms", before >> 20, self._baseline >> 20,
                  1000 * (time.perf_counter() - t0))
        return True

    async def start(self) -> None:
        dump = os.environ.get("KUBENODE_TRACEMALLOC_DUMP")
        if dump and tracemalloc.is_tracing() and hasattr(signal, "SIGUSR2"):
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, write_tracemalloc, dump)
        if self._task is None and self._trim is not None:
            self._baseline = self._rss()
            self._task = asyncio.create_task(self._loop(), name="malloc-trim")

    async def stop(self, *, drain: bool = True) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.check()


def write_tracemalloc(path: str, top: int = 60) -> None:
    """Live allocations by file and line (then by file) into `path`."""
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    with open(f"{path}.tmp", "w", encoding="utf-8") as f:
        total = sum(s.size for s in snap.statistics("filename"))
        f.write(f"traced {total / 2**20:.1f} MiB, RSS {rss_bytes() / 2**20:.1f} MiB\n\n")
        for kind in ("lineno", "filename"):
            for stat in snap.statistics(kind)[:top]:
                f.write(f"{stat}\n")
            f.write("\n")
    os.replace(f"{path}.tmp", path)  # whole or not at all
