"""Leader election on a ``coordination.k8s.io/v1`` Lease, like client-go's ``leaderelection``.

* Acquire: every ``retry_period`` try to take the Lease. It is free when it
  has no holder or when its record has not changed for ``lease_duration``
  *as observed by this replica's own clock* (no cross-host clock comparison).
* Renew: while leading, renew every ``retry_period``. If no renewal succeeds
  within ``renew_deadline`` — including when requests hang, as in a network
  partition — the replica **stops acting at once** (``on_stopped_leading``)
  and :meth:`LeaderElector.run` returns; the process is expected to stop its
  controllers (the :class:`~.manager.Manager` does).
* Every write carries the read ``resourceVersion`` (optimistic concurrency),
  so two candidates can never both win.
* On a graceful stop (task cancelled or :meth:`LeaderElector.stop`) the
  leader releases the Lease (empty holder, duration 1 s) so a successor takes
  over without waiting for the lease to expire.

Require ``lease_duration > renew_deadline > retry_period``: a deposed leader
then stops acting before anyone else may acquire the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kubenode.apimachinery.tasks import cancel_and_wait
from kubenode.client import LEASES, AlreadyExists, ApiError, Conflict, KubeClient, NotFound

log = logging.getLogger(__name__)

Callback = Callable[[], Awaitable[None] | None]
NewLeaderCallback = Callable[[str], None]

MICROTIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def default_identity() -> str:
    """``hostname_<random>``: unique per process, readable in ``kubectl get lease``."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def micro_time(t: dt.datetime | None = None) -> str:
    """A Kubernetes MicroTime string, e.g. ``2026-11-25T11:12:03.123456Z``."""
    t = t or dt.datetime.now(dt.UTC)
    return t.astimezone(dt.UTC).strftime(MICROTIME_FORMAT)


@dataclass
class LeaderElectionConfig:
    """Where the Lease lives, who we are, and the client-go timings (seconds)."""

    lease_name: str
    lease_namespace: str = field(default_factory=lambda: os.environ.get("POD_NAMESPACE", "kube-system"))
    identity: str = field(default_factory=default_identity)
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")


