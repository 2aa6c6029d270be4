"""Running a reconcile's independent API calls side by side, a bounded number at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def gather_bounded(aws: Iterable[Awaitable[T]], limit: int) -> list[T]:
    """Await every awaitable, at most `limit` at once; their results in order.

    Unlike `asyncio.gather`, every one is awaited to its end even when some
    fail (no call is left running behind the caller's back); then the first
    exception, if any, is raised. Meant for the independent writes one
    reconcile plans for many objects (one job per node), which awaited one
    after the other make a fleet-wide reconcile as slow as the sum of the
    round trips.
    """
    sem = asyncio.Semaphore(max(1, limit))

    async def one(aw: Awaitable[T]) -> T:
        async with sem:
            return await aw

    results = await asyncio.gather(*(one(aw) for aw in aws), return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results  # type: ignore[return-value]
