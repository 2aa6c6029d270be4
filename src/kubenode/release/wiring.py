"""Puts the Cluster prober and the ComponentRelease controller on a Manager (called by `controlplane.operators`).

Both run on every operator: without Cluster objects (a member, or a single
cluster) they have nothing to do. A Cluster's own status writes (every
probe) must not wake its prober again, so the prober is woken only when a
Cluster's spec or labels change; releases are woken when a Cluster appears,
goes, changes labels or becomes (un)reachable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from kubenode.api.defender import AllowAll, Reviewer
from kubenode.client.client import KubeClient
from kubenode.runtime.controller import Controller, Request
from kubenode.runtime.events import EventRecorder
from kubenode.runtime.informer import Informer
from kubenode.runtime.manager import Manager

from .cluster_controller import ClusterReconciler
from .controller import ReleaseReconciler, ReleaseSettings
from .members import MemberClients
from .metrics import register_release_metrics
from .resources import CLUSTERS, COMPONENT_RELEASES

Obj = dict[str, Any]


@dataclass
class ReleaseControllers:
    """The controllers and informers added to a manager."""

    releases: Controller
    clusters: Controller
    release_reconciler: ReleaseReconciler
    cluster_reconciler: ClusterReconciler
    release_informer: Informer
    cluster_informer: Informer
    members: MemberClients


def _cluster_identity(o: Obj | None) -> tuple[Any, ...] | None:
    if o is None:
        return None
    meta = o["metadata"]
    return (meta.get("uid"), meta.get("generation"), tuple(sorted((meta.get("labels") or {}).items())),
            bool(meta.get("deletionTimestamp")))


class _CloseMembers:
    """A runnable whose stop closes the member clients (so no session leaks past the manager)."""

    def __init__(self, members: MemberClients) -> None:
        self.members = members

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self, *, drain: bool = True) -> None:
        """Close every member client."""
        await self.members.close()


def add_release_controllers(manager: Manager, client: KubeClient, *, reviewer: Reviewer | None = None,
                            registry: CollectorRegistry | None = None, settings: ReleaseSettings | None = None,
                            probe_seconds: float | None = None, identity: str = "") -> ReleaseControllers:
    """Add the Cluster prober and the ComponentRelease controller to `manager`."""
    releases = manager.informers.informer(COMPONENT_RELEASES)
    clusters = manager.informers.informer(CLUSTERS)
    members = MemberClients(client)
    rec = EventRecorder(client, "kubenode-release-controller", identity)

    async def on_event(obj: Obj, type_: str, reason: str, message: str) -> None:
        await rec.event(obj, type_, reason, message)

    metrics = register_release_metrics(registry if registry is not None else manager.registry)
    release_rec = ReleaseReconciler(client, releases, clusters, members, reviewer or AllowAll(), on_event=on_event,
                                    metrics=metrics, settings=settings)
    release_ctl = manager.new_controller("componentrelease", release_rec, workers=2).watches(releases)
    release_ctl.watches(clusters, lambda _: ())  # registered for cache sync; events are routed below
    cluster_rec = ClusterReconciler(client, clusters, members, on_event=on_event, probe_seconds=probe_seconds)
    cluster_ctl = manager.new_controller("cluster", cluster_rec, workers=2)
    cluster_ctl.watches(clusters, lambda _: ())

    def on_cluster(old: Obj | None, new: Obj | None) -> None:
        name = (new or old or {}).get("metadata", {}).get("name")
        if name and _cluster_identity(old) != _cluster_identity(new):
            cluster_ctl.queue.add(Request(name))
        reach = [((o.get("status") or {}).get("reachable") if o else None) for o in (old, new)]
        if _cluster_identity(old) != _cluster_identity(new) or reach[0] != reach[1]:
            for r in releases.cache.list():
                release_ctl.queue.add(Request(r["metadata"]["name"]))

    clusters.on_change(on_cluster)
    manager.add(_CloseMembers(members), needs_leader_election=False)
    return ReleaseControllers(release_ctl, cluster_ctl, release_rec, cluster_rec, releases, clusters, members)
