"""Every acknowledged write survives a crash (SIGKILL) of the API server process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import orjson
import pytest

from kubenode.apiserver.security import client_ssl_context
from kubenode.apiserver.server import free_port

pytestmark = pytest.mark.e2e

CM = "/api/v1/namespaces/default/configmaps"


def start(data: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "kubenode.cli.main", "apiserver", "--data-dir", str(data), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


async def wait_ready(session: aiohttp.ClientSession, url: str, ssl: object, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited during start"
        try:
            async with session.get(url + "/readyz", ssl=ssl) as r:
                if r.status == 200:
                    return
        except (aiohttp.ClientError, OSError):
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("server did not become ready")


async def test_sigkill_loses_no_acknowledged_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc = start(data, port)
    url = f"https://127.0.0.1:{port}"
    acknowledged: dict[str, str] = {}
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 30
            while not (data / "pki" / "admin.token").exists() or not (data / "kubeconfig").exists():
                assert time.monotonic() < deadline and proc.poll() is None
                await asyncio.sleep(0.05)
            ssl = client_ssl_context(data / "pki" / "ca.crt")
            token = (data / "pki" / "admin.token").read_text().strip()
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            await wait_ready(session, url, ssl, proc)
            stop = asyncio.Event()
            enough = asyncio.Event()

            async def writer(w: int) -> None:
                i = 0
                while not stop.is_set():
                    name = f"w{w}-{i}"
                    body = orjson.dumps({"metadata": {"name": name}, "data": {"i": str(i)}})
                    try:
                        async with session.post(url + CM, data=body, headers=headers, ssl=ssl) as r:
                            if r.status == 201:
                                obj = orjson.loads(await r.read())
                                acknowledged[name] = obj["metadata"]["resourceVersion"]
                                if len(acknowledged) >= 300:
                                    enough.set()
                    except (aiohttp.ClientError, OSError):
                        return
                    i += 1

            tasks = [asyncio.create_task(writer(w)) for w in range(8)]
            await asyncio.wait_for(enough.wait(), 60)
            os.kill(proc.pid, signal.SIGKILL)  # crash in the middle of the write stream
            proc.wait(10)
            stop.set()
            await asyncio.gather(*tasks)
            assert len(acknowledged) >= 300

            proc = start(data, port)
            await wait_ready(session, url, ssl, proc)
            async with session.get(url + CM, headers=headers, ssl=ssl) as r:
                items = orjson.loads(await r.read())["items"]
            stored = {i["metadata"]["name"]: i["metadata"]["resourceVersion"] for i in items}
            missing = sorted(set(acknowledged) - set(stored))
            assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
            assert all(stored[n] == rv for n, rv in acknowledged.items())
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
