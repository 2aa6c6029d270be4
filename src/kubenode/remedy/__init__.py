"""The Remedy Operator: NodeRemediers turn unhealthy node conditions into RemedyOperationJobs.

Two controllers share one set of informers: the remedier controller plans
the escalation ladder per node and creates jobs; the job controller asks
the Defender (any `kubenode.api.defender.Reviewer`, passed in by the wiring
layer), records the verdict, runs controller-side actions and times jobs
out. Agent-side actions are run by the node's agent (`agent/executor`).
"""

from __future__ import annotations

from typing import Any

from kubenode.api.defender import Reviewer
from kubenode.client.client import KubeClient
from kubenode.client.resources import NODES
from kubenode.metrics.remedy_metrics import RemedyMetrics
from kubenode.runtime.controller import Request
from kubenode.runtime.events import EventRecorder
from kubenode.runtime.labels import labels_of
from kubenode.runtime.manager import Manager

from .job_controller import JobReconciler
from .remedier_controller import RemedierReconciler, RemedySettings
from .resources import NODE_REMEDIERS, REMEDY_JOBS

__all__ = ["RemedierReconciler", "RemedySettings", "add_remedy_controllers"]

Obj = dict[str, Any]


def add_remedy_controllers(manager: Manager, client: KubeClient, reviewer: Reviewer, settings: RemedySettings,
                           identity: str = "kubenode-operator") -> RemedyMetrics:
    """Add the NodeRemedier and RemedyOperationJob controllers (and their metrics) to `manager`."""
    remediers = manager.informers.informer(NODE_REMEDIERS)
    nodes = manager.informers.informer(NODES)
    jobs = manager.informers.informer(REMEDY_JOBS)
    metrics = RemedyMetrics(manager.registry, jobs)
    recorder = EventRecorder(client, "kubenode-remedy-controller", identity)

    async def on_event(obj: Obj, type_: str, reason: str, message: str) -> None:
        await recorder.event(obj, type_, reason, message)

    remedier_rec = RemedierReconciler(client, remediers, nodes, jobs, settings, on_event=on_event,
                                      on_recovered=metrics.recovered, on_gave_up=metrics.gave_up.inc,
                                      on_planned=metrics.nodes_planned)

    def remedier_of(job: Obj) -> list[Request]:
        name = labels_of(job).get("kubenode.io/remedier")
        return [Request(name)] if name else []

    (manager.new_controller("noderemedier", remedier_rec, workers=1)
     .watches(remediers).watches(nodes, remedier_rec.requests_for_node).watches(jobs, remedier_of))
    job_rec = JobReconciler(client, jobs, reviewer, on_event=on_event, on_decision=metrics.decision,
                            on_outcome=metrics.outcome)
    manager.new_controller("remedyjob", job_rec, workers=settings.workers).watches(jobs)
    return metrics
