"""429 handling: the client retries after Retry-After; `retry` repeats whole operations.

The embedded API server cannot be made to throttle on demand, so a tiny local
aiohttp app that answers 429 stands in for that one behaviour.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from kubenode.client import NAMESPACES, ClientConfig, KubeClient, ServerError, TooManyRequests, retry

THROTTLED = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "TooManyRequests",
             "message": "slow down", "code": 429}


@pytest.fixture
async def throttling_server() -> AsyncIterator[tuple[str, list[float]]]:
    calls: list[float] = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(time.monotonic())
        if len(calls) <= 2:
            return web.json_response(THROTTLED, status=429, headers={"Retry-After": "0.1"})
        return web.json_response({"kind": "Namespace", "metadata": {"name": "default"},
                                  "ua": request.headers.get("User-Agent")})

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/default", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", calls
    finally:
        await runner.cleanup()


async def test_client_retries_429_after_retry_after(throttling_server: tuple[str, list[float]],
                                                    transport: str) -> None:
    url, calls = throttling_server
    async with KubeClient(ClientConfig(server=url, user_agent="test/1", transport=transport)) as c:
        ns = await c.get(NAMESPACES, "default")
    assert ns["ua"] == "test/1" and len(calls) == 3
    assert calls[1] - calls[0] >= 0.09 and calls[2] - calls[1] >= 0.09


async def test_client_gives_up_after_max_retries(throttling_server: tuple[str, list[float]],
                                                 transport: str) -> None:
    url, calls = throttling_server
    async with KubeClient(ClientConfig(server=url, max_retries=1, transport=transport)) as c:
        with pytest.raises(TooManyRequests) as exc:
            await c.get(NAMESPACES, "default")
    assert exc.value.retry_after == 0.1 and len(calls) == 2


async def test_retry_helper() -> None:
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ServerError(503, "ServiceUnavailable", "busy", retry_after=0.01)
        return "ok"

    assert await retry(flaky, attempts=3) == "ok"
    attempts = -10
    with pytest.raises(ServerError):
        await retry(flaky, attempts=2, base_delay=0.001)
    assert attempts == -8
