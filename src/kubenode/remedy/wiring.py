"""Puts the Remedy Operator's controllers on a Manager (called by `controlplane.operators`).

Every informer, index, handler and watch of the NodeRemedier and
RemedyOperationJob controllers is set up here and nowhere else: the
reconcilers' constructors only keep what they are given. A Node event wakes
only the remediers whose selector matches the node (`requests_for_node`),
not every remedier over the fleet.
"""

from __future__ import annotations

from typing import Any

from kubenode.api.constants import LABEL_REMEDIER
from kubenode.api.defender import Reviewer
from kubenode.client.client import KubeClient
from kubenode.client.resources import NODES
from kubenode.metrics.remedy_metrics import RemedyMetrics
from kubenode.runtime.controller import Request
from kubenode.runtime.events import EventQueue, EventRecorder
from kubenode.runtime.labels import labels_of
from kubenode.runtime.manager import Manager

from .controller import (
    INDEX_ACTIVE_NODE,
    INDEX_REMEDIER,
    RemedierReconciler,
    RemedySettings,
    active_node_of_job,
    remedier_of_job,
)
from .job_controller import JobReconciler
from .resources import NODE_REMEDIERS, REMEDY_JOBS

Obj = dict[str, Any]


def remedier_of(job: Obj) -> list[Request]:
    """Mapper: a job's remedier (label kubenode.io/remedier)."""
    name = labels_of(job).get(LABEL_REMEDIER)
    return [Request(name)] if name else []


def add_remedy_controllers(manager: Manager, client: KubeClient, reviewer: Reviewer, settings: RemedySettings,
                           identity: str = "kubenode-operator") -> RemedyMetrics:
    """Add the NodeRemedier and RemedyOperationJob controllers (and their metrics) to `manager`."""
    remediers = manager.informers.informer(NODE_REMEDIERS)
    nodes = manager.informers.informer(NODES)
    jobs = manager.informers.informer(REMEDY_JOBS)
    jobs.cache.add_index(INDEX_REMEDIER, remedier_of_job)
    jobs.cache.add_index(INDEX_ACTIVE_NODE, active_node_of_job)
    metrics = RemedyMetrics(manager.registry, jobs)
    # Sent in the background: in a wave of faults a job's Approved write does not wait behind the Events of
    # the jobs before it (bench/scale.py's remediation latency); a clean stop sends what is left.
    events = EventQueue(EventRecorder(client, "kubenode-remedy-controller", identity))
    manager.add(events, needs_leader_election=False)

    async def on_event(obj: Obj, type_: str, reason: str, message: str) -> None:
        await events.event(obj, type_, reason, message)

    remedier_rec = RemedierReconciler(client, remediers, nodes, jobs, settings, on_event=on_event,
                                      on_recovered=metrics.recovered, on_gave_up=metrics.gave_up.inc,
                                      on_planned=metrics.nodes_planned)
    (manager.new_controller("noderemedier", remedier_rec, workers=1)
     .watches(remediers).watches(nodes, remedier_rec.requests_for_node).watches(jobs, remedier_of))
    job_rec = JobReconciler(client, jobs, reviewer, on_event=on_event, on_decision=metrics.decision,
                            on_outcome=metrics.outcome)
    manager.new_controller("remedyjob", job_rec, workers=settings.workers).watches(jobs)
    return metrics
