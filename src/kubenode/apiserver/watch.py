"""Watch fan-out: per-resource event logs that many watchers read with cursors.

Each resource (`group/plural`) keeps a bounded log of committed changes. A
watcher holds an index into its resource's log and, when woken, walks the new
entries, filters them and writes them out; nothing is copied per watcher, and
a serialized event is shared by every plain-JSON watcher that sends it.

History is bounded: asking for a resourceVersion older than what the log
still holds answers `410 Expired` (clients then re-list), exactly as etcd
compaction does for a real API server. After a restart the logs are empty, so
any older resourceVersion is expired.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .storage import Change, resource_of


@dataclass(slots=True)
class ResourceLog:
    """The retained changes of one resource."""

    changes: list[Change] = field(default_factory=list)
    #: Number of changes trimmed from the front (absolute index of changes[0]).
    offset: int = 0
    #: Every resourceVersion <= this may have had changes we no longer hold.
    compacted_rv: int = 0


class Expired(Exception):
    """The requested resourceVersion is older than the retained history."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")


class WatchHub:
    """Publishes committed changes and lets watchers wait for them."""

    def __init__(self, start_rv: int, max_per_resource: int = 50_000) -> None:
        self._logs: dict[str, ResourceLog] = {}
        self._start_rv = start_rv
        self._max = max_per_resource
        self._wakeup: asyncio.Future[None] | None = None
        self.published_rv = start_rv
        self.closed = False

    def log(self, resource: str) -> ResourceLog:
        """The log of `resource`, created on first use with nothing older than the start."""
        log = self._logs.get(resource)
        if log is None:
            log = self._logs[resource] = ResourceLog(compacted_rv=self._start_rv)
        return log

    def publish(self, changes: list[Change]) -> None:
        """Append a committed batch (called by the store in resourceVersion order)."""
        for c in changes:
            log = self.log(resource_of(c.key))
            log.changes.append(c)
            if len(log.changes) > self._max:
                # Trim half at once so trimming is amortised O(1) per change.
                cut = len(log.changes) // 2
                log.compacted_rv = log.changes[cut - 1].rv
                del log.changes[:cut]
                log.offset += cut
        if changes:
            self.published_rv = changes[-1].rv
        self._wake()

    def _wake(self) -> None:
        fut, self._wakeup = self._wakeup, None
        if fut is not None and not fut.done():
            fut.set_result(None)

    def close(self) -> None:
        """Wake every watcher so it can notice the server is stopping."""
        self.closed = True
        self._wake()

    def next_batch(self) -> asyncio.Future[None]:
        """A future done at the next published batch (or close); shared, never cancel it."""
        if self._wakeup is None:
            self._wakeup = asyncio.get_running_loop().create_future()
            if self.closed:
                self._wakeup.set_result(None)
        return self._wakeup

    async def wait(self) -> None:
        """Wait for the next published batch (or close)."""
        if self.closed:
            return
        if self._wakeup is None:
            self._wakeup = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._wakeup)

    def cursor(self, resource: str, after_rv: int) -> int:
        """Absolute index of the first change of `resource` newer than `after_rv`.

        Raises `Expired` when changes after `after_rv` may already be trimmed.
        """
        log = self.log(resource)
        if after_rv < log.compacted_rv:
            raise Expired(after_rv, log.compacted_rv + 1)
        changes = log.changes
        lo, hi = 0, len(changes)
        while lo < hi:  # bisect on rv
            mid = (lo + hi) // 2
            if changes[mid].rv <= after_rv:
                lo = mid + 1
            else:
                hi = mid
        return log.offset + lo

    def read(self, resource: str, index: int) -> tuple[list[Change], int]:
        """Changes of `resource` from absolute `index` on, and the next index.

        Raises `Expired` when the watcher fell so far behind that its
        position was trimmed.
        """
        log = self.log(resource)
        if index < log.offset:
            raise Expired(0, log.compacted_rv + 1)
        rel = index - log.offset
        out = log.changes[rel:]
        return out, index + len(out)
