"""A small client of Prometheus' HTTP query API (`/api/v1/query`), for reports and diagnostics.

Only instant queries: reports ask for windows with range functions and
subqueries inside PromQL (`avg_over_time(x[24h:1m])`), so Prometheus does the
arithmetic and we read one vector. Errors become :class:`PrometheusError`
with Prometheus' own `errorType` and `error`, or the connection failure, so
the CLI can say which URL did not answer and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson


class PrometheusError(Exception):
    """A query failed: Prometheus answered an error, or did not answer."""


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector."""

    labels: dict[str, str]
    value: float


class PrometheusClient:
    """Instant queries against one Prometheus base URL."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise PrometheusError(f"--prometheus {url!r}: expected an http:// or https:// URL")
        self.url = url.rstrip("/")
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))

    async def __aenter__(self) -> PrometheusClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._session.close()

    async def query(self, expr: str) -> list[Sample]:
        """The instant vector of `expr` now (a scalar answer becomes one sample without labels)."""
        try:
            async with self._session.post(f"{self.url}/api/v1/query", data={"query": expr}) as resp:
                raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PrometheusError(f"Prometheus at {self.url} did not answer: {exc or type(exc).__name__}") from None
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise PrometheusError(f"Prometheus at {self.url} answered HTTP {resp.status} without JSON") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            err = body.get("error") if isinstance(body, dict) else None
            kind = body.get("errorType") if isinstance(body, dict) else None
            raise PrometheusError(f"query {expr!r} failed: {kind or resp.status}: {err or raw[:200]!r}")
        data = body.get("data") or {}
        result = data.get("result")
        if data.get("resultType") == "scalar" and isinstance(result, list):
            return [Sample({}, float(result[1]))]
        samples = []
        for item in result if isinstance(result, list) else []:
            value = float(item["value"][1])
            if not math.isnan(value):
                samples.append(Sample(dict(item.get("metric") or {}), value))
        return samples
