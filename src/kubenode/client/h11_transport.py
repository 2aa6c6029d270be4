"""A light HTTP/1.1 client transport: h11 (sans-IO, pure Python) over asyncio streams.

Why not aiohttp here: importing aiohttp costs a node agent ~15 MiB of RSS
(multidict, yarl, its C parser, email, http.cookies, …) for a process that
sends a request every few seconds and holds three watches (issue 15, a light
agent). h11 parses and frames HTTP/1.1; this module adds what the client
needs on top: a small keep-alive pool per origin, TLS with the caller's
``SSLContext`` (CA, client certificate), timeouts, and bodies that stream as
they arrive (chunked watch responses of any size).

A pooled connection is reused only when the previous exchange ended cleanly
on both sides, it has not been idle longer than ``idle_seconds`` and the
server has not closed it; a request whose reused connection turns out to be
closed before any byte of the answer arrived is sent once more on a fresh
connection (as urllib3 and httpcore do). Failures are
:class:`~.errors.TransportError` (an ``OSError``); timeouts ``TimeoutError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import h11

from .errors import TransportError
from .transport import Headers, Response

__all__ = ["H11Transport", "StreamedResponse"]

_READ = 1 << 16
Origin = tuple[str, str, int]


class _Connection:
    """One TCP (or TLS) connection and its h11 state machine."""

    __slots__ = ("h11", "idle_since", "origin", "reader", "received", "writer")

    def __init__(self, origin: Origin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(our_role=h11.CLIENT)
        self.idle_since = 0.0
        #: Bytes received in the current exchange (none: a reused connection may be retried).
        self.received = 0

    def reusable(self, now: float, idle_seconds: float) -> bool:
        return (now - self.idle_since < idle_seconds and not self.reader.at_eof()
                and not self.writer.is_closing())

    def abort(self) -> None:
        self.writer.transport.abort()


class StreamedResponse:
    """A response whose body is read from the connection as the caller asks for it."""

    def __init__(self, conn: _Connection, status: int, reason: str, headers: Headers,
                 read_timeout: float | None) -> None:
        self._conn = conn
        self.status = status
        self.reason = reason
        self.headers: Mapping[str, str] = headers
        self._read_timeout = read_timeout
        self.complete = False
        self.content_length: int | None = None
        length = headers.get("content-length")
        if length is not None and length.isdigit():
            self.content_length = int(length)

    async def _next_data(self) -> bytes | None:
        """The next piece of the body, or None at its end."""
        conn = self._conn.h11
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise TransportError(f"invalid HTTP response body: {exc}") from exc
            if event is h11.NEED_DATA:
                await _receive(self._conn, self._read_timeout)
                continue
            if isinstance(event, h11.Data):
                return bytes(event.data)
            if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                self.complete = True
                return None

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive."""
        while not self.complete:
            data = await self._next_data()
            if data:
                yield data

    async def read(self, limit: int | None = None) -> bytes:
        """The rest of the body, or its first ``limit`` bytes (the connection is then not reused)."""
        parts: list[bytes] = []
        size = 0
        while not self.complete and (limit is None or size < limit):
            data = await self._next_data()
            if data:
                parts.append(data)
                size += len(data)
        body = b"".join(parts)
        return body if limit is None else body[:limit]


async def _receive(conn: _Connection, within: float | None) -> None:
    try:
        async with asyncio.timeout(within):
            data = await conn.reader.read(_READ)
    except TimeoutError:
        raise
    except OSError as exc:  # reset, TLS errors (ssl.SSLError is an OSError)
        raise TransportError(f"connection to {_show(conn.origin)} lost: {exc}") from exc
    conn.received += len(data)
    conn.h11.receive_data(data)  # b"" tells h11 the server closed its side


def _show(origin: Origin) -> str:
    scheme, host, port = origin
    return f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}"


class _Reused(Exception):
    """A reused connection was closed by the server before answering: send the request again."""


