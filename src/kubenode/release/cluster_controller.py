"""The Cluster prober: reach each member through its kubeconfig Secret and record what it saw in status.

One reconcile per Cluster: read the Secret, ask the member's /version and
list its Nodes, Machines, MachineComponents, RemedyOperationJobs and
DefenderPolicies, and write `Cluster.status` (counts, Reachable, Ready,
lastProbeTime) once; then probe again after `spec.probeIntervalSeconds`.
A failed probe keeps the last counts and sets Reachable=False with the
reason, which the release controller and the console read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kubenode.api import constants as c
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.resources import NODES
from kubenode.runtime.conditions import get_condition, now_rfc3339
from kubenode.runtime.controller import Request, Result
from kubenode.runtime.informer import Informer

from .cluster_status import reachable_status, summarize, unreachable_status
from .members import UNREACHABLE_ERRORS, MemberClients, MemberUnavailable
from .resources import CLUSTERS, DEFENDER_POLICIES, MACHINE_COMPONENTS, MACHINES, REMEDY_OPERATION_JOBS

log = logging.getLogger("kubenode.release.clusters")
Obj = dict[str, Any]
EventFn = Callable[[Obj, str, str, str], Awaitable[None]]

DEFAULT_PROBE_SECONDS = 15.0


class ClusterReconciler:
    """Probes one Cluster per call."""

    def __init__(self, client: KubeClient, clusters: Informer, members: MemberClients, *,
                 on_event: EventFn | None = None, probe_seconds: float | None = None) -> None:
        self.client = client
        self.clusters = clusters
        self.members = members
        self.on_event = on_event
        #: Overrides every Cluster's spec.probeIntervalSeconds (tests, `kubenode up --clusters`).
        self.probe_seconds = probe_seconds

    async def _probe(self, cluster: Obj) -> Obj:
        member = await self.members.get(cluster)
        version, (nodes, _), (machines, _), (comps, _), (jobs, _), (policies, _) = await asyncio.gather(
            member.server_version(), member.list(NODES), member.list(MACHINES), member.list(MACHINE_COMPONENTS),
            member.list(REMEDY_OPERATION_JOBS), member.list(DEFENDER_POLICIES))
        return summarize(version, nodes, machines, comps, jobs, policies)

    async def __call__(self, req: Request) -> Result | None:
        cluster = self.clusters.cache.get("", req.name)
        if cluster is None:
            await self.members.forget(req.name)
            return None
        spec, previous = cluster.get("spec") or {}, cluster.get("status") or {}
        interval = self.probe_seconds or float(spec.get("probeIntervalSeconds") or DEFAULT_PROBE_SECONDS)
        generation = int(cluster["metadata"].get("generation") or 1)
        now = now_rfc3339()
        try:
            status = reachable_status(previous, await self._probe(cluster), now, generation)
        except MemberUnavailable as exc:
            status = unreachable_status(previous, exc.reason, str(exc), now, generation)
        except UNREACHABLE_ERRORS as exc:
            status = unreachable_status(previous, c.CLUSTER_REASON_PROBE_FAILED,
                                        f"the member API did not answer: {exc or type(exc).__name__}", now,
                                        generation)
        was = get_condition(previous.get("conditions"), c.CLUSTER_CONDITION_REACHABLE) or {}
        now_cond = get_condition(status["conditions"], c.CLUSTER_CONDITION_REACHABLE) or {}
        try:
            await self.client.patch_status(CLUSTERS, req.name, {"status": status})
        except errors.NotFound:
            return None
        if was.get("status") != now_cond.get("status") and self.on_event is not None:
            warn = now_cond.get("status") != c.CONDITION_TRUE
            await self.on_event(cluster, "Warning" if warn else "Normal", str(now_cond.get("reason")),
                                str(now_cond.get("message")))
        return Result(requeue_after=interval)
