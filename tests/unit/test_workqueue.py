"""Work queue semantics (client-go's): dedup, dirty/processing, delays, backoff, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from kubenode.client.ratelimit import TokenBucket
from kubenode.runtime.workqueue import (
    BucketRateLimiter,
    ItemExponentialRateLimiter,
    MaxOfRateLimiter,
    WorkQueue,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def drain_ready(q: WorkQueue[str]) -> list[str]:
    """Take every ready key without awaiting (get() returns at once when keys are queued)."""
    out = []
    while len(q):
        key = q._queue[0]
        out.append(key)
        q._queue.popleft()
        q._processing.add(key)
        q._dirty.discard(key)
    return out


# Each step: ("add", key) | ("get", expected) | ("done", key); then the ready keys at the end.
SCENARIOS = [
    ("duplicates collapse", [("add", "a"), ("add", "a"), ("add", "b")], ["a", "b"]),
    ("order is FIFO", [("add", "c"), ("add", "a"), ("add", "b")], ["c", "a", "b"]),
    ("in-progress key is not handed out again", [("add", "a"), ("get", "a"), ("add", "a")], []),
    ("re-added in-progress key returns after done", [("add", "a"), ("get", "a"), ("add", "a"), ("add", "a"),
                                                      ("done", "a")], ["a"]),
    ("done without re-add does not requeue", [("add", "a"), ("get", "a"), ("done", "a")], []),
    ("other keys flow while one is in progress", [("add", "a"), ("get", "a"), ("add", "b"), ("add", "a")], ["b"]),
]


@pytest.mark.parametrize(("steps", "ready"), [(s, r) for _, s, r in SCENARIOS], ids=[n for n, _, _ in SCENARIOS])
async def test_queue_scenarios(steps: list[tuple[str, str]], ready: list[str]) -> None:
    q: WorkQueue[str] = WorkQueue("t")
    for op, key in steps:
        if op == "add":
            q.add(key)
        elif op == "get":
            assert await asyncio.wait_for(q.get(), 1) == key
        else:
            q.done(key)
    assert drain_ready(q) == ready


async def test_len_and_depth_callback() -> None:
    depths: list[int] = []
    q: WorkQueue[str] = WorkQueue("t", on_depth=depths.append)
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    await q.get()
    assert len(q) == 1
    assert depths == [1, 2, 1]


async def test_get_waits_for_add() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 1) == "x"


async def test_a_key_is_never_processed_by_two_workers() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    active: set[str] = set()
    seen: list[str] = []
    overlap = False
    idle = asyncio.Event()

    async def worker() -> None:
        nonlocal overlap
        while (key := await q.get()) is not None:
            if key in active:
                overlap = True
            active.add(key)
            seen.append(key)
            await asyncio.sleep(0.005)
            if len(seen) < 20:
                q.add(key)  # re-add while in progress: must wait for done()
            active.discard(key)
            q.done(key)
            if len(seen) >= 20 and not q.processing and not len(q):
                idle.set()

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    for k in ("a", "b"):
        q.add(k)
    await asyncio.wait_for(idle.wait(), 5)
    q.shutdown()
    await asyncio.gather(*workers)
    assert not overlap
    assert set(seen) == {"a", "b"}


async def test_shutdown_wakes_waiters_and_drops_keys() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(0)
    q.add_after("later", 10)
    q.shutdown()
    assert await asyncio.wait_for(asyncio.gather(*getters), 1) == [None, None, None]
    q.add("x")
    assert len(q) == 0
    assert await q.get() is None


async def test_cancelled_getter_passes_wakeup_on() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("x")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it can take the key
    assert await asyncio.wait_for(second, 1) == "x"
    assert first.cancelled()


async def test_add_after_earliest_wins_and_fires() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    q.add_after("a", 5.0)
    q.add_after("a", 0.02)
    q.add_after("a", 3.0)  # later than pending: ignored
    assert len(q) == 0
    assert await asyncio.wait_for(q.get(), 1) == "a"
    assert not q._delayed


async def test_add_after_non_positive_adds_now() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    q.add_after("a", 0)
    assert len(q) == 1


async def test_add_rate_limited_uses_backoff_and_forget_resets() -> None:
    q: WorkQueue[str] = WorkQueue("t", rate_limiter=ItemExponentialRateLimiter(0.01, 1.0))
    q.add_rate_limited("a")
    q.add_rate_limited("a")
    assert q.num_requeues("a") == 2
    q.forget("a")
    assert q.num_requeues("a") == 0
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.shutdown()


@pytest.mark.parametrize(("base", "cap", "failures", "expected"), [
    (0.005, 1000.0, 1, [0.005]),
    (0.005, 1000.0, 4, [0.005, 0.01, 0.02, 0.04]),
    (1.0, 5.0, 5, [1.0, 2.0, 4.0, 5.0, 5.0]),
    (1.0, 10.0, 200, [1.0, 2.0, 4.0, 8.0] + [10.0] * 196),
])
def test_item_exponential(base: float, cap: float, failures: int, expected: list[float]) -> None:
    rl = ItemExponentialRateLimiter(base, cap)
    assert [rl.when("x") for _ in range(failures)] == pytest.approx(expected)
    assert rl.when("other") == base  # per item
    rl.forget("x")
    assert rl.when("x") == base


@pytest.mark.parametrize(("qps", "burst", "advance", "expected"), [
    (10.0, 2, 0.0, [0.0, 0.0, 0.1, 0.2]),     # burst, then one token per 1/qps
    (10.0, 2, 1.0, [0.0, 0.0, 0.0, 0.0]),     # time refills (capped at burst) between calls
    (1.0, 1, 0.5, [0.0, 0.5, 1.0, 1.5]),      # a half second elapses between reservations
    (0.0, 0, 0.0, [0.0, 0.0, 0.0, 0.0]),      # qps <= 0 means unlimited
])
def test_bucket(qps: float, burst: int, advance: float, expected: list[float]) -> None:
    clock = FakeClock()
    rl = BucketRateLimiter(qps, burst, clock=clock) if qps > 0 else BucketRateLimiter(0.0, 1, clock=clock)
    out = []
    for _ in expected:
        out.append(rl.when("x"))
        clock.now += advance
    assert out == pytest.approx(expected)


def test_max_of_takes_the_longest() -> None:
    clock = FakeClock()
    rl = MaxOfRateLimiter(ItemExponentialRateLimiter(0.01, 100), BucketRateLimiter(1.0, 1, clock=clock))
    assert rl.when("a") == 0.01   # bucket has a token
    assert rl.when("b") == 1.0    # bucket empty: 1 s
    assert rl.num_requeues("a") == 1
    rl.forget("a")
    assert rl.num_requeues("a") == 0


def test_token_bucket_try_acquire() -> None:
    clock = FakeClock()
    b = TokenBucket(2.0, 2, clock=clock)
    assert [b.try_acquire() for _ in range(3)] == [True, True, False]
    clock.now += 0.5
    assert b.try_acquire() is True
    assert b.try_acquire() is False
