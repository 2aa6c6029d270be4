"""A controller: informers feed keys into a work queue; N workers run ``reconcile(Request)``.

The reconcile contract is controller-runtime's:

* return ``None`` or ``Result()`` — done, backoff forgotten;
* ``Result(requeue_after=s)`` — reconcile again in ``s`` seconds;
* ``Result(requeue=True)`` — reconcile again with the per-item backoff;
* raise — logged, counted, retried with per-item exponential backoff;
* raise :class:`TerminalError` — logged and counted, **not** retried until
  the object changes again.

A key is never reconciled by two workers at once (see :mod:`.workqueue`).
Metrics go to the prometheus registry the caller passes, pre-initialised to
zero for every label value so dashboards and alerts see series from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .cache import Obj
from .informer import Informer
from .workqueue import RateLimiter, WorkQueue

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)

RESULTS = ("success", "error", "requeue")


@dataclass(frozen=True)
class Request:
    """What to reconcile: an object's name and namespace (``""`` for cluster-scoped)."""

    name: str
    namespace: str = ""

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class Result:
    """What to do after a successful reconcile."""

    requeue_after: float | None = None
    requeue: bool = False


class TerminalError(Exception):
    """A reconcile failure that retrying cannot fix (bad spec): logged and counted, not requeued."""


Reconciler = Callable[[Request], Awaitable[Result | None]]
Mapper = Callable[[Obj], Iterable[Request]]


def request_for_object(obj: Obj) -> list[Request]:
    """The default mapper: reconcile the object itself."""
    meta = obj.get("metadata") or {}
    return [Request(str(meta.get("name", "")), str(meta.get("namespace") or ""))]


def owner_mapper(kind: str, api_group: str | None = None, *, owner_namespaced: bool = True,
                 controller_only: bool = True) -> Mapper:
    """A mapper from an object to its owner(s) of ``kind`` (optionally of ``api_group``).

    The owner is looked up in the object's namespace when ``owner_namespaced``,
    else as a cluster-scoped name. With ``controller_only`` only the owner
    reference marked ``controller: true`` counts.
    """

    def mapper(obj: Obj) -> list[Request]:
        meta = obj.get("metadata") or {}
        ns = str(meta.get("namespace") or "") if owner_namespaced else ""
        out = []
        for ref in meta.get("ownerReferences") or ():
            if ref.get("kind") != kind or (controller_only and not ref.get("controller")):
                continue
            if api_group is not None and str(ref.get("apiVersion", "")).rpartition("/")[0] != api_group:
                continue
            out.append(Request(str(ref.get("name", "")), ns))
        return out

    return mapper


def init_series(metrics: ControllerMetrics | LocalMetrics, name: str) -> None:
    """Create every series of controller ``name`` at zero (the same families on either kind of metrics)."""
    for result in RESULTS:
        metrics.reconcile_total.labels(name, result)
    metrics.reconcile_errors.labels(name)
    metrics.terminal_errors.labels(name)
    metrics.reconcile_duration.labels(name)
    metrics.workqueue_depth.labels(name).set(0)