class H11Transport:
    """A keep-alive HTTP/1.1 client on h11; ``limit`` connections at most (watches hold one each)."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, limit: int = 100,
                 idle_seconds: float = 15.0, verify: bool = True) -> None:
        """``ssl_context`` is used for https (default: the system CAs; ``verify=False`` trusts any certificate)."""
        self._ssl = ssl_context
        self._verify = verify
        self._idle: dict[Origin, list[_Connection]] = {}
        self._slots = asyncio.Semaphore(limit)
        self._idle_seconds = idle_seconds
        self._closed = False

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
            if not self._verify:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE
        return self._ssl

    async def _connect(self, origin: Origin, within: float | None) -> _Connection:
        scheme, host, port = origin
        tls = self._context() if scheme == "https" else None
        try:
            async with asyncio.timeout(within):
                reader, writer = await asyncio.open_connection(host, port, ssl=tls,
                                                               server_hostname=host if tls else None,
                                                               limit=_READ)
        except TimeoutError:
            raise
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise TransportError(f"cannot connect to {_show(origin)}: {exc}") from exc
        return _Connection(origin, reader, writer)

    def _pooled(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.reusable(now, self._idle_seconds):
                return conn
            conn.abort()
        return None

    def _release(self, conn: _Connection) -> None:
        """Back to the pool if both sides finished the exchange cleanly, else closed."""
        h = conn.h11
        if not self._closed and h.our_state is h11.DONE and h.their_state is h11.DONE:
            h.start_next_cycle()
            conn.idle_since = time.monotonic()
            self._idle.setdefault(conn.origin, []).append(conn)
        else:
            conn.abort()

    async def _exchange(self, conn: _Connection, reused: bool, method: str, target: str,
                        headers: list[tuple[str, str]], body: bytes | None,
                        read_timeout: float | None) -> StreamedResponse:
        """Send the request and read the response head."""
        h = conn.h11
        conn.received = 0
        try:
            out = h.send(h11.Request(method=method, target=target, headers=headers))
            if body:
                out += h.send(h11.Data(data=body))
            out += h.send(h11.EndOfMessage())
            conn.writer.write(out)
            await conn.writer.drain()
            while True:
                event = h.next_event()
                if event is h11.NEED_DATA:
                    await _receive(conn, read_timeout)
                    continue
                if isinstance(event, h11.InformationalResponse):
                    continue
                if isinstance(event, h11.Response):
                    fields = Headers()
                    for name, value in event.headers:
                        key, text = name.decode("latin-1"), value.decode("latin-1")
                        fields[key] = f"{fields[key]}, {text}" if key in fields else text
                    return StreamedResponse(conn, event.status_code, event.reason.decode("latin-1"), fields,
                                            read_timeout)
                raise h11.RemoteProtocolError("the server closed the connection without answering")
        except TimeoutError:
            raise
        except (h11.ProtocolError, OSError) as exc:  # TransportError is an OSError too
            if reused and conn.received == 0 and not isinstance(exc, h11.LocalProtocolError):
                raise _Reused from exc
            if isinstance(exc, TransportError):
                raise
            raise TransportError(f"{method} {_show(conn.origin)}{target}: {exc}") from exc

    @contextlib.asynccontextmanager
    async def stream(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
                     headers: Mapping[str, str] | None = None, body: bytes | None = None,
                     connect_timeout: float | None = None,
                     read_timeout: float | None = None) -> AsyncIterator[StreamedResponse]:
        """Send one request; the response's body streams. The connection returns to the pool at the end."""
        origin, target, host_header = _split(url, params)
        fields = [("Host", host_header), *(headers or {}).items()]
        if body is not None:
            fields.append(("Content-Length", str(len(body))))
        async with self._slots:
            conn = self._pooled(origin)
            resp: StreamedResponse | None = None
            try:
                if conn is not None:
                    try:
                        resp = await self._exchange(conn, True, method, target, fields, body, read_timeout)
                    except _Reused:
                        conn.abort()
                        conn = None
                if conn is None:
                    conn = await self._connect(origin, connect_timeout)
                    resp = await self._exchange(conn, False, method, target, fields, body, read_timeout)
                assert resp is not None
                yield resp
            finally:
                if conn is not None:
                    self._release(conn)

    async def request(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
                      headers: Mapping[str, str] | None = None, body: bytes | None = None,
                      time_limit: float | None = None) -> Response:
        """Send one request and read the whole response within ``time_limit`` seconds."""
        async with asyncio.timeout(time_limit), self.stream(method, url, params=params, headers=headers,
                                                         body=body) as resp:
            data = await resp.read()
        return Response(resp.status, resp.headers, data)

    async def close(self) -> None:
        """Close every idle connection (streams still open close when their caller leaves them)."""
        self._closed = True
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.writer.close()
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(1.0):
                        await conn.writer.wait_closed()

    async def __aenter__(self) -> H11Transport:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


def _split(url: str, params: Mapping[str, str] | None) -> tuple[Origin, str, str]:
    """(origin, request target, Host header) of an absolute http(s) URL plus query parameters."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise TransportError(f"{url}: not an http(s) URL")
    port = parts.port or (443 if scheme == "https" else 80)
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if parts.port is None else f"{shown}:{port}"
    target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    query = parts.query
    if params:
        query = f"{query}&{urlencode(params)}" if query else urlencode(params)
    if query:
        target = f"{target}?{query}"
    return (scheme, host, port), target, host_header
