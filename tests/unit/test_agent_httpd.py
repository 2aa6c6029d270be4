"""The agent's HTTP endpoint on h11 (telemetry/httpd.py): the answers aiohttp.web gave, byte for byte where it
matters — content types, 404 and 405, HEAD, keep-alive, malformed requests — and the process_* families that
replaced prometheus_client's ProcessCollector. The access decision is a fixed stand-in here; the real one (a
SelfSubjectAccessReview against the embedded server) is tests/integration/test_agent_telemetry.py's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from kubenode.agent.telemetry import AgentMetrics, LogRing, TelemetryServer
from kubenode.agent.telemetry.access import AccessDecision
from kubenode.agent.telemetry.exposition import render
from kubenode.agent.telemetry.process_metrics import process_families
from kubenode.agent.telemetry.server import CONTENT_TYPE


class Allow:
    def __init__(self, status: int) -> None:
        self.status = status
        self.seen: list[str | None] = []

    async def check(self, authorization: str | None) -> AccessDecision:
        self.seen.append(authorization)
        return AccessDecision(self.status, "allowed" if self.status == 200 else "nope")


@contextlib.asynccontextmanager
async def serving(status: int = 200) -> AsyncIterator[tuple[TelemetryServer, Allow]]:
    access = Allow(status)
    ring = LogRing()
    t = TelemetryServer(AgentMetrics(machine="m", node="m", version="0", mode="local"), [], ring, access,
                        node_name="m")
    stop = asyncio.Event()
    task = asyncio.create_task(t.run(stop))
    try:
        yield t, access
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def exchange(port: int, raw: bytes, answers: int = 1) -> list[tuple[int, dict[str, str], bytes]]:
    """Send raw request bytes on one connection; read ``answers`` responses (Content-Length framed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = []
    try:
        writer.write(raw)
        await writer.drain()
        for _ in range(answers):
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(head[0].split()[1])
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0"))) \
                if not raw.startswith(b"HEAD") else b""
            out.append((status, headers, body))
    finally:
        writer.close()
    return out


def get(path: str, *extra: str) -> bytes:
    return ("\r\n".join([f"GET {path} HTTP/1.1", "Host: x", *extra]) + "\r\n\r\n").encode()


async def test_routes_content_types_and_keep_alive() -> None:
    async with serving() as (t, access):
        await exchange(t.port, get("/healthz"))  # serving, the log ring attached
        logging.getLogger("kubenode.agent").warning("hello from the ring")
        answers = await exchange(t.port, get("/metrics") + get("/healthz") + get("/logs?lines=1&format=json",
                                                                                   "Authorization: Bearer tok"),
                                 answers=3)
    (m_status, m_headers, m_body), (h_status, h_headers, h_body), (l_status, l_headers, l_body) = answers
    assert m_status == 200 and m_headers["content-type"] == CONTENT_TYPE
    text = m_body.decode()
    assert "kubenode_agent_info{" in text
    assert "process_resident_memory_bytes " in text and "process_cpu_seconds_total " in text
    assert h_status == 200 and h_headers["content-type"] == "text/plain; charset=utf-8" and h_body == b"ok"
    assert l_status == 200 and l_headers["content-type"] == "application/json; charset=utf-8"
    logs = orjson.loads(l_body)
    assert logs["node"] == "m" and "hello from the ring" in logs["lines"][-1]
    assert access.seen == ["Bearer tok"]


async def test_logs_refusals_are_status_objects() -> None:
    async with serving(401) as (t, _):
        [(status, headers, body)] = await exchange(t.port, get("/logs"))
    assert status == 401 and headers["www-authenticate"] == 'Bearer realm="kubenode-agent"'
    assert orjson.loads(body) == {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                  "reason": "Unauthorized", "message": "nope", "code": 401}
    async with serving(403) as (t, _):
        [(status, headers, body)] = await exchange(t.port, get("/logs"))
    assert status == 403 and "www-authenticate" not in headers and orjson.loads(body)["reason"] == "Forbidden"
    async with serving() as (t, _):
        [(status, headers, body)] = await exchange(t.port, get("/logs?lines=abc"))
    assert status == 400 and "non-negative integer" in orjson.loads(body)["message"]


@pytest.mark.parametrize(("raw", "status", "allow"), [
    (get("/nothing-here"), 404, None),
    (b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 405, "GET,HEAD"),
    (b"DELETE /logs HTTP/1.1\r\nHost: x\r\n\r\n", 405, "GET,HEAD"),
    (b"this is not http\r\n\r\n", 400, None),
])
async def test_unknown_paths_other_methods_and_garbage(raw: bytes, status: int, allow: str | None) -> None:
    async with serving() as (t, _):
        [(got, headers, _body)] = await exchange(t.port, raw)
    assert got == status and headers.get("allow") == allow


async def test_head_answers_headers_only() -> None:
    async with serving() as (t, _):
        [(status, headers, body)] = await exchange(t.port, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200 and headers["content-length"] == "2" and body == b""


async def test_stop_closes_idle_connections() -> None:
    async with serving() as (t, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", t.port)
        writer.write(get("/healthz"))
        await writer.drain()
        await reader.readuntil(b"\r\n\r\nok")
    # The server stopped with this keep-alive connection open: it was closed, not left behind.
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


def test_process_families_match_prometheus_clients_process_collector() -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.process_collector import ProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    theirs = {line.split()[2]: line for line in generate_latest(registry).decode().splitlines()
              if line.startswith("# TYPE")}
    ours_text = render(process_families())
    ours = {line.split()[2]: line for line in ours_text.splitlines() if line.startswith("# TYPE")}
    assert ours == theirs  # the same families with the same types
    helps = {line for line in ours_text.splitlines() if line.startswith("# HELP")}
    assert helps == {line for line in generate_latest(registry).decode().splitlines() if line.startswith("# HELP")}
    values = {line.split()[0]: float(line.split()[1]) for line in ours_text.splitlines() if not line.startswith("#")}
    assert values["process_max_fds"] >= values["process_open_fds"] > 0
    assert values["process_resident_memory_bytes"] > 0 and values["process_virtual_memory_bytes"] > 0
    assert abs(values["process_start_time_seconds"] - float(
        next(line.split()[1] for line in generate_latest(registry).decode().splitlines()
             if line.startswith("process_start_time_seconds ")))) < 1.0


def test_process_families_without_proc(tmp_path: Path) -> None:
    assert list(process_families(proc=tmp_path)) == []
    assert os.path.exists("/proc/self/stat")
