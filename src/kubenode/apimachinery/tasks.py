"""Stopping background tasks: cancel, then wait until each has really ended.

Every long-running loop of ours (informers, leader election, the server's controllers, the agent's
detectors, the hollow nodes) is an asyncio task that its owner cancels on stop and must then await, so
that no task outlives its owner and an error it died of is not lost. The usual spelling,
``task.cancel(); with suppress(CancelledError): await task``, has a trap: when the *caller* is cancelled
while it waits, the suppress swallows the caller's own cancellation and it carries on. This helper waits
with :func:`asyncio.wait`, which lets the caller's cancellation through and never raises the tasks'
cancellations.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Future[Any] | None, raise_errors: bool = True) -> None:
    """Cancel every task given (``None`` entries and finished tasks are fine) and wait until all have ended.

    A task that ended with an exception other than its cancellation has it raised here (the first such in
    argument order) once all have ended, unless `raise_errors` is false: then it is retrieved and dropped
    (for tasks whose own code reports their failures).
    """
    live = [t for t in tasks if t is not None]
    for t in live:
        t.cancel()
    if not live:
        return
    await asyncio.wait(live)
    first: BaseException | None = None
    for t in live:
        if not t.cancelled():
            err = t.exception()  # retrieved: asyncio does not log it as never retrieved
            if first is None and err is not None:
                first = err
    if first is not None and raise_errors:
        raise first
