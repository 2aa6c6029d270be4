"""A rate-limited work queue with client-go's semantics.

* Duplicate keys collapse: a key waiting in the queue is stored once.
* A key being processed is never handed to a second worker. If it is added
  again meanwhile it is marked *dirty* and queued once :meth:`WorkQueue.done`
  is called, so the latest state is always reconciled once more.
* :meth:`WorkQueue.add_after` delays a key (the earliest pending time wins);
  :meth:`WorkQueue.add_rate_limited` delays it by the rate limiter — per-item
  exponential backoff combined with an overall token bucket — until
  :meth:`WorkQueue.forget` resets its backoff.
* :meth:`WorkQueue.shutdown` wakes every waiting worker; keys already handed
  out may still be marked done, queued ones are dropped.

Delays use ``loop.call_later`` rather than tasks, so a queue never owns a task.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from kubenode.client.ratelimit import TokenBucket

K = TypeVar("K", bound=Hashable)


class RateLimiter(Protocol):
    """Decides how long an item waits before it is retried."""

    def when(self, item: Hashable) -> float:
        """Seconds to wait before ``item`` is retried; counts one more failure."""
        ...

    def forget(self, item: Hashable) -> None:
        """Reset ``item``'s failure history."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many times ``item`` was rate-limited since it was last forgotten."""
        ...


class ItemExponentialRateLimiter:
    """``base * 2**failures`` seconds per item, capped at ``max_delay``."""

    def __init__(self, base: float = 0.005, max_delay: float = 1000.0) -> None:
        self.base = base
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        """Exponential delay for ``item``."""
        n = self._failures.get(item, 0)
        self._failures[item] = n + 1
        if n > 64:  # 2**n would overflow a float long before; we are at the cap anyway
            return self.max_delay
        return float(min(self.max_delay, self.base * 2**n))

    def forget(self, item: Hashable) -> None:
        """Reset ``item``'s backoff."""
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        """Failures counted for ``item``."""
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """An overall token bucket: a burst of failures across all items is spread out at ``qps``."""

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Callable[[], float] | None = None) -> None:
        self.bucket = TokenBucket(qps, burst, clock=clock) if clock else TokenBucket(qps, burst)

    def when(self, item: Hashable) -> float:
        """The wait for the next token."""
        return self.bucket.reserve()

    def forget(self, item: Hashable) -> None:
        """Nothing per item to forget."""

    def num_requeues(self, item: Hashable) -> int:
        """Not tracked per item."""
        return 0


class MaxOfRateLimiter:
    """The longest delay of several limiters (client-go's default controller limiter is one)."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("at least one rate limiter is needed")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        """Ask every limiter (each counts the failure) and take the longest wait."""
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        """Forget ``item`` everywhere."""
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        """The highest count among the limiters."""
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_rate_limiter() -> MaxOfRateLimiter:
    """5 ms doubling to 1000 s per item, and at most 10 retries/s (burst 100) overall — client-go's defaults."""
    return MaxOfRateLimiter(ItemExponentialRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 100))


class WorkQueue(Generic[K]):
    """A deduplicating, rate-limited queue of keys for a pool of async workers."""

    def __init__(self, name: str = "", rate_limiter: RateLimiter | None = None,
                 on_depth: Callable[[int], None] | None = None) -> None:
        """``on_depth`` is called with the number of ready keys whenever it changes (for a gauge)."""
        self.name = name
        self.rate_limiter: RateLimiter = rate_limiter if rate_limiter is not None else default_rate_limiter()
        self._on_depth = on_depth
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._delayed: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self._shutting_down = False

    def __len__(self) -> int:
        """Keys ready to be handed out (not the ones waiting for a delay or in progress)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        """Whether :meth:`shutdown` was called."""
        return self._shutting_down

    @property
    def processing(self) -> frozenset[K]:
        """Keys handed to a worker and not yet done."""
        return frozenset(self._processing)

    def add(self, key: K) -> None:
        """Queue ``key`` unless it is already waiting; if it is in progress, queue it again after ``done``."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._depth_changed()
        self._wake_one()

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds; an earlier pending time for the same key wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        ready_at = loop.time() + delay
        pending = self._delayed.get(key)
        if pending is not None:
            if pending[0] <= ready_at:
                return
            pending[1].cancel()
        handle = loop.call_at(ready_at, self._fire, key)
        self._delayed[key] = (ready_at, handle)

    def _fire(self, key: K) -> None:
        self._delayed.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: K) -> None:
        """Queue ``key`` after the rate limiter's delay (backoff grows until :meth:`forget`)."""
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: K) -> None:
        """``key`` succeeded: reset its backoff."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """Rate-limited retries of ``key`` since it was last forgotten."""
        return self.rate_limiter.num_requeues(key)

    async def get(self) -> K | None:
        """Wait for a key and mark it in progress; ``None`` once the queue is shut down."""
        while not self._queue and not self._shutting_down:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut in self._waiters:
                    self._waiters.remove(fut)
                elif fut.done() and not fut.cancelled():
                    # We were woken for a key we will not take: pass the wake-up on.
                    self._wake_one()
                raise
        if self._shutting_down:
            return None
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        self._depth_changed()
        return key

    def done(self, key: K) -> None:
        """A worker finished ``key``; re-queue it if it was added while in progress."""
        self._processing.discard(key)
        if key in self._dirty and not self._shutting_down:
            self._queue.append(key)
            self._depth_changed()
            self._wake_one()

    def shutdown(self) -> None:
        """Stop handing out keys: waiting and future :meth:`get` calls return ``None``; drop pending delays."""
        self._shutting_down = True
        for _, handle in self._delayed.values():
            handle.cancel()
        self._delayed.clear()
        self._queue.clear()
        self._dirty.clear()
        self._depth_changed()
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    def _wake_one(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _depth_changed(self) -> None:
        if self._on_depth is not None:
            self._on_depth(len(self._queue))
