"""List + watch one resource into a :class:`~.cache.Cache` and tell handlers what changed.

The loop is client-go's reflector: LIST, then WATCH from the list's
resourceVersion with bookmarks so the resourceVersion stays fresh even when
nothing we select changes; when the server ends the watch (``timeoutSeconds``)
we resume from the last resourceVersion; a ``410 Expired`` forces a re-list,
after which the cache is replaced and only real differences are reported;
connection and server errors back off exponentially (with jitter) and resume.

Handlers are plain callables ``(old, new)`` — ``old`` is ``None`` for an add,
``new`` is ``None`` for a delete — and must not block: they typically enqueue
a key. Objects are the cache's dicts: read-only. By default they are
:func:`~.cache.compact`: without ``metadata.managedFields``, their repeated
strings shared across objects (about a quarter of the memory, docs/scale.md); pass
``transform=None`` to keep them as the server sent them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

from kubenode.apimachinery.tasks import cancel_and_wait
from kubenode.client import ApiError, Gone, KubeClient, Resource

from .cache import Cache, Obj, compact

log = logging.getLogger(__name__)

Handler = Callable[[Obj | None, Obj | None], None]


class Informer:
    """A shared, self-healing list+watch of one resource (optionally one namespace / selectors)."""

    def __init__(self, client: KubeClient, resource: Resource, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None, *,
                 watch_timeout: int = 300, page_size: int = 500,
                 min_backoff: float = 0.2, max_backoff: float = 30.0,
                 transform: Callable[[Obj], Obj] | None = compact) -> None:
        """Create an informer; nothing happens until :meth:`start`.

        ``transform`` makes what is cached from each listed or watched object (a new object; the default
        :func:`~.cache.compact` drops managedFields and shares repeated strings); ``None`` caches them as sent.
        """
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.watch_timeout = watch_timeout
        self.page_size = page_size
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.transform = transform
        self.cache = Cache(transform)
        self.resource_version: str | None = None
        self.relists = 0  # how many times the informer had to LIST (1 + re-lists); useful in tests and logs
        self._handlers: list[Handler] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        where = f" ns={self.namespace}" if self.namespace else ""
        return f"<Informer {self.resource.plural}{where} ls={self.label_selector!r} fs={self.field_selector!r}>"

    @property
    def has_synced(self) -> bool:
        """True once the first LIST has been stored in the cache."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        """Wait for the first LIST (bound it with ``asyncio.timeout``)."""
        await self._synced.wait()

    def on_change(self, handler: Handler) -> None:
        """Call ``handler(old, new)`` on every change; objects already cached are replayed as adds."""
        self._handlers.append(handler)
        for obj in self.cache.list():
            self._call(handler, None, obj)

    @property
    def running(self) -> bool:
        """Whether the list/watch loop is running."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the list/watch loop in a task (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"informer:{self.resource.plural}")

    async def stop(self) -> None:
        """Stop the loop and wait for it; the cache keeps its last state."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                if self.resource_version is None:
                    await self._list()
                started = asyncio.get_running_loop().time()
                await self._watch()
                failures = 0  # a watch that ended normally (server timeout) is healthy
                if asyncio.get_running_loop().time() - started < 1.0:
                    # A server that keeps closing watches at once (e.g. shutting down) must not make us spin.
                    await asyncio.sleep(self.min_backoff)
            except Gone as exc:
                # Our resourceVersion fell out of the server's history: start over from a fresh list.
                log.info("%r: %s; re-listing", self, exc.message)
                self.resource_version = None
                failures = 0
            except asyncio.CancelledError:
                raise
            except (ApiError, TimeoutError, OSError, ValueError) as exc:  # TransportError is an OSError
                failures += 1
                delay = min(self.max_backoff, self.min_backoff * 2 ** min(failures - 1, 20))
                delay *= 0.5 + random.random() / 2
                log.warning("%r: %s: %s; retrying in %.2fs", self, type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)

    async def _list(self) -> None:
        items, rv = await self.client.list(
            self.resource, self.namespace, label_selector=self.label_selector,
            field_selector=self.field_selector, limit=self.page_size, transform=self.transform)
        self.relists += 1
        changes = self.cache.replace(items)
        self.resource_version = rv
        self._synced.set()
        for old, new in changes:
            self._notify(old, new)

    async def _watch(self) -> None:
        stream = self.client.watch(
            self.resource, self.namespace, resource_version=self.resource_version,
            label_selector=self.label_selector, field_selector=self.field_selector,
            timeout_seconds=self.watch_timeout, allow_bookmarks=True)
        async with contextlib.aclosing(stream):
            async for event in stream:
                obj = event.object
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                if event.type == "BOOKMARK":
                    pass
                elif event.type in ("ADDED", "MODIFIED"):
                    obj.setdefault("kind", self.resource.kind)
                    obj.setdefault("apiVersion", self.resource.api_version)
                    if self.transform is not None:
                        obj = self.transform(obj)
                    old = self.cache.upsert(obj)
                    self._notify(old, obj)
                elif event.type == "DELETED":
                    old = self.cache.delete(obj)
                    self._notify(old, None)
                else:
                    log.warning("%r: ignoring unknown watch event type %r", self, event.type)
                    continue
                if rv:
                    self.resource_version = str(rv)

    def _notify(self, old: Obj | None, new: Obj | None) -> None:
        for handler in self._handlers:
            self._call(handler, old, new)

    def _call(self, handler: Handler, old: Obj | None, new: Obj | None) -> None:
        # One faulty handler must not stop the informer or starve the others.
        try:
            handler(old, new)
        except Exception:
            log.exception("%r: event handler %r failed", self, handler)


class InformerFactory:
    """One shared :class:`Informer` per (resource, namespace, selectors), started and stopped together."""

    def __init__(self, client: KubeClient, **informer_options: Any) -> None:
        """``informer_options`` are passed to every :class:`Informer` (e.g. ``watch_timeout``)."""
        self.client = client
        self._options = informer_options
        self._informers: dict[tuple[Resource, str | None, str | None, str | None], Informer] = {}
        self._started = False

    def informer(self, resource: Resource, namespace: str | None = None, label_selector: str | None = None,
                 field_selector: str | None = None) -> Informer:
        """The shared informer for these parameters (created, and started if the factory runs)."""
        key = (resource, namespace, label_selector, field_selector)
        inf = self._informers.get(key)
        if inf is None:
            inf = Informer(self.client, resource, namespace, label_selector, field_selector, **self._options)
            self._informers[key] = inf
            if self._started:
                inf.start()
        return inf

    @property
    def informers(self) -> list[Informer]:
        """Every informer created so far."""
        return list(self._informers.values())

    @property
    def has_synced(self) -> bool:
        """True when every informer has synced."""
        return all(i.has_synced for i in self._informers.values())

    def start(self) -> None:
        """Start every informer, and any created later."""
        self._started = True
        for inf in self._informers.values():
            inf.start()

    async def wait_synced(self) -> None:
        """Wait until every informer has synced (bound it with ``asyncio.timeout``)."""
        for inf in list(self._informers.values()):
            await inf.wait_synced()

    async def stop(self) -> None:
        """Stop every informer."""
        self._started = False
        await asyncio.gather(*(inf.stop() for inf in self._informers.values()))
