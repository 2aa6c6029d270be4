"""Puts the Machine Operator's controllers on a Manager (called by `controlplane.operators`).

Every informer, index, handler and watch of the Machine, MachineSet,
adoption and CSR-approver controllers is set up here and nowhere else: the
reconcilers' constructors only keep what they are given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from kubenode.api.constants import KIND_MACHINE_SET, LABEL_MACHINE
from kubenode.api.defender import Reviewer
from kubenode.client.client import KubeClient
from kubenode.client.resources import CSRS, NODES
from kubenode.metrics.agent_sd import sd_handler
from kubenode.metrics.operator_metrics import register_machine_metrics
from kubenode.runtime.controller import Controller, Request, owner_mapper
from kubenode.runtime.events import EventRecorder
from kubenode.runtime.informer import Informer
from kubenode.runtime.manager import Manager

from .adoption_controller import AdoptionReconciler, adopted_counter, provider_of_machine, providers_for_node
from .bootstrap import AgentEndpoint
from .controller import (
    INDEX_COMPONENTS_OF,
    MachineControllerConfig,
    MachineReconciler,
    ProviderResolver,
    machine_of_component,
    machines_for_node,
)
from .csr_approver import CSRApprover, csrs_for_machine
from .machineset_controller import INDEX_OWNER, DeletionGate, MachineSetReconciler, controller_uids
from .resources import INFRA_PROVIDERS, MACHINE_COMPONENTS, MACHINE_SETS, MACHINES

Obj = dict[str, Any]
EventFn = Callable[[Obj, str, str, str], Awaitable[None]]


@dataclass
class MachineControllers:
    """The controllers and informers added to a manager."""

    machine: Controller
    machineset: Controller
    adoption: Controller
    csr_approver: Controller
    machines: Informer
    nodes: Informer


def machines_for_provider(machines: Informer) -> Callable[[Obj], list[Request]]:
    """Mapper: an InfraProvider's machines (`spec.providerRef.name`)."""

    def mapper(ip: Obj) -> list[Request]:
        name = ip["metadata"]["name"]
        return [Request(m["metadata"]["name"]) for m in machines.cache.list()
                if ((m.get("spec") or {}).get("providerRef") or {}).get("name") == name]

    return mapper


def finish_machine_deletions(reviewer: Reviewer) -> Callable[[Obj | None, Obj | None], None]:
    """Handler: a Machine deletion is finished when the Machine is gone; its Defender slot is freed."""

    def handler(old: Obj | None, new: Obj | None) -> None:
        if new is None and old is not None:
            reviewer.finished(f"machine/{old['metadata']['uid']}")

    return handler


def machine_label(obj: Obj) -> list[str]:
    """Index function: the machine an object belongs to (label kubenode.io/machine)."""
    return [str(((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_MACHINE) or "")]


def add_machine_controllers(manager: Manager, client: KubeClient, *, resolver: ProviderResolver,
                            endpoint: AgentEndpoint, reviewer: Reviewer, deletion_gate: DeletionGate,
                            config: MachineControllerConfig | None = None, registry: CollectorRegistry | None = None,
                            identity: str = "kubenode-operator", workers: int = 4) -> MachineControllers:
    """Add the Machine, MachineSet, adoption and CSR-approver controllers (and their metrics) to `manager`."""
    registry = registry if registry is not None else manager.registry
    machines = manager.informers.informer(MACHINES)
    nodes = manager.informers.informer(NODES)
    machinesets = manager.informers.informer(MACHINE_SETS)
    infraproviders = manager.informers.informer(INFRA_PROVIDERS)
    components = manager.informers.informer(MACHINE_COMPONENTS)
    csrs = manager.informers.informer(CSRS)
    components.cache.add_index(INDEX_COMPONENTS_OF, machine_label)
    machines.cache.add_index(INDEX_OWNER, controller_uids)
    recorder = EventRecorder(client, "kubenode-machine-controller", identity)

    async def on_event(obj: Obj, type_: str, reason: str, message: str) -> None:
        await recorder.event(obj, type_, reason, message)

    machine_rec = MachineReconciler(client, machines, nodes, resolver, endpoint, config, on_event=on_event,
                                    components=components)
    machine = (manager.new_controller("machine", machine_rec, workers=workers)
               .watches(machines)
               .watches(nodes, machines_for_node)
               .watches(components, machine_of_component)
               .watches(infraproviders, machines_for_provider(machines)))
    adoption_rec = AdoptionReconciler(client, infraproviders, nodes, machines, adopted=adopted_counter(registry),
                                      on_event=on_event)
    adoption = (manager.new_controller("adoption", adoption_rec, workers=1)
                .watches(infraproviders)
                .watches(nodes, providers_for_node(infraproviders))
                .watches(machines, provider_of_machine))
    ms_rec = MachineSetReconciler(client, machinesets, machines, deletion_gate=deletion_gate)
    machines.on_change(finish_machine_deletions(reviewer))
    machineset = (manager.new_controller("machineset", ms_rec, workers=2)
                  .watches(machinesets)
                  .watches(machines, owner_mapper(KIND_MACHINE_SET, owner_namespaced=False)))
    register_machine_metrics(registry, machines)
    manager.add_route("/sd/agents", sd_handler(machines.cache.list))  # Prometheus service discovery of agents
    approver = CSRApprover(client, csrs, machines, EventRecorder(client, "kubenode-csr-approver", identity),
                           registry)
    csr_approver = manager.new_controller("csr-approver", approver).watches(csrs).watches(
        machines, csrs_for_machine(csrs))
    return MachineControllers(machine, machineset, adoption, csr_approver, machines, nodes)
