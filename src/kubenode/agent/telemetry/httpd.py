"""A small HTTP/1.1 server for the agent's endpoint: h11 over asyncio streams, GET routes only.

Why not aiohttp.web: the agent serves a scrape every few seconds and an
occasional `/logs`; aiohttp costs an agent ~15 MiB of RSS (issue 15, a light
agent). h11 does the parsing and framing; this module adds keep-alive,
an idle timeout, routing on the path and the answers aiohttp gave for the
rest (404 for an unknown path, 405 with `Allow` for another method, HEAD as
GET without a body, 500 for a handler that failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

import h11

__all__ = ["HttpRequest", "HttpResponse", "HttpServer"]

log = logging.getLogger("kubenode.agent.telemetry")

#: A connection with no request for this long is closed (aiohttp's keep-alive default is 75 s).
IDLE_SECONDS = 75.0
_READ = 1 << 16


@dataclass(frozen=True)
class HttpRequest:
    """One request: method, path, query (first value of each name) and headers (lower-case names)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]


@dataclass
class HttpResponse:
    """One answer; ``content_type`` defaults to plain text."""

    body: bytes = b""
    status: int = 200
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class HttpServer:
    """Serves GET ``routes`` (path -> handler) on an already bound, listening socket."""

    def __init__(self, routes: Mapping[str, Handler], *, idle_seconds: float = IDLE_SECONDS) -> None:
        self.routes = dict(routes)
        self.idle_seconds = idle_seconds
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self, sock: socket.socket) -> None:
        """Start accepting connections on ``sock``."""
        self._server = await asyncio.start_server(self._connection, sock=sock, limit=_READ)

    async def stop(self) -> None:
        """Stop accepting and close every open connection."""
        if self._server is not None:
            self._server.close()
        # Closing the sockets ends every connection's loop (no cancellation: asyncio 3.11 logs a cancelled
        # client_connected_cb task as an error).
        for writer in list(self._connections.values()):
            writer.transport.abort()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections[task] = writer
        conn = h11.Connection(our_role=h11.SERVER)
        try:
            while True:
                request = await self._next_request(conn, reader)
                if request is None:
                    return
                response = await self._answer(request)
                self._send(conn, writer, request, response)
                await writer.drain()
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            with contextlib.suppress(Exception):
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    status = exc.error_status_hint
                    body = f"{status}: {exc}\n".encode()
                    writer.write(conn.send(h11.Response(status_code=status, headers=[
                        ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                        ("Connection", "close")])) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
                    await writer.drain()
        except (OSError, TimeoutError, h11.LocalProtocolError):
            pass
        finally:
            if conn.our_state is h11.ERROR:
                writer.transport.abort()
            else:
                writer.close()
            if task is not None:
                self._connections.pop(task, None)

    async def _next_request(self, conn: h11.Connection, reader: asyncio.StreamReader) -> HttpRequest | None:
        """The next request (its body, if any, is read and dropped); None when the client is gone or idle."""
        head: h11.Request | None = None
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                try:
                    async with asyncio.timeout(self.idle_seconds if head is None else 30.0):
                        data = await reader.read(_READ)
                except TimeoutError:
                    return None
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                return _request(head)
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None

    async def _answer(self, request: HttpRequest) -> HttpResponse:
        handler = self.routes.get(request.path)
        if handler is None:
            return HttpResponse(b"404: Not Found", 404)
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(b"405: Method Not Allowed", 405, headers={"Allow": "GET,HEAD"})
        try:
            return await handler(request)
        except Exception:
            log.exception("the agent's %s handler failed", request.path)
            return HttpResponse(b"500 Internal Server Error\n\nServer got itself in trouble", 500)

    @staticmethod
    def _send(conn: h11.Connection, writer: asyncio.StreamWriter, request: HttpRequest,
              response: HttpResponse) -> None:
        headers = [("Content-Type", response.content_type), ("Content-Length", str(len(response.body))),
                   *response.headers.items()]
        out = conn.send(h11.Response(status_code=response.status, headers=headers))
        if request.method != "HEAD" and response.body:
            out += conn.send(h11.Data(data=response.body))
        out += conn.send(h11.EndOfMessage())
        writer.write(out)


def _request(head: h11.Request) -> HttpRequest:
    target = head.target.decode("latin-1")
    parts = urlsplit(target)
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query.setdefault(name, value)
    headers: dict[str, str] = {}
    for raw_name, raw_value in head.headers:
        headers.setdefault(raw_name.decode("latin-1"), raw_value.decode("latin-1"))
    return HttpRequest(head.method.decode("ascii"), unquote(parts.path), query, headers)
