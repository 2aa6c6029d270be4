"""Retrying calls that the server asked us to repeat later.

The client already retries 429 on every request; this helper is for callers
whose *operation* should be repeated — an eviction blocked by a disruption
budget, a transient 5xx — honouring the server's Retry-After when it sent one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .errors import ApiError, ServerError, TooManyRequests

T = TypeVar("T")
log = logging.getLogger(__name__)


async def retry(call: Callable[[], Awaitable[T]], *, attempts: int = 5, base_delay: float = 0.5,
                max_delay: float = 30.0,
                retry_on: tuple[type[ApiError], ...] = (TooManyRequests, ServerError)) -> T:
    """Await ``call()`` until it succeeds, retrying errors in ``retry_on`` at most ``attempts`` times in all.

    The wait is the error's Retry-After if present, else exponential
    (``base_delay * 2**n``, capped at ``max_delay``). The last error is re-raised.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for n in range(attempts):
        try:
            return await call()
        except retry_on as err:
            if n == attempts - 1:
                raise
            delay = err.retry_after if err.retry_after is not None else min(max_delay, base_delay * 2**n)
            log.debug("retrying after %s in %.2fs", err, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
