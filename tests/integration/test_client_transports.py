"""Failures and framing that both HTTP transports (aiohttp, h11) must handle the same way.

TLS verification failures, refused connections, timeouts and a server that
drops the connection are :class:`TransportError` (an ``OSError``) or
``TimeoutError`` whatever the transport; large watch objects split over many
chunks arrive whole; a kept-alive connection the server closed is not a
failure. The real embedded server where it can serve, tiny asyncio servers
for misbehaviour it never shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from kubenode.apiserver.server import RunningServer
from kubenode.client import CONFIGMAPS, NAMESPACES, ClientConfig, KubeClient
from kubenode.client.errors import KubeError, TransportError

from .clients import config_for, first_events

NS = "default"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def tiny_server(handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
                      ) -> AsyncIterator[str]:
    tasks: dict[asyncio.Task[object], asyncio.StreamWriter] = {}

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks[task] = writer
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            await handle(reader, writer)

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in tasks.values():
            writer.transport.abort()  # ends each handler (cancelling one makes asyncio 3.11 log an error)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await server.wait_closed()


async def read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def answer(body: bytes, *, close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
            + b"\r\n" + extra + b"\r\n" + body)


async def test_untrusted_server_certificate_is_a_transport_error(server: RunningServer, transport: str) -> None:
    # The system CAs do not know the embedded server's own CA.
    cfg = dataclasses.replace(config_for(server.kubeconfig, transport), ssl_context=ssl.create_default_context(),
                              max_retries=0)
    async with KubeClient(cfg) as c:
        with pytest.raises(TransportError) as exc:
            await c.get(NAMESPACES, "default")
    assert "certificate verify failed" in str(exc.value) or "CERTIFICATE_VERIFY_FAILED" in str(exc.value)
    assert isinstance(exc.value, OSError) and isinstance(exc.value, KubeError)


async def test_refused_connection_is_a_transport_error(transport: str) -> None:
    async with KubeClient(ClientConfig(server=f"http://127.0.0.1:{free_port()}", transport=transport)) as c:
        with pytest.raises(TransportError):
            await c.get(NAMESPACES, "default")


async def test_a_server_that_never_answers_times_out(transport: str) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        await reader.read()  # until the client gives up and closes

    async with tiny_server(silent) as url, \
            KubeClient(ClientConfig(server=url, transport=transport, request_timeout=0.3)) as c:
        with pytest.raises(TimeoutError):
            await c.get(NAMESPACES, "default")


async def test_a_connection_dropped_mid_answer_is_a_transport_error(transport: str) -> None:
    async def dropper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"kind\":")
        await writer.drain()
        writer.close()

    async with tiny_server(dropper) as url, KubeClient(ClientConfig(server=url, transport=transport)) as c:
        with pytest.raises(TransportError):
            await c.get(NAMESPACES, "default")


async def test_a_kept_alive_connection_the_server_closed_is_replaced(transport: str) -> None:
    closed = asyncio.Event()
    served = 0

    async def once_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await read_head(reader)
        served += 1
        # Keep-alive is promised, then the server closes the idle connection (as servers do after a timeout).
        writer.write(answer(b'{"kind":"Namespace","metadata":{"name":"default"}}'))
        await writer.drain()
        writer.close()
        closed.set()

    async with tiny_server(once_per_connection) as url, KubeClient(ClientConfig(server=url,
                                                                                transport=transport)) as c:
        assert (await c.get(NAMESPACES, "default"))["metadata"]["name"] == "default"
        await asyncio.wait_for(closed.wait(), 5)
        await asyncio.sleep(0.05)  # let the client's event loop see the close (no assertion on time)
        assert (await c.get(NAMESPACES, "default"))["metadata"]["name"] == "default"
    assert served == 2


async def test_watch_delivers_large_objects_whole(server: RunningServer, transport: str) -> None:
    async with KubeClient(config_for(server.kubeconfig, transport)) as c:
        _, rv = await c.list(CONFIGMAPS, NS)
        big = "x" * 700_000  # many reads of the stream for one line
        task = asyncio.create_task(first_events(c.watch(CONFIGMAPS, NS, resource_version=rv, timeout_seconds=10), 3))
        for name in ("big-1", "small", "big-2"):
            await c.create(CONFIGMAPS, {"metadata": {"name": name, "namespace": NS},
                                        "data": {"k": big if name.startswith("big") else "v"}})
        events = await asyncio.wait_for(task, 20)
        assert [e.object["metadata"]["name"] for e in events] == ["big-1", "small", "big-2"]
        assert events[0].object["data"]["k"] == big and events[2].object["data"]["k"] == big
        # The client still works after a watch left early.
        assert (await c.get(CONFIGMAPS, "small", NS))["data"] == {"k": "v"}


async def test_query_parameters_and_error_bodies_that_are_not_status(transport: str) -> None:
    seen: list[bytes] = []

    async def teapot(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_head(reader))
        body = b"not a Status"
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    async with tiny_server(teapot) as url, KubeClient(ClientConfig(server=url, transport=transport)) as c:
        with pytest.raises(KubeError) as exc:
            await c.list(CONFIGMAPS, NS, label_selector="a=b,c in (d)")
    err = exc.value
    assert getattr(err, "status", None) == 503 and getattr(err, "retry_after", None) == 7.0
    assert "not a Status" in str(err)
    request_line = seen[0].split(b"\r\n", 1)[0]
    assert request_line.startswith(b"GET /api/v1/namespaces/default/configmaps?labelSelector=a")