class LeaderElector:
    """Campaigns for one Lease and reports when this replica starts and stops leading."""

    def __init__(self, client: KubeClient, config: LeaderElectionConfig, *,
                 on_started_leading: Callback | None = None, on_stopped_leading: Callback | None = None,
                 on_new_leader: NewLeaderCallback | None = None) -> None:
        """Start/stop callbacks may be sync or async; ``on_new_leader`` is sync. All run in the elector's task."""
        self.client = client
        self.config = config
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self._leading = False
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0  # loop time when the observed record last changed
        self._observed_rv: str | None = None
        self._leader: str | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def identity(self) -> str:
        """This candidate's holderIdentity."""
        return self.config.identity

    @property
    def is_leader(self) -> bool:
        """True while this replica holds and has recently renewed the lease."""
        return self._leading

    @property
    def leader(self) -> str | None:
        """The last observed holder (``None`` if unknown or nobody)."""
        return self._leader

    def start(self) -> None:
        """Run :meth:`run` in a task."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"leaderelection:{self.config.lease_name}")

    async def stop(self) -> None:
        """Stop campaigning; a leader releases the lease (if ``release_on_cancel``)."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def wait(self) -> None:
        """Wait until the task started by :meth:`start` ends (the lease was lost, or stopped)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)

    async def run(self) -> None:
        """Acquire, then renew until the lease is lost (return) or the task is cancelled (release)."""
        cfg = self.config
        try:
            while True:
                if await self._attempt(cfg.retry_period):
                    break
                await asyncio.sleep(cfg.retry_period)
            self._leading = True
            log.info("%s: became leader of lease %s/%s", cfg.identity, cfg.lease_namespace, cfg.lease_name)
            await _call(self.on_started_leading)
            await self._renew_loop()
        except asyncio.CancelledError:
            if self._leading and cfg.release_on_cancel:
                await self._release()
            raise
        finally:
            if self._leading:
                self._leading = False
                await _call(self.on_stopped_leading)

    async def _renew_loop(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(cfg.retry_period)
            deadline = loop.time() + cfg.renew_deadline
            renewed = False
            while not renewed:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                renewed = await self._attempt(min(remaining, cfg.retry_period))
                if not renewed:
                    # Sleep no longer than the deadline allows: stopping late would overlap a successor.
                    await asyncio.sleep(max(0.0, min(cfg.retry_period, deadline - loop.time())))
            if not renewed:
                log.warning("%s: failed to renew lease %s/%s within %.1fs; stopping leading", cfg.identity,
                            cfg.lease_namespace, cfg.lease_name, cfg.renew_deadline)
                return

    async def _attempt(self, budget: float) -> bool:
        """One try (at most ``budget`` seconds) to acquire or renew; any failure, even a hang, is 'not now'."""
        try:
            async with asyncio.timeout(budget):
                return await self._try_acquire_or_renew()
        except TimeoutError:
            log.debug("%s: lease request timed out", self.config.identity)
        except (ApiError, OSError, ValueError) as exc:
            log.debug("%s: lease request failed: %s", self.config.identity, exc)
        except Exception as exc:  # aiohttp client errors and the like: never kill the elector
            log.debug("%s: lease request failed: %r", self.config.identity, exc)
        return False

    def _spec(self, acquire_time: str, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": max(1, round(self.config.lease_duration)),
            "acquireTime": acquire_time,
            "renewTime": micro_time(),
            "leaseTransitions": transitions,
        }

    async def _try_acquire_or_renew(self) -> bool:
        cfg = self.config
        now = micro_time()
        try:
            lease = await self.client.get(LEASES, cfg.lease_name, cfg.lease_namespace)
        except NotFound:
            body = {"metadata": {"name": cfg.lease_name, "namespace": cfg.lease_namespace},
                    "spec": self._spec(now, 0)}
            try:
                created = await self.client.create(LEASES, body)
            except (AlreadyExists, Conflict):
                return False
            self._observe(created)
            return True
        self._observe(lease)
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        loop_now = asyncio.get_running_loop().time()
        if holder and holder != cfg.identity and self._observed_at + self._lease_seconds(spec) > loop_now:
            return False
        if holder == cfg.identity:
            new_spec = self._spec(spec.get("acquireTime") or now, int(spec.get("leaseTransitions") or 0))
        else:
            new_spec = self._spec(now, int(spec.get("leaseTransitions") or 0) + (1 if holder else 0))
        body = {**lease, "spec": new_spec}
        try:
            updated = await self.client.replace(LEASES, body)
        except Conflict:
            return False
        self._observe(updated)
        return True

    def _lease_seconds(self, spec: dict[str, Any]) -> float:
        try:
            return float(spec.get("leaseDurationSeconds") or self.config.lease_duration)
        except (TypeError, ValueError):
            return self.config.lease_duration

    def _observe(self, lease: dict[str, Any]) -> None:
        spec = lease.get("spec") or {}
        rv = (lease.get("metadata") or {}).get("resourceVersion")
        if spec != self._observed_spec:
            self._observed_spec = dict(spec)
            self._observed_at = asyncio.get_running_loop().time()
        self._observed_rv = rv
        holder = spec.get("holderIdentity") or None
        if holder != self._leader:
            self._leader = holder
            if holder and self.on_new_leader is not None:
                try:
                    self.on_new_leader(holder)
                except Exception:
                    log.exception("on_new_leader callback failed")

    async def _release(self) -> None:
        """Hand the lease back (empty holder, 1 s duration) if we still hold it; best effort."""
        cfg = self.config
        try:
            async with asyncio.timeout(cfg.retry_period):
                while True:  # a write that raced ours (409) is read again: if we still hold it, release it
                    lease = await self.client.get(LEASES, cfg.lease_name, cfg.lease_namespace)
                    spec = lease.get("spec") or {}
                    if spec.get("holderIdentity") != cfg.identity:
                        return
                    now = micro_time()
                    released = {"holderIdentity": "", "leaseDurationSeconds": 1, "acquireTime": now,
                                "renewTime": now, "leaseTransitions": int(spec.get("leaseTransitions") or 0)}
                    try:
                        await self.client.replace(LEASES, {**lease, "spec": released})
                    except Conflict:
                        continue
                    log.info("%s: released lease %s/%s", cfg.identity, cfg.lease_namespace, cfg.lease_name)
                    return
        except Exception as exc:
            log.warning("%s: could not release lease: %r", cfg.identity, exc)


async def _call(callback: Callback | None) -> None:
    if callback is None:
        return
    try:
        result = callback()
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("leader election callback failed")
