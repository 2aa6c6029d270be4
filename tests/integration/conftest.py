"""Integration fixtures: the real embedded API server, in-process, on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubenode.apiserver.server import RunningServer, ServerConfig, start_server

from .kube import Kube


@pytest.fixture
def server_config(tmp_path: Path) -> ServerConfig:
    """How `server` is configured; a test module that needs another setting overrides this fixture."""
    return ServerConfig(data_dir=tmp_path / "data", port=0, node_grace_seconds=2.0, node_check_interval=0.2,
                        bookmark_interval=0.3)


@pytest.fixture
async def server(server_config: ServerConfig) -> AsyncIterator[RunningServer]:
    srv = await start_server(server_config)
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def kube(server: RunningServer) -> AsyncIterator[Kube]:
    k = Kube(server)
    try:
        yield k
    finally:
        await k.close()
