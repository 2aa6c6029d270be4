"""Kubernetes Events for decisions, with client-side aggregation.

Every decision an operator takes lands in an Event (DESIGN.md principle 4).
Repeats of the same (object, reason, message) within ten minutes bump the
existing Event's count instead of creating a new object, as client-go's
recorder does, so a flapping condition does not flood the API server.
Event failures are logged, never raised: an Event is a report, not a step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

from kubenode.apimachinery.tasks import cancel_and_wait
from kubenode.apimachinery.timefmt import format_micro, format_time
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.resources import EVENTS

log = logging.getLogger("kubenode.events")
Obj = dict[str, Any]

AGGREGATE_SECONDS = 600.0
MAX_TRACKED = 4096


class EventRecorder:
    """Creates (and aggregates) core/v1 Events for objects."""

    def __init__(self, client: KubeClient, component: str, host: str = "") -> None:
        self.client = client
        self.component = component
        self.host = host
        self._seen: dict[tuple[str, str, str], tuple[str, str, int, float]] = {}

    async def event(self, obj: Obj, type_: str, reason: str, message: str, *, at: float | None = None) -> None:
        """Record one Event about `obj` (type Normal or Warning) that happened at Unix time `at` (now)."""
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        key = (str(meta.get("uid", "")), reason, message)
        now = time.monotonic()
        wall = time.time() if at is None else at
        stamp = format_time(wall)
        seen = self._seen.get(key)
        try:
            if seen is not None and now - seen[3] < AGGREGATE_SECONDS:
                name, ns, count, _ = seen
                await self.client.patch(EVENTS, name, {"count": count + 1, "lastTimestamp": stamp}, ns)
                self._seen[key] = (name, ns, count + 1, seen[3])
                return
            body = {
                "apiVersion": "v1", "kind": "Event",
                # client-go's naming: object name + "." + nanoseconds in hex
                "metadata": {"name": f"{meta.get('name', 'object')}.{time.time_ns():x}", "namespace": namespace},
                "involvedObject": {"apiVersion": obj.get("apiVersion", ""), "kind": obj.get("kind", ""),
                                   "name": meta.get("name", ""), "namespace": meta.get("namespace", ""),
                                   "uid": meta.get("uid", ""), "resourceVersion": meta.get("resourceVersion", "")},
                "reason": reason, "message": message[:1024], "type": type_, "count": 1,
                "firstTimestamp": stamp, "lastTimestamp": stamp, "eventTime": format_micro(wall),
                "source": {"component": self.component, "host": self.host},
                "reportingComponent": self.component, "reportingInstance": self.host or self.component,
                "action": reason,
            }
            created = await self.client.create(EVENTS, body, namespace)
            if len(self._seen) >= MAX_TRACKED:
                self._seen.clear()
            self._seen[key] = (created["metadata"]["name"], namespace, 1, now)
        except errors.NotFound:
            self._seen.pop(key, None)  # the aggregated Event is gone: the next one starts afresh
        except (errors.ApiError, OSError) as exc:
            log.warning("could not record event %s for %s: %s", reason, meta.get("name"), exc)


class EventQueue:
    """Sends a recorder's Events in the background, in order, so that the status write a controller makes
    next does not wait behind the report of the one before (as client-go's event broadcaster does).

    :meth:`event` returns at once (the Event keeps the time it was recorded); a Runnable of the manager,
    added beside the controllers, sends them one at a time and, when stopped with `drain`, sends what is
    left (for at most `drain_seconds`) before it returns, so a clean stop loses no Event. At most `limit`
    Events wait: beyond that the oldest are dropped and counted in the log (an API server that cannot
    take Events must not make the operator grow without bound).
    """

    def __init__(self, recorder: EventRecorder, *, limit: int = 10_000, drain_seconds: float = 10.0) -> None:
        self.recorder = recorder
        self.limit = limit
        self.drain_seconds = drain_seconds
        self._pending: deque[tuple[Obj, str, str, str, float]] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    async def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        """Queue one Event about `obj`; without a running sender (not started, or stopped) it is sent now."""
        if self._task is None:
            await self.recorder.event(obj, type_, reason, message)
            return
        if len(self._pending) >= self.limit:
            self._pending.popleft()
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                log.warning("%d Events dropped: the API server takes them slower than they come", self.dropped)
        self._pending.append((obj, type_, reason, message, time.time()))
        self._idle.clear()
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"events-{self.recorder.component}")

    async def stop(self, *, drain: bool = True) -> None:
        if drain and self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.drain_seconds)
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._pending:
            log.warning("%d Events not sent at stop", len(self._pending))
            self._pending.clear()
            self._idle.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                obj, type_, reason, message, at = self._pending.popleft()
                try:
                    await self.recorder.event(obj, type_, reason, message, at=at)
                except Exception:  # an unforeseen failure loses this Event, never the sender
                    log.exception("could not record event %s", reason)
            self._idle.set()
