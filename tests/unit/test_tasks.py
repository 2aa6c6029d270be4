"""apimachinery/tasks.cancel_and_wait: every task ends, errors are not lost, the caller's cancellation is kept."""

from __future__ import annotations

import asyncio

import pytest

from kubenode.apimachinery.tasks import cancel_and_wait


async def forever() -> None:
    await asyncio.Event().wait()


async def stubborn(cleaned: list[str]) -> None:
    """Takes a few loop turns to clean up after its cancellation."""
    try:
        await asyncio.Event().wait()
    finally:
        for _ in range(3):
            await asyncio.sleep(0)
        cleaned.append("done")


async def fails_on_cancel() -> None:
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        raise RuntimeError("cleanup failed") from None


async def failed_already() -> None:
    raise ValueError("boom")


@pytest.mark.parametrize(("make", "raise_errors", "error"), [
    ([forever], True, None),
    ([forever, forever, forever], True, None),
    ([fails_on_cancel], True, RuntimeError),
    ([fails_on_cancel], False, None),
    ([forever, failed_already], True, ValueError),
    ([failed_already, fails_on_cancel], True, ValueError),  # the first in argument order
    ([failed_already], False, None),
])
async def test_every_task_ends_and_an_error_is_raised_or_dropped(
        make: list, raise_errors: bool, error: type[BaseException] | None) -> None:
    tasks = [asyncio.create_task(f()) for f in make]
    await asyncio.sleep(0)
    if error is None:
        await cancel_and_wait(*tasks, raise_errors=raise_errors)
    else:
        with pytest.raises(error):
            await cancel_and_wait(*tasks, raise_errors=raise_errors)
    assert all(t.done() for t in tasks)


async def test_none_nothing_and_finished_tasks_are_fine() -> None:
    await cancel_and_wait()
    await cancel_and_wait(None, None)
    done = asyncio.create_task(asyncio.sleep(0))
    await done
    await cancel_and_wait(done, None)


async def test_it_waits_for_the_cleanup_of_a_cancelled_task() -> None:
    cleaned: list[str] = []
    task = asyncio.create_task(stubborn(cleaned))
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert cleaned == ["done"] and task.cancelled()


async def test_the_callers_own_cancellation_is_not_swallowed() -> None:
    cleaned: list[str] = []
    inner = asyncio.create_task(stubborn(cleaned))
    after: list[str] = []

    async def stopper() -> None:
        await cancel_and_wait(inner)
        after.append("carried on")

    outer = asyncio.create_task(stopper())
    await asyncio.sleep(0)  # outer is waiting for inner's cleanup
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert after == []  # suppress(CancelledError) around `await inner` would have carried on
    await asyncio.wait([inner])  # already cancelled by the helper: only its cleanup was left
    assert cleaned == ["done"] and inner.cancelled()
