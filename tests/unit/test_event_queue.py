"""runtime/events.EventQueue: Events sent in the background, in order, with the time they were recorded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubenode.runtime.events import EventQueue, EventRecorder

Obj = dict[str, Any]


class Recording(EventRecorder):
    """The real recorder's interface, with the API call replaced by a list (and a gate to hold it)."""

    def __init__(self) -> None:
        self.component = "test"
        self.sent: list[tuple[str, float | None]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def event(self, obj: Obj, type_: str, reason: str, message: str, *, at: float | None = None) -> None:
        await self.gate.wait()
        self.sent.append((message, at))


def job(name: str) -> Obj:
    return {"metadata": {"name": name, "uid": name}}


async def test_event_returns_before_the_event_is_sent_and_order_and_time_are_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recording()
    q = EventQueue(rec)
    await q.start()
    rec.gate.clear()  # the API server is slow
    clock = iter(range(1000, 2000))
    monkeypatch.setattr("kubenode.runtime.events.time.time", lambda: float(next(clock)))
    for i in range(5):
        await q.event(job(f"j{i}"), "Normal", "Approved", f"m{i}")
    assert rec.sent == []  # nobody waited for the API
    rec.gate.set()
    await q.stop(drain=True)
    assert rec.sent == [(f"m{i}", float(1000 + i)) for i in range(5)]  # in order, stamped when recorded


async def test_a_full_queue_drops_the_oldest() -> None:
    rec = Recording()
    q = EventQueue(rec, limit=3)
    await q.start()
    rec.gate.clear()
    await asyncio.sleep(0)
    for i in range(6):
        await q.event(job("j"), "Normal", "R", f"m{i}")
    rec.gate.set()
    await q.stop(drain=True)
    assert [m for m, _ in rec.sent] == ["m3", "m4", "m5"] and q.dropped == 3


async def test_stop_without_drain_sends_nothing_more_and_unstarted_sends_at_once() -> None:
    rec = Recording()
    q = EventQueue(rec)
    await q.event(job("a"), "Normal", "R", "direct")  # not started: sent before event() returns
    assert rec.sent == [("direct", None)]
    await q.start()
    rec.gate.clear()
    await q.event(job("b"), "Normal", "R", "queued")
    await q.stop(drain=False)
    rec.gate.set()
    assert rec.sent == [("direct", None)]
    await q.event(job("c"), "Normal", "R", "after stop")  # stopped: sent at once again
    assert rec.sent[-1] == ("after stop", None)


async def test_a_drain_is_bounded_when_the_api_never_answers() -> None:
    rec = Recording()
    q = EventQueue(rec, drain_seconds=0.2)
    await q.start()
    rec.gate.clear()
    await q.event(job("a"), "Normal", "R", "stuck")
    await q.stop(drain=True)  # returns after drain_seconds; the stuck send is cancelled
    assert rec.sent == []


async def test_an_unforeseen_failure_loses_one_event_not_the_sender() -> None:
    class Failing(Recording):
        async def event(self, obj: Obj, type_: str, reason: str, message: str, *, at: float | None = None) -> None:
            if message == "bad":
                raise ValueError("unforeseen")
            await super().event(obj, type_, reason, message, at=at)

    rec = Failing()
    q = EventQueue(rec)
    await q.start()
    for m in ("a", "bad", "b"):
        await q.event(job("j"), "Normal", "R", m)
    await q.stop(drain=True)
    assert [m for m, _ in rec.sent] == ["a", "b"]
