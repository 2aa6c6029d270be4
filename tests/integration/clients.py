"""What the KubeClient integration tests share: a client config for a transport, and a watch's first events.

The `transport` fixture itself (aiohttp, h11) is suite-wide, in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncGenerator
from pathlib import Path

from kubenode.client import ClientConfig, WatchEvent, load_config


def config_for(kubeconfig: Path, transport: str) -> ClientConfig:
    """The client configuration of `kubeconfig`, speaking HTTP with `transport`."""
    return dataclasses.replace(load_config(kubeconfig), transport=transport)


async def first_events(stream: AsyncGenerator[WatchEvent, None], count: int) -> list[WatchEvent]:
    """The first `count` events of a watch; the stream is closed at once after them (or when it ends)."""
    events: list[WatchEvent] = []
    async with contextlib.aclosing(stream):
        async for ev in stream:
            events.append(ev)
            if len(events) == count:
                break
    return events
