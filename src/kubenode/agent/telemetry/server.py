"""The agent's HTTP endpoint: `/metrics` for Prometheus, `/logs` for authorised callers, `/healthz`.

The socket is bound when the server is built (port 0 picks a free one), so
the agent knows its URL before the first heartbeat and reports it in
`Machine.status.agent.metricsEndpoint`; serving starts with the agent's
extensions.

`/metrics` is open, as node-exporter's is: it holds no secrets, only
numbers. One scrape renders node metrics (read from /proc at that moment),
the agent's and NPD's problem metrics and prometheus_client's process
metrics; nothing is computed between scrapes, so an idle agent spends no
CPU on metrics.

`/logs?lines=N` (default 200, at most the ring's capacity) returns the
agent's recent log lines as `text/plain` — only to a caller whose bearer
token may `get nodes/proxy <node>` (see :mod:`.access`); `?format=json`
returns `{"node": …, "lines": […]}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import orjson

from .access import AccessDecision
from .agent_metrics import AgentMetrics
from .exposition import Family, render
from .httpd import HttpRequest, HttpResponse, HttpServer
from .logbuffer import LogRing
from .process_metrics import process_families

__all__ = ["CONTENT_TYPE", "TelemetryServer"]

log = logging.getLogger("kubenode.agent.telemetry")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_LOG_LINES = 200


class AccessChecker(Protocol):
    """Decides whether an `Authorization` header may read the logs (:class:`.access.LogAccess`)."""

    async def check(self, authorization: str | None) -> AccessDecision:
        """The decision for one header value."""
        ...


class TelemetryServer:
    """Serves one agent's metrics and logs on a bound socket."""

    def __init__(self, metrics: AgentMetrics, sources: Iterable[Callable[[], Iterator[Family]]], ring: LogRing,
                 access: AccessChecker, *, node_name: str, host: str = "127.0.0.1", port: int = 0, advertise: str = "",
                 ) -> None:
        self.metrics = metrics
        self.sources = [*sources, metrics.collect]
        self.ring = ring
        self.access = access
        self.node_name = node_name
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise OSError(exc.errno, f"cannot listen on {host}:{port} for the agent's /metrics: {exc.strerror} "
                                     "(choose another --metrics-port, or 0 for a free one)") from None
        self.sock.listen(128)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        shown = advertise or host
        if shown in ("0.0.0.0", "::", ""):
            shown = "127.0.0.1"
        self.url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{self.port}/metrics"

    def render_metrics(self) -> str:
        """The whole exposition of one scrape (the process_* families last, as prometheus_client wrote them)."""
        t0 = time.perf_counter()
        text = render(fam for families in (*(source() for source in self.sources), process_families())
                      for fam in families)
        self.metrics.scrapes += 1
        self.metrics.last_scrape_seconds = time.perf_counter() - t0
        return text

    async def _metrics(self, _request: HttpRequest) -> HttpResponse:
        return HttpResponse(self.render_metrics().encode(), content_type=CONTENT_TYPE)

    async def _healthz(self, _request: HttpRequest) -> HttpResponse:
        return HttpResponse(b"ok")

    async def _logs(self, request: HttpRequest) -> HttpResponse:
        decision = await self.access.check(request.headers.get("authorization"))
        if decision.status != 200:
            headers = {"WWW-Authenticate": 'Bearer realm="kubenode-agent"'} if decision.status == 401 else {}
            return _json({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                          "reason": {401: "Unauthorized", 403: "Forbidden"}.get(decision.status, "ServiceUnavailable"),
                          "message": decision.reason, "code": decision.status}, decision.status, headers)
        raw = request.query.get("lines", str(DEFAULT_LOG_LINES))
        try:
            n = int(raw)
            if n < 0:
                raise ValueError
        except ValueError:
            return _json({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "BadRequest",
                          "code": 400, "message": f"lines: {raw!r} must be a non-negative integer"}, 400)
        lines = self.ring.tail(n)
        if request.query.get("format") == "json":
            return _json({"node": self.node_name, "lines": lines})
        return HttpResponse("".join(f"{line}\n" for line in lines).encode())

    def http_server(self) -> HttpServer:
        """The HTTP server with the three routes (exposed for tests)."""
        return HttpServer({"/metrics": self._metrics, "/logs": self._logs, "/healthz": self._healthz})

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set (an :class:`~kubenode.agent.agent.AgentExtension`)."""
        server = self.http_server()
        await server.start(self.sock)
        self.ring.attach()
        log.info("agent metrics at %s (logs at /logs for callers allowed to get nodes/proxy)", self.url)
        try:
            await stop.wait()
        finally:
            self.ring.detach()
            with contextlib.suppress(Exception):
                await server.stop()
            with contextlib.suppress(OSError):
                self.sock.close()


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    """A JSON answer, with the content type aiohttp's `json_response` gave."""
    return HttpResponse(orjson.dumps(body), status, "application/json; charset=utf-8", headers or {})
