"""Suite-wide fixtures: every async test must leave no asyncio task behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest


@pytest.fixture(autouse=True)
async def _no_leaked_tasks() -> AsyncIterator[None]:
    before = set(asyncio.all_tasks())
    yield
    # Give cancelled tasks one turn to finish before judging.
    for _ in range(20):
        leaked = {t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()}
        if not leaked:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"test leaked asyncio tasks: {sorted(t.get_name() for t in leaked)}")


@pytest.fixture(params=["aiohttp", "h11"])
def transport(request: pytest.FixtureRequest) -> str:
    """Each KubeClient HTTP transport in turn: aiohttp (the default) and h11 (the agent's light one)."""
    return str(request.param)
