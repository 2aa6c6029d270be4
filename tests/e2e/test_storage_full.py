"""A data directory on a real tmpfs that fills up: durable or invisible, and recovery without a restart.

The server runs as a real process with its data directory on a small tmpfs; a filler file takes the
remaining space. Proven: a write that does not fit answers 507 InsufficientStorage and is never readable;
/readyz says why; once space is freed the server takes writes again by itself; after a SIGKILL and a
restart every acknowledged write is there and no refused one is.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from kubenode.apiserver.security import client_ssl_context

from .conftest import Cluster
from .tmpfs import tmpfs

pytestmark = pytest.mark.e2e

CM = "/api/v1/namespaces/default/configmaps"
BIG = "x" * (600 * 1024)


def fill(path: Path) -> None:
    """Write `path` until the file system is full."""
    chunk = b"\0" * 65536
    with path.open("wb") as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass
        with contextlib.suppress(OSError):
            os.fsync(f.fileno())


class Client:
    def __init__(self, cluster: Cluster) -> None:
        self.base = f"https://127.0.0.1:{cluster.port}"
        token = (cluster.data_dir / "pki" / "admin.token").read_text().strip()
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.ssl = client_ssl_context(cluster.data_dir / "pki" / "ca.crt")
        self.session = aiohttp.ClientSession()

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else orjson.dumps(body)
        async with self.session.request(method, self.base + path, data=data, headers=self.headers,
                                        ssl=self.ssl) as r:
            raw = await r.read()
            try:
                return r.status, orjson.loads(raw)
            except orjson.JSONDecodeError:
                return r.status, raw.decode(errors="replace")

    async def close(self) -> None:
        await self.session.close()


async def eventually(check: Any, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


async def test_a_full_disk_refuses_writes_visibly_and_recovers_by_itself(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs", "size=12m") as fs:
        cluster = Cluster(tmp_path)
        cluster.data_dir = fs / "data"
        cluster.start()
        client = Client(cluster)
        acked: set[str] = set()
        refused: set[str] = set()
        try:
            for i in range(5):
                st, body = await client.call("POST", CM, {"metadata": {"name": f"small-{i}"}, "data": {"k": "v"}})
                assert st == 201, body
                acked.add(f"small-{i}")
            fill(fs / "filler")
            for i in range(20):  # the first writes may still fit in the space SQLite's WAL already holds
                name = f"big-{i}"
                st, body = await client.call("POST", CM, {"metadata": {"name": name}, "data": {"k": BIG}})
                if st == 201:
                    acked.add(name)
                    continue
                assert st == 507, body
                assert body["reason"] == "InsufficientStorage" and "storage is full" in body["message"], body
                refused.add(name)
                break
            assert refused, "the full file system never refused a write"
            for name in refused:
                st, _ = await client.call("GET", f"{CM}/{name}")
                assert st == 404
            st, listed = await client.call("GET", CM)
            assert st == 200 and {o["metadata"]["name"] for o in listed["items"]} == acked
            st, ready = await client.call("GET", "/readyz?verbose=1")
            assert st == 500 and "storage is full" in ready, ready

            (fs / "filler").unlink()  # space comes back: no restart, no client write needed

            async def ready_again() -> bool:
                return (await client.call("GET", "/readyz"))[0] == 200

            await eventually(ready_again, 30, "/readyz ok once space was freed")
            st, body = await client.call("POST", CM, {"metadata": {"name": "after"}, "data": {"k": BIG}})
            assert st == 201, body
            acked.add("after")
        finally:
            await client.close()
            cluster.stop(sig=9)  # a crash: only what was durable may come back
        cluster.start()
        client = Client(cluster)
        try:
            st, listed = await client.call("GET", CM)
            assert st == 200
            assert {o["metadata"]["name"] for o in listed["items"]} == acked
        finally:
            await client.close()
            cluster.stop()
