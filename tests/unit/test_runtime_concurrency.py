"""gather_bounded: results in order, never more than `limit` in flight, every one awaited even when some fail."""

from __future__ import annotations

import asyncio

import pytest

from kubenode.runtime.concurrency import gather_bounded


class Probe:
    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.finished: list[int] = []

    async def step(self, i: int, fail: bool = False) -> int:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            if fail:
                raise ValueError(f"step {i} failed")
            return i * 10
        finally:
            self.running -= 1
            self.finished.append(i)


@pytest.mark.parametrize(("n", "limit", "peak"), [(0, 4, 0), (1, 4, 1), (10, 4, 4), (10, 1, 1), (3, 0, 1)])
async def test_results_in_order_within_the_limit(n: int, limit: int, peak: int) -> None:
    probe = Probe()
    assert await gather_bounded([probe.step(i) for i in range(n)], limit) == [i * 10 for i in range(n)]
    assert probe.peak == peak


async def test_every_step_finishes_before_the_first_failure_is_raised() -> None:
    probe = Probe()
    steps = [probe.step(i, fail=i in (2, 5)) for i in range(8)]
    with pytest.raises(ValueError, match="step 2 failed"):
        await gather_bounded(steps, 3)
    assert sorted(probe.finished) == list(range(8))
    assert probe.running == 0
