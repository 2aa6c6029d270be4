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
from typing import Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.process_collector import ProcessCollector

from .access import AccessDecision
from .agent_metrics import AgentMetrics
from .exposition import Family, render
from .logbuffer import LogRing

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
        self.process_registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.process_registry)

    def render_metrics(self) -> str:
        """The whole exposition of one scrape."""
        t0 = time.perf_counter()
        parts = [render(fam for source in self.sources for fam in source())]
        parts.append(generate_latest(self.process_registry).decode())
        self.metrics.scrapes += 1
        self.metrics.last_scrape_seconds = time.perf_counter() - t0
        return "".join(parts)

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=self.render_metrics().encode(), headers={"Content-Type": CONTENT_TYPE})

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _logs(self, request: web.Request) -> web.Response:
        decision = await self.access.check(request.headers.get("Authorization"))
        if decision.status != 200:
            headers = {"WWW-Authenticate": 'Bearer realm="kubenode-agent"'} if decision.status == 401 else {}
            return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                      "reason": {401: "Unauthorized", 403: "Forbidden"}.get(decision.status,
                                                                                             "ServiceUnavailable"),
                                      "message": decision.reason, "code": decision.status},
                                     status=decision.status, headers=headers)
        raw = request.query.get("lines", str(DEFAULT_LOG_LINES))
        try:
            n = int(raw)
            if n < 0:
                raise ValueError
        except ValueError:
            return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                      "reason": "BadRequest", "code": 400,
                                      "message": f"lines: {raw!r} must be a non-negative integer"}, status=400)
        lines = self.ring.tail(n)
        if request.query.get("format") == "json":
            return web.json_response({"node": self.node_name, "lines": lines})
        return web.Response(text="".join(f"{line}\n" for line in lines))

    def app(self) -> web.Application:
        """The aiohttp application (exposed for tests)."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/logs", self._logs)
        app.router.add_get("/healthz", self._healthz)
        return app

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set (an :class:`~kubenode.agent.agent.AgentExtension`)."""
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.SockSite(runner, self.sock)
        await site.start()
        self.ring.attach()
        log.info("agent metrics at %s (logs at /logs for callers allowed to get nodes/proxy)", self.url)
        try:
            await stop.wait()
        finally:
            self.ring.detach()
            with contextlib.suppress(Exception):
                await runner.cleanup()
            with contextlib.suppress(OSError):
                self.sock.close()
