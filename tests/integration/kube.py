"""A minimal raw HTTP client for tests: it shows exactly what goes over the wire."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from kubenode.apiserver.security import client_ssl_context
from kubenode.apiserver.server import RunningServer


class Response:
    """Status, headers and decoded JSON body of one call."""

    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.raw = body
        try:
            self.json: Any = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            self.json = None

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.raw[:300]!r}>"


class Kube:
    """Talks to a running embedded server as the admin (or with another token)."""

    def __init__(self, server: RunningServer, token: str | None = None) -> None:
        self.base = server.url
        self.token = server.admin_token if token is None else token
        self.ssl = client_ssl_context(server.pki.ca_cert)
        self.session = aiohttp.ClientSession()

    async def close(self) -> None:
        await self.session.close()

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        h = {"Accept": "application/json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if extra:
            h.update(extra)
        return h

    async def request(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
                      params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                      raw: bytes | None = None) -> Response:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        hdrs = self._headers(headers)
        if data is not None:
            hdrs["Content-Type"] = content_type
        async with self.session.request(method, self.base + path, data=data, params=params, headers=hdrs,
                                        ssl=self.ssl) as resp:
            return Response(resp.status, resp.headers, await resp.read())

    async def get(self, path: str, **kw: Any) -> Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body: Any, **kw: Any) -> Response:
        return await self.request("POST", path, body, **kw)

    async def put(self, path: str, body: Any, **kw: Any) -> Response:
        return await self.request("PUT", path, body, **kw)

    async def patch(self, path: str, body: Any, content_type: str = "application/merge-patch+json",
                    **kw: Any) -> Response:
        return await self.request("PATCH", path, body, content_type=content_type, **kw)

    async def delete(self, path: str, body: Any = None, **kw: Any) -> Response:
        return await self.request("DELETE", path, body, **kw)

    async def watch(self, path: str, params: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        """Yield watch events until the server closes the stream."""
        params = {"watch": "true", **params}
        async with self.session.get(self.base + path, params=params, headers=self._headers(None),
                                    ssl=self.ssl) as resp:
            assert resp.status == 200, await resp.text()
            async for line in resp.content:
                if line.strip():
                    yield orjson.loads(line)
