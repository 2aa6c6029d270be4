"""Hostile clients: every connection is bounded in time, every identity in watches, every abort in log lines.

- TLS handshake: a connection that does not finish it within `Limits.handshake_timeout` is dropped
  (asyncio's `ssl_handshake_timeout`).
- Request headers: once the first byte of a request has arrived, its headers must be complete within
  `Limits.header_timeout` (kube-apiserver: `ReadHeaderTimeout`), or the connection is closed. Idle
  keep-alive connections are closed by aiohttp's keep-alive timer as before.
- Request bodies: `wire.read_body` gives the whole body `Limits.body_timeout`, else 408.
- Watches: at most `Limits.max_watches_per_user` concurrent watches per identity; the next is answered
  429 with `Retry-After`, as kube's priority-and-fairness does for a flow over its share.
- An aborted client costs one log line, never a traceback.
- Closed watches give their memory back: when the last of a burst of watches has closed, the freed heap is
  returned to the OS (glibc's `malloc_trim`), so RSS comes back near its baseline (bench/watch_memory.py).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger("kubenode.apiserver.clients")


@dataclass
class Limits:
    """Time and concurrency limits of one server (ServerConfig passes them on)."""

    handshake_timeout: float = 10.0
    header_timeout: float = 32.0
    body_timeout: float = 60.0
    max_watches_per_user: int = 250


class GuardedHandler(RequestHandler):
    """aiohttp's connection handler with a deadline on every request's headers."""

    header_timeout = 32.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._header_timer: asyncio.TimerHandle | None = None
        #: Done once the client is gone: a watch waits on it too, so a closed watch ends at once (aiohttp does
        #: not cancel handlers on disconnect) and its memory is released.
        self.lost: asyncio.Future[None] = self._loop.create_future()
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        before = self._request_count
        super().data_received(data)
        if self._request_count != before:  # a whole request head arrived
            self._cancel_header_timer()
        elif data and self._header_timer is None and not self._force_close:
            self._header_timer = self._loop.call_later(self.header_timeout, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        log.warning("closing connection from %s: request headers not complete within %.0fs",
                    _peer(self.transport), self.header_timeout)
        self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_header_timer()
        lost = getattr(self, "lost", None)
        if lost is not None and not lost.done():
            lost.set_result(None)
        super().connection_lost(exc)


def _peer(transport: asyncio.BaseTransport | None) -> str:
    peer = transport.get_extra_info("peername") if transport is not None else None
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "unknown"


class HardenedSite(web.TCPSite):
    """A TCPSite whose connections get `GuardedHandler` and a TLS handshake deadline."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, limits: Limits, **kw: Any) -> None:
        super().__init__(runner, host, port, **kw)
        self._limits = limits

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        limits = self._limits
        handler_class = type("Handler", (GuardedHandler,), {"header_timeout": limits.header_timeout})

        def factory() -> RequestHandler:
            return handler_class(server, loop=loop, **server._kwargs)

        self._server = await loop.create_server(
            factory, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog,
            ssl_handshake_timeout=limits.handshake_timeout if self._ssl_context is not None else None)
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


def quiet_connection_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Make asyncio report a client's broken TLS connection in one line instead of a traceback."""
    default = loop.get_exception_handler()

    def handler(lp: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = str(context.get("message", ""))
        if isinstance(exc, ConnectionError | TimeoutError) or (exc is not None and type(exc).__module__ == "ssl"):
            transport = context.get("transport")
            log.info("client connection aborted (%s): %s", _peer(transport) if transport else "unknown",
                     f"{message}: {exc}" if message else exc)
            return
        if default is not None:
            default(lp, context)
        else:
            lp.default_exception_handler(context)

    loop.set_exception_handler(handler)


class WatchCounter:
    """Concurrent watches per identity, and giving memory back once a burst of watches has closed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._by_user: dict[str, int] = {}
        self.total = 0
        self._peak = 0
        self._trim_handle: asyncio.TimerHandle | None = None

    def acquire(self, user: str) -> bool:
        """Count one more watch of `user`; False (nothing counted) when the user is at the limit."""
        n = self._by_user.get(user, 0)
        if n >= self.limit:
            return False
        self._by_user[user] = n + 1
        self.total += 1
        self._peak = max(self._peak, self.total)
        return True

    def release(self, user: str) -> None:
        """One watch of `user` ended."""
        n = self._by_user.get(user, 0) - 1
        if n > 0:
            self._by_user[user] = n
        else:
            self._by_user.pop(user, None)
        self.total = max(0, self.total - 1)
        if self._peak >= 50 and self.total <= self._peak // 4 and self._trim_handle is None:
            # Most of a burst of watches has gone: once their tasks and buffers are collected, return the
            # freed heap to the OS (CPython keeps it otherwise, and RSS would stay at the burst's peak).
            self._trim_handle = asyncio.get_running_loop().call_later(1.0, self._trim)

    def _trim(self) -> None:
        self._trim_handle = None
        self._peak = self.total
        release_memory()


def release_memory() -> None:
    """Collect garbage and hand free heap pages back to the OS (glibc; a no-op elsewhere)."""
    import gc

    gc.collect()
    if _libc is not None:
        _libc.malloc_trim(0)


def _load_libc() -> Any:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 — glibc only
    except (OSError, AttributeError):
        return None
    return libc


_libc = _load_libc()
