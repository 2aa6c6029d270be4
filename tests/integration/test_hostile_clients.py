"""Hostile clients: slow handshakes, headers and bodies are cut off; watches are capped per identity; an
aborted client costs one log line. The server runs with short limits so the tests need not wait long."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubenode.apiserver.hardening import Limits
from kubenode.apiserver.security import User, client_ssl_context
from kubenode.apiserver.server import RunningServer, ServerConfig, start_server

from .kube import Kube
from .polling import eventually

CM = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    srv = await start_server(ServerConfig(
        data_dir=tmp_path / "data", port=0, bookmark_interval=0.3,
        limits=Limits(handshake_timeout=1.0, header_timeout=1.0, body_timeout=1.0, max_watches_per_user=3)))
    try:
        yield srv
    finally:
        await srv.stop()


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the polling deadline)."""
    out = b""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            out += chunk
    return out


async def _tls(server: RunningServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port, ssl=client_ssl_context(server.pki.ca_cert),
                                         server_hostname="127.0.0.1")


async def test_a_client_that_never_finishes_the_handshake_is_dropped(server: RunningServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        got = await asyncio.wait_for(_closed_by_server(reader), 20)  # deadline of the poll, not an assertion
        assert got == b""
    finally:
        writer.close()


async def test_slow_headers_are_cut_off_with_one_log_line(server: RunningServer,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    reader, writer = await _tls(server)
    try:
        writer.write(b"GET /api HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        await writer.drain()
        got = await asyncio.wait_for(_closed_by_server(reader), 20)
        assert got == b""
    finally:
        writer.close()
    lines = [r for r in caplog.records if "request headers not complete" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None
    # The server still answers everyone else.
    kube = Kube(server)
    try:
        assert (await kube.get("/readyz")).status == 200
    finally:
        await kube.close()


async def test_a_slow_body_is_408(server: RunningServer) -> None:
    reader, writer = await _tls(server)
    try:
        writer.write(b"POST " + CM.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                     + server.admin_token.encode() + b"\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"metadata\":")
        await writer.drain()
        got = await asyncio.wait_for(_closed_by_server(reader), 20)
        assert got.startswith(b"HTTP/1.1 408"), got[:200]
        assert b'"reason":"Timeout"' in got
    finally:
        writer.close()
    assert server.store.get("/configmaps/default/x") is None


async def test_an_aborted_client_is_one_log_line_not_a_traceback(server: RunningServer,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    _reader, writer = await _tls(server)
    writer.write(b"POST " + CM.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                 + server.admin_token.encode() + b"\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"a\":")
    await writer.drain()
    await asyncio.sleep(0)  # let the request start being read
    writer.transport.abort()

    def logged() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "aborted" in r.getMessage()]

    async def check() -> list[logging.LogRecord]:
        return logged()

    await eventually(check, what="the abort's log line")
    assert len(logged()) == 1
    assert not [r for r in caplog.records if r.exc_info is not None or "Traceback" in r.getMessage()]


async def test_concurrent_watches_are_capped_per_identity_with_429(server: RunningServer) -> None:
    kube = Kube(server)
    assert server.api.tokens is not None
    other = Kube(server, token=server.api.tokens.issue(User("someone-else", ("system:masters",))))
    streams: list[contextlib.AbstractAsyncContextManager[object]] = []
    responses = []
    try:
        for _ in range(3):
            cm = kube.session.get(server.url + CM, params={"watch": "1"}, headers=kube._headers(None), ssl=kube.ssl)
            resp = await cm.__aenter__()
            assert resp.status == 200
            streams.append(cm)
            responses.append(resp)
        refused = await kube.get(CM, params={"watch": "1", "timeoutSeconds": "5"})
        assert refused.status == 429, refused
        assert refused.json["reason"] == "TooManyRequests" and refused.headers["Retry-After"] == "1"
        assert "kubenode:admin" in refused.json["message"]
        # Another identity has its own share; plain requests are not limited.
        assert (await kube.get(CM)).status == 200
        theirs = await other.get(CM, params={"watch": "1", "timeoutSeconds": "1"})
        assert theirs.status == 200, theirs
        # Closing one watch frees its slot.
        await streams.pop().__aexit__(None, None, None)
        responses.pop()

        async def admitted() -> bool:
            return (await kube.get(CM, params={"watch": "1", "timeoutSeconds": "1"})).status == 200

        await eventually(admitted, what="a watch admitted after one closed")
    finally:
        for cm in streams:
            await cm.__aexit__(None, None, None)
        await kube.close()
        await other.close()
