"""The default HTTP transport: an aiohttp session (its C parser is the fastest at volume).

Used by the operator, the CLI and the simulator; the agent uses the lighter
:mod:`.h11_transport`. aiohttp's own exceptions are raised as
:class:`~.errors.TransportError` (the original as ``__cause__``), so callers
catch one thing whatever the transport.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Mapping

import aiohttp

from .errors import TransportError
from .transport import Response

__all__ = ["AiohttpTransport"]


class _Streamed:
    """An aiohttp response seen through :class:`~.transport.StreamResponse`."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.reason = resp.reason or ""
        self.headers: Mapping[str, str] = resp.headers
        self.content_length = resp.content_length

    async def read(self, limit: int | None = None) -> bytes:
        try:
            return await (self._resp.read() if limit is None else self._resp.content.read(limit))
        except aiohttp.ClientError as exc:
            raise TransportError(str(exc) or type(exc).__name__) from exc

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._resp.content.iter_any():
                yield chunk
        except aiohttp.ClientError as exc:
            raise TransportError(str(exc) or type(exc).__name__) from exc


class AiohttpTransport:
    """One aiohttp session with a connector of ``limit`` connections (or a session given by the caller)."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, limit: int = 100,
                 session: aiohttp.ClientSession | None = None) -> None:
        """Create the transport; a ``session`` passed in is used as is and not closed by :meth:`close`."""
        self._own = session is None
        self._session = session or aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit, ssl=ssl_context or False))

    async def request(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
                      headers: Mapping[str, str] | None = None, body: bytes | None = None,
                      time_limit: float | None = None) -> Response:
        """Send one request and read the whole response within ``time_limit`` seconds."""
        try:
            async with self._session.request(method, url, params=params, data=body, headers=headers,
                                             timeout=aiohttp.ClientTimeout(total=time_limit)) as resp:
                return Response(resp.status, resp.headers, await resp.read())
        except aiohttp.ClientError as exc:
            raise TransportError(str(exc) or type(exc).__name__) from exc

    @contextlib.asynccontextmanager
    async def stream(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
                     headers: Mapping[str, str] | None = None, body: bytes | None = None,
                     connect_timeout: float | None = None,
                     read_timeout: float | None = None) -> AsyncIterator[_Streamed]:
        """Send one request; the response's body streams."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)
        try:
            async with self._session.request(method, url, params=params, data=body, headers=headers,
                                             timeout=timeout) as resp:
                yield _Streamed(resp)
        except aiohttp.ClientError as exc:
            raise TransportError(str(exc) or type(exc).__name__) from exc

    async def close(self) -> None:
        """Close the session (only one this transport created)."""
        if self._own:
            await self._session.close()