class ControllerMetrics:
    """The controller and work-queue metric families on one registry (shared by its controllers)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.reconcile_total = Counter(
            "kubenode_controller_reconcile_total", "Reconciles per controller and result.",
            ["controller", "result"], registry=registry)
        self.reconcile_errors = Counter(
            "kubenode_controller_reconcile_errors_total", "Reconciles that raised, per controller.",
            ["controller"], registry=registry)
        self.terminal_errors = Counter(
            "kubenode_controller_terminal_reconcile_errors_total",
            "Reconciles that raised TerminalError (not retried), per controller.", ["controller"], registry=registry)
        self.reconcile_duration = Histogram(
            "kubenode_controller_reconcile_duration_seconds", "Time per reconcile.", ["controller"],
            registry=registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.workqueue_depth = Gauge(
            "kubenode_workqueue_depth", "Keys ready in a work queue.", ["name"], registry=registry)

    def init_controller(self, name: str) -> None:
        """Create every series of controller ``name`` at zero."""
        init_series(self, name)


class _Series:
    """One labelled series of :class:`LocalMetrics`: the operations the controller uses."""

    __slots__ = ("key", "values")

    def __init__(self, values: dict[tuple[str, ...], float], key: tuple[str, ...]) -> None:
        self.values = values
        self.key = key
        values.setdefault(key, 0.0)

    def inc(self, amount: float = 1.0) -> None:
        self.values[self.key] += amount

    def set(self, value: float) -> None:
        self.values[self.key] = value

    def observe(self, _value: float) -> None:
        self.values[self.key] += 1  # the count of observations; a private controller keeps no buckets


class _Family:
    __slots__ = ("name", "values")

    def __init__(self, name: str, values: dict[tuple[str, ...], float]) -> None:
        self.name = name
        self.values = values

    def labels(self, *label_values: str) -> _Series:
        return _Series(self.values, (self.name, *label_values))


class LocalMetrics:
    """The controller metrics of a controller without a registry: plain numbers, read by :meth:`Controller.sample`.

    Such a controller's metrics are exposed nowhere, so they need not be prometheus_client objects (whose import
    loads its HTTP exposition stack, ~5 MiB of a node agent's RSS: issue 15).
    """

    def __init__(self) -> None:
        self.values: dict[tuple[str, ...], float] = {}
        self.reconcile_total = _Family("kubenode_controller_reconcile_total", self.values)
        self.reconcile_errors = _Family("kubenode_controller_reconcile_errors_total", self.values)
        self.terminal_errors = _Family("kubenode_controller_terminal_reconcile_errors_total", self.values)
        self.reconcile_duration = _Family("kubenode_controller_reconcile_duration_seconds_count", self.values)
        self.workqueue_depth = _Family("kubenode_workqueue_depth", self.values)

    def init_controller(self, name: str) -> None:
        """Create every series of controller ``name`` at zero."""
        init_series(self, name)

    def value(self, metric: str, *label_values: str) -> float:
        """The current value of one series (0 when never touched)."""
        return self.values.get((metric, *label_values), 0.0)


_METRICS: weakref.WeakKeyDictionary[CollectorRegistry, ControllerMetrics] = weakref.WeakKeyDictionary()


def metrics_for(registry: CollectorRegistry) -> ControllerMetrics:
    """The :class:`ControllerMetrics` of ``registry`` (registered once, however many controllers use it)."""
    m = _METRICS.get(registry)
    if m is None:
        m = _METRICS[registry] = ControllerMetrics(registry)
    return m


class Controller:
    """Reconciles the keys its watched informers produce, with ``workers`` concurrent workers."""

    def __init__(self, name: str, reconcile: Reconciler, *, workers: int = 1,
                 registry: CollectorRegistry | None = None, rate_limiter: RateLimiter | None = None) -> None:
        """Create a controller; without ``registry`` its metrics are private numbers (:class:`LocalMetrics`)."""
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.name = name
        self.reconcile = reconcile
        self.workers = workers
        self.registry = registry
        self.metrics: ControllerMetrics | LocalMetrics = (metrics_for(registry) if registry is not None
                                                          else LocalMetrics())
        self.metrics.init_controller(name)
        depth = self.metrics.workqueue_depth.labels(name)
        self.queue: WorkQueue[Request] = WorkQueue(name, rate_limiter, on_depth=depth.set)
        self._informers: list[Informer] = []
        self._tasks: list[asyncio.Task[None]] = []

    def __repr__(self) -> str:
        return f"<Controller {self.name}>"

    def watches(self, informer: Informer, mapper: Mapper | None = None) -> Controller:
        """Enqueue ``mapper(obj)`` (default: the object itself) for every change ``informer`` sees.

        On an update both the old and the new object are mapped, so a
        changed owner reference wakes the old owner too.
        """
        fn = mapper or request_for_object

        def handler(old: Obj | None, new: Obj | None) -> None:
            requests: set[Request] = set()
            for obj in (old, new):
                if obj is not None:
                    requests.update(fn(obj))
            for req in requests:
                self.queue.add(req)

        self._informers.append(informer)
        informer.on_change(handler)
        return self

    @property
    def informers(self) -> list[Informer]:
        """Informers this controller watches."""
        return list(self._informers)

    @property
    def running(self) -> bool:
        """Whether workers are running."""
        return any(not t.done() for t in self._tasks)

    async def start(self) -> None:
        """Wait for the watched informers to sync, then start the workers."""
        if self._tasks:
            return
        for inf in self._informers:
            await inf.wait_synced()
        if self.queue.shutting_down:  # stopped while waiting for caches
            return
        self._tasks = [asyncio.create_task(self._worker(), name=f"controller:{self.name}:{i}")
                       for i in range(self.workers)]
        log.info("controller %s started with %d workers", self.name, self.workers)

    async def stop(self, *, drain: bool = True) -> None:
        """Stop the workers: with ``drain`` in-flight reconciles finish, otherwise they are cancelled."""
        self.queue.shutdown()
        tasks, self._tasks = self._tasks, []
        if not drain:
            for t in tasks:
                t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        log.info("controller %s stopped", self.name)

    async def _worker(self) -> None:
        while (req := await self.queue.get()) is not None:
            try:
                await self._process(req)
            finally:
                self.queue.done(req)

    async def _process(self, req: Request) -> None:
        m, name = self.metrics, self.name
        started = time.perf_counter()
        try:
            result = await self.reconcile(req)
        except asyncio.CancelledError:
            raise
        except TerminalError as exc:
            self.queue.forget(req)
            m.reconcile_total.labels(name, "error").inc()
            m.reconcile_errors.labels(name).inc()
            m.terminal_errors.labels(name).inc()
            log.error("controller %s: %s: terminal error, not retrying: %s", name, req, exc)
            return
        except Exception as exc:
            self.queue.add_rate_limited(req)
            m.reconcile_total.labels(name, "error").inc()
            m.reconcile_errors.labels(name).inc()
            log.warning("controller %s: %s: reconcile failed (retry %d): %s", name, req,
                        self.queue.num_requeues(req), exc, exc_info=log.isEnabledFor(logging.DEBUG))
            return
        finally:
            m.reconcile_duration.labels(name).observe(time.perf_counter() - started)
        if result is not None and result.requeue_after is not None:
            self.queue.forget(req)
            self.queue.add_after(req, result.requeue_after)
            m.reconcile_total.labels(name, "requeue").inc()
        elif result is not None and result.requeue:
            self.queue.add_rate_limited(req)
            m.reconcile_total.labels(name, "requeue").inc()
        else:
            self.queue.forget(req)
            m.reconcile_total.labels(name, "success").inc()

    def sample(self) -> Mapping[str, Any]:
        """Current counter values of this controller (handy in tests and debug endpoints)."""
        def value(metric: str, labels: dict[str, str]) -> float:
            if isinstance(self.metrics, LocalMetrics):
                return self.metrics.value(metric, *labels.values())
            assert self.registry is not None
            return self.registry.get_sample_value(metric, labels) or 0.0

        c = {"controller": self.name}
        return {
            **{r: value("kubenode_controller_reconcile_total", {**c, "result": r}) for r in RESULTS},
            "errors": value("kubenode_controller_reconcile_errors_total", c),
            "terminal": value("kubenode_controller_terminal_reconcile_errors_total", c),
        }
