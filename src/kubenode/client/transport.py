"""The HTTP transport under :class:`~kubenode.client.KubeClient`: one small interface, two implementations.

``aiohttp`` (:mod:`.aiohttp_transport`, the default: its C parser is fastest
at volume, for the operator, the CLI and the simulator) and ``h11``
(:mod:`.h11_transport`: pure Python over asyncio streams, a few hundred KiB
instead of aiohttp's ~15 MiB of RSS, for the node agent — issue 15, a light
agent). Everything above the transport (auth headers, the token bucket,
429 retries, ``Status`` errors, watch line splitting) is shared, so both
behave the same; the client tests run against each.

A transport failure (refused connection, TLS failure, the server closing the
connection, a protocol error) is a :class:`~.errors.TransportError` whatever
the implementation; a timeout is :class:`TimeoutError`.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import NamedTuple, Protocol

from .errors import TransportError

__all__ = ["Headers", "Response", "StreamResponse", "Transport", "TransportError"]


class Headers(dict[str, str]):
    """Response headers with case-insensitive lookup (keys are stored lower-case)."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        """The value of header ``key`` (any case), or ``default``."""
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


class Response(NamedTuple):
    """A whole response: status, headers and the body read to its end."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class StreamResponse(Protocol):
    """A response whose body is read as it arrives (watches, downloads)."""

    status: int
    reason: str
    headers: Mapping[str, str]

    async def read(self, limit: int | None = None) -> bytes:
        """The rest of the body (at most ``limit`` bytes when given)."""
        ...

    def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive."""
        ...


class Transport(Protocol):
    """Sends HTTP requests to absolute URLs; keeps connections alive between them."""

    async def request(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
                      headers: Mapping[str, str] | None = None, body: bytes | None = None,
                      time_limit: float | None = None) -> Response:
        """Send one request and read the whole response within ``time_limit`` seconds."""
        ...

    def stream(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
               headers: Mapping[str, str] | None = None, connect_timeout: float | None = None,
               read_timeout: float | None = None) -> AbstractAsyncContextManager[StreamResponse]:
        """Send one request; the response's body streams (``read_timeout`` bounds each wait for data)."""
        ...

    async def close(self) -> None:
        """Close every pooled connection."""
        ...


def new_transport(kind: str, *, ssl_context: ssl.SSLContext | None, limit: int) -> Transport:
    """The transport named ``kind`` (``aiohttp`` or ``h11``), imported only when chosen."""
    ctx = ssl_context
    if kind == "h11":
        from .h11_transport import H11Transport

        return H11Transport(ssl_context=ctx, limit=limit)
    if kind == "aiohttp":
        from .aiohttp_transport import AiohttpTransport

        return AiohttpTransport(ssl_context=ctx, limit=limit)
    raise ValueError(f"unknown HTTP transport {kind!r} (aiohttp or h11)")
