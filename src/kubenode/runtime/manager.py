"""The manager runs a process's informers, runnables and controllers in the right order.

Start order: health server; informers (and wait until their caches synced);
runnables that do not need leadership; then — only while this replica holds
the Lease — the leader-elected runnables (controllers by default). Stop order
is the reverse, and leader-elected controllers drain their in-flight
reconciles before the Lease is released, so a successor never overlaps.

Losing the Lease is not recoverable in-process (like controller-runtime): the
leader-elected runnables are cancelled at once, ``/healthz`` turns 500 and
:meth:`Manager.wait` returns so the caller can stop and exit.

One aiohttp port serves ``/healthz`` (alive), ``/readyz`` (caches synced) and
``/metrics`` (the prometheus registry, followed by any pre-rendered expositions
added with :meth:`Manager.add_exposition`); :meth:`Manager.add_route` adds
more GET routes on the same port (e.g. Prometheus service discovery).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from kubenode.client import KubeClient

from .controller import Controller, Reconciler
from .informer import InformerFactory
from .leaderelection import LeaderElectionConfig, LeaderElector

log = logging.getLogger(__name__)


@runtime_checkable
class Runnable(Protocol):
    """Anything the manager can start and stop (a :class:`Controller` is one)."""

    async def start(self) -> None:
        """Start working (spawn tasks) and return."""
        ...

    async def stop(self, *, drain: bool = True) -> None:
        """Stop; with ``drain`` finish in-flight work, otherwise cancel it."""
        ...


class Manager:
    """Owns the shared informers, the metrics registry, leader election and the health port."""

    def __init__(self, client: KubeClient, registry: CollectorRegistry | None = None,
                 leader_election: LeaderElectionConfig | None = None, health_port: int | None = None, *,
                 health_host: str = "127.0.0.1", informer_options: dict[str, Any] | None = None) -> None:
        """``health_port=None`` serves no health port; ``0`` picks a free one (see :attr:`health_port`)."""
        self.client = client
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.leader_election = leader_election
        self.health_host = health_host
        self.health_port = health_port
        self.informers = InformerFactory(client, **(informer_options or {}))
        self.elector: LeaderElector | None = None
        self._leader_runnables: list[Runnable] = []
        self._other_runnables: list[Runnable] = []
        self._leading_started: list[Runnable] = []
        self._runner: web.AppRunner | None = None
        self._started = False
        self._stopping = False
        self._lease_lost = False
        self._done = asyncio.Event()
        self._expositions: list[Callable[[], Iterable[bytes]]] = []
        self._routes: list[tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = []

    # ------------------------------------------------------------------ wiring

    def add_exposition(self, render: Callable[[], Iterable[bytes]]) -> None:
        """Append the buffers `render()` returns (Prometheus text) to every ``/metrics`` answer."""
        self._expositions.append(render)

    def add_route(self, path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        """Serve GET `path` on the health/metrics port."""
        if self._started:
            raise RuntimeError("add routes before the manager starts")
        self._routes.append((path, handler))

    def add(self, runnable: Runnable, *, needs_leader_election: bool = True) -> None:
        """Run ``runnable`` with the manager; leader-elected ones run only while leading."""
        if self._started:
            raise RuntimeError("add runnables before the manager starts")
        (self._leader_runnables if needs_leader_election else self._other_runnables).append(runnable)

    def new_controller(self, name: str, reconcile: Reconciler, *, workers: int = 1,
                       needs_leader_election: bool = True) -> Controller:
        """Create a :class:`Controller` on this manager's registry and add it."""
        ctrl = Controller(name, reconcile, workers=workers, registry=self.registry)
        self.add(ctrl, needs_leader_election=needs_leader_election)
        return ctrl

    @property
    def controllers(self) -> Sequence[Runnable]:
        """All added runnables, leader-elected first."""
        return [*self._leader_runnables, *self._other_runnables]

    @property
    def is_leader(self) -> bool:
        """Whether leader-elected runnables are running (always true without leader election once started)."""
        return bool(self._leading_started)

    @property
    def lease_lost(self) -> bool:
        """True after this replica lost its Lease; the process should exit."""
        return self._lease_lost

    @property
    def ready(self) -> bool:
        """Started and every informer cache synced."""
        return self._started and not self._stopping and self.informers.has_synced

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start everything in order and return once caches synced (leadership may come later)."""
        if self._started:
            return
        self._started = True
        if self.health_port is not None:
            await self._start_health()
        self.informers.start()
        await self.informers.wait_synced()
        for r in self._other_runnables:
            await r.start()
        if self.leader_election is None:
            await self._start_leading()
        else:
            self.elector = LeaderElector(self.client, self.leader_election,
                                         on_started_leading=self._start_leading,
                                         on_stopped_leading=self._stopped_leading)
            self.elector.start()

    async def wait(self) -> None:
        """Return when :meth:`stop` was called or the Lease was lost."""
        await self._done.wait()

    async def run(self) -> None:
        """Start, run until stopped or the Lease is lost, then stop gracefully."""
        try:
            await self.start()
            await self.wait()
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Drain leader-elected runnables, release the Lease, stop the rest, informers and the health port."""
        if self._stopping:
            return
        self._stopping = True
        started, self._leading_started = self._leading_started, []
        for r in reversed(started):
            await r.stop(drain=True)
        if self.elector is not None:
            await self.elector.stop()
        for r in reversed(self._other_runnables):
            await r.stop(drain=True)
        await self.informers.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._done.set()

    async def _start_leading(self) -> None:
        if self._stopping:
            return
        for r in self._leader_runnables:
            await r.start()
            self._leading_started.append(r)

    async def _stopped_leading(self) -> None:
        if self._stopping:
            return
        log.error("lost leadership: stopping leader-elected controllers at once")
        self._lease_lost = True
        started, self._leading_started = self._leading_started, []
        for r in reversed(started):
            await r.stop(drain=False)
        self._done.set()

    # ------------------------------------------------------------------ health port

    async def _start_health(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        for path, handler in self._routes:
            app.router.add_get(path, handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.health_host, self.health_port or 0)
        await site.start()
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or ()
        for sock in sockets:
            self.health_port = int(sock.getsockname()[1])
            break

    async def _healthz(self, request: web.Request) -> web.Response:
        if self._lease_lost:
            return web.Response(status=500, text="leader election lost\n")
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        if not self.ready:
            waiting = [repr(i) for i in self.informers.informers if not i.has_synced]
            return web.Response(status=503, text="not ready: " + (", ".join(waiting) or "stopping") + "\n")
        return web.Response(text="ok\n")

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        head = generate_latest(self.registry)
        return await write_exposition(request, itertools.chain(
            (head,), itertools.chain.from_iterable(render() for render in self._expositions)))


async def write_exposition(request: web.Request, parts: Iterable[bytes]) -> web.StreamResponse:
    """Answer `request` with the buffers of `parts` as they come (chunked): the next buffer is taken only
    once the one before is handed to the transport (`write` waits while the peer is slow), so a large
    exposition is never held whole in memory."""
    resp = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE_LATEST})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    for part in parts:
        if part:
            await resp.write(part)
    await resp.write_eof()
    return resp
