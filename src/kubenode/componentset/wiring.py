"""Puts the MachineComponentSet controllers on a Manager (called by `controlplane.operators`).

Machines change all the time (heartbeats every few seconds), but a set only
cares when a machine appears, disappears, is being deleted or changes labels
or node: the machine handler compares old and new and wakes the matching
sets only then, so a large fleet's heartbeats do not turn into reconciles.
Component changes are coalesced for the same reason (see
`COMPONENT_COALESCE_SECONDS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from kubenode.api import constants as c
from kubenode.api.constants import KIND_MACHINE_COMPONENT_SET
from kubenode.api.defender import AllowAll, Reviewer
from kubenode.apimachinery.selectors import label_selector_from_dict
from kubenode.client.client import KubeClient
from kubenode.client.resources import NODES
from kubenode.metrics.component_metrics import register_component_metrics
from kubenode.runtime.controller import Controller, Request, owner_mapper
from kubenode.runtime.events import EventRecorder
from kubenode.runtime.informer import Informer
from kubenode.runtime.manager import Manager

from .controller import (
    INDEX_CORDONED_BY,
    INDEX_MACHINE,
    INDEX_OWNER,
    ComponentFinalizer,
    ComponentSetReconciler,
    controller_uids,
    cordoned_by,
    machine_of,
)
from .resources import MACHINE_COMPONENT_SETS, MACHINE_COMPONENTS, MACHINES

Obj = dict[str, Any]

#: Component changes within this window wake their set once (see `on_component`).
COMPONENT_COALESCE_SECONDS = 0.1


@dataclass
class ComponentSetControllers:
    """The controllers and informers added to a manager."""

    rollout: Controller
    finalizer: Controller
    reconciler: ComponentSetReconciler
    sets: Informer
    components: Informer


def _machine_identity(m: Obj | None) -> tuple[Any, ...] | None:
    """What a set's decisions depend on in a Machine (not its heartbeats)."""
    if m is None:
        return None
    meta = m["metadata"]
    return (meta.get("uid"), bool(meta.get("deletionTimestamp")), tuple(sorted((meta.get("labels") or {}).items())),
            ((m.get("status") or {}).get("nodeRef") or {}).get("name"), (m.get("spec") or {}).get("nodeName"))


def sets_for_machine(sets: Informer) -> Any:
    """An informer handler that enqueues the sets whose selector matches a machine that changed in a way they see."""

    def requests(m: Obj) -> list[Request]:
        labels = m["metadata"].get("labels") or {}
        out = []
        for s in sets.cache.list():
            try:
                if label_selector_from_dict((s.get("spec") or {}).get("selector") or {}).matches(labels):
                    out.append(Request(s["metadata"]["name"]))
            except ValueError:
                continue  # a bad selector is reported when the set itself is reconciled
        return out

    return requests


def add_componentset_controllers(manager: Manager, client: KubeClient, *, reviewer: Reviewer | None = None,
                                 recorder: EventRecorder | None = None, registry: CollectorRegistry | None = None,
                                 workers: int = 2) -> ComponentSetControllers:
    """Add the MachineComponentSet rollout controller and the component finalizer controller to `manager`."""
    sets = manager.informers.informer(MACHINE_COMPONENT_SETS)
    components = manager.informers.informer(MACHINE_COMPONENTS)
    machines = manager.informers.informer(MACHINES)
    nodes = manager.informers.informer(NODES)  # disruption Drain: cordon, drain, uncordon
    metrics = register_component_metrics(registry if registry is not None else manager.registry, sets, components)
    rec = recorder or EventRecorder(client, "kubenode-componentset-controller")

    async def on_event(obj: Obj, type_: str, reason: str, message: str) -> None:
        await rec.event(obj, type_, reason, message)

    components.cache.add_index(INDEX_OWNER, controller_uids)
    components.cache.add_index(INDEX_MACHINE, machine_of)
    nodes.cache.add_index(INDEX_CORDONED_BY, cordoned_by)
    reconciler = ComponentSetReconciler(client, sets, components, machines, reviewer or AllowAll(),
                                        on_event=on_event, metrics=metrics, nodes=nodes)
    # The reconciler's incremental views learn which machines to re-read from these two handlers.
    machines.on_change(reconciler.on_machine)
    components.on_change(reconciler.on_component)
    rollout = manager.new_controller("machinecomponentset", reconciler, workers=workers).watches(sets)
    rollout.watches(components, lambda _: ())  # registered for cache sync; events are routed below
    rollout.watches(nodes, lambda n: [Request(v[len("mcs/"):]) for v in [
        (n["metadata"].get("annotations") or {}).get(c.ANNOTATION_CORDONED_BY) or ""] if v.startswith("mcs/")])
    to_owner = owner_mapper(KIND_MACHINE_COMPONENT_SET, owner_namespaced=False)

    def on_component(old: Obj | None, new: Obj | None) -> None:
        # Components change in bursts (the controller moves a whole batch, then the batch's agents report
        # at about the same time): coalesce the burst into one reconcile per window. A reconcile re-reads
        # only the machines that changed (the reconciler's own handlers mark them), so this saves the
        # per-reconcile overhead (Defender, status comparison), not fleet-sized work.
        for req in {r for o in (old, new) if o is not None for r in to_owner(o)}:
            rollout.queue.add_after(req, COMPONENT_COALESCE_SECONDS)

    components.on_change(on_component)
    to_sets = sets_for_machine(sets)

    def on_machine(old: Obj | None, new: Obj | None) -> None:
        if _machine_identity(old) == _machine_identity(new):
            return
        for req in {r for m in (old, new) if m is not None for r in to_sets(m)}:
            rollout.queue.add(req)

    machines.on_change(on_machine)
    release = ComponentFinalizer(client, components, machines)
    finalizer = (manager.new_controller("machinecomponent-finalizer", release, workers=1)
                 .watches(components))

    def on_machine_gone(old: Obj | None, new: Obj | None) -> None:
        # Only deletion matters here: the finalizer is dropped for machines that no agent serves any more.
        if new is None or (new["metadata"].get("deletionTimestamp") and not (old or {}).get("metadata", {}).get(
                "deletionTimestamp")):
            for req in release.components_of_machine(old or new or {}):
                finalizer.queue.add(req)

    machines.on_change(on_machine_gone)
    return ComponentSetControllers(rollout, finalizer, reconciler, sets, components)
