"""Wiring of the operators onto one controller-runtime Manager.

`kubenode operator` and `kubenode up` both call `build_manager`: the same
controllers, informers and providers either way; only the client (real
cluster or embedded server) and the available providers differ.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from kubenode.api.defender import AllowAll, Reviewer
from kubenode.client.client import KubeClient
from kubenode.client.resources import CSRS, NODES
from kubenode.componentset.resources import MACHINE_COMPONENTS
from kubenode.componentset.wiring import add_componentset_controllers
from kubenode.defender.wiring import build_defender, machine_deletion_gate
from kubenode.machine.adoption_controller import AdoptionReconciler, provider_of_machine, providers_for_node
from kubenode.machine.bootstrap import AgentEndpoint
from kubenode.machine.csr_approver import CSRApprover, csrs_for_machine
from kubenode.machine.machine_controller import (
    MachineControllerConfig,
    MachineReconciler,
    machine_of_component,
    machines_for_node,
)
from kubenode.machine.machineset_controller import MachineSetReconciler
from kubenode.machine.provider_resolver import ProviderFactory, ProviderResolver
from kubenode.machine.resources import INFRA_PROVIDERS, MACHINE_SETS, MACHINES
from kubenode.metrics.agent_sd import sd_handler
from kubenode.metrics.operator_metrics import register_machine_metrics
from kubenode.metrics.state_metrics import watch_state
from kubenode.providers.base import InfraProvider
from kubenode.release import add_release_controllers
from kubenode.release.controller import ReleaseSettings
from kubenode.remedy import RemedySettings, add_remedy_controllers
from kubenode.runtime.controller import Request, owner_mapper
from kubenode.runtime.events import EventRecorder
from kubenode.runtime.leaderelection import LeaderElectionConfig
from kubenode.runtime.manager import Manager

Obj = dict[str, Any]


@dataclass
class OperatorSettings:
    """Everything the operators need besides the client."""

    endpoint: AgentEndpoint
    factories: dict[str, ProviderFactory] = field(default_factory=dict)
    importer: InfraProvider | None = None
    machine: MachineControllerConfig = field(default_factory=MachineControllerConfig)
    leader_election: LeaderElectionConfig | None = None
    health_port: int | None = None
    #: Address of the health/metrics port: loopback by default, every address in a pod (probes, Prometheus).
    health_host: str = "127.0.0.1"
    workers: int = 4
    identity: str = "kubenode-operator"
    #: The Defender every fleet operation asks first (batches, deletions, remediation). None (the default)
    #: builds the real Defender on the manager; pass `AllowAll()` for a deliberately unprotected setup.
    reviewer: Reviewer | None = None
    remedy: RemedySettings = field(default_factory=RemedySettings)
    #: The ComponentRelease controller's timing; `probe_seconds` overrides every Cluster's probe interval.
    release: ReleaseSettings = field(default_factory=ReleaseSettings)
    probe_seconds: float | None = None


@dataclass
class Operators:
    """A built manager and what must be closed with it."""

    manager: Manager
    resolver: ProviderResolver
    registry: CollectorRegistry
    #: What the controllers ask (the Defender unless the settings passed another reviewer).
    reviewer: Reviewer = field(default_factory=AllowAll)

    async def stop(self) -> None:
        """Stop the manager and close the providers."""
        await self.manager.stop()
        await self.resolver.close()


def _machines_for_provider(machines_cache_list: Callable[[], list[Obj]]) -> Callable[[Obj], list[Request]]:
    def mapper(ip: Obj) -> list[Request]:
        name = ip["metadata"]["name"]
        return [Request(m["metadata"]["name"]) for m in machines_cache_list()
                if ((m.get("spec") or {}).get("providerRef") or {}).get("name") == name]

    return mapper


def _finish_machine_deletions(reviewer: Reviewer) -> Callable[[Obj | None, Obj | None], None]:
    # A Machine deletion is finished when the Machine is gone: free its Defender concurrency slot.
    def handler(old: Obj | None, new: Obj | None) -> None:
        if new is None and old is not None:
            reviewer.finished(f"machine/{old['metadata']['uid']}")

    return handler


def build_manager(client: KubeClient, settings: OperatorSettings) -> Operators:
    """A Manager running the Machine and MachineSet controllers."""
    registry = CollectorRegistry(auto_describe=True)
    manager = Manager(client, registry, leader_election=settings.leader_election, health_port=settings.health_port,
                      health_host=settings.health_host)
    machines = manager.informers.informer(MACHINES)
    nodes = manager.informers.informer(NODES)
    machinesets = manager.informers.informer(MACHINE_SETS)
    infraproviders = manager.informers.informer(INFRA_PROVIDERS)
    resolver = ProviderResolver(infraproviders, settings.factories, settings.importer)
    recorder = EventRecorder(client, "kubenode-machine-controller", settings.identity)
    reviewer = settings.reviewer if settings.reviewer is not None else build_defender(manager, client, nodes,
                                                                                      settings.identity)

    async def on_event(obj: Obj, type_: str, reason: str, message: str) -> None:
        await recorder.event(obj, type_, reason, message)

    components = manager.informers.informer(MACHINE_COMPONENTS)
    machine_rec = MachineReconciler(client, machines, nodes, resolver, settings.endpoint, settings.machine,
                                    on_event=on_event, components=components)
    (manager.new_controller("machine", machine_rec, workers=settings.workers)
     .watches(machines)
     .watches(nodes, machines_for_node)
     .watches(components, machine_of_component)
     .watches(infraproviders, _machines_for_provider(lambda: machines.cache.list())))
    adoption = AdoptionReconciler(client, infraproviders, nodes, machines, registry, on_event=on_event)
    (manager.new_controller("adoption", adoption, workers=1)
     .watches(infraproviders)
     .watches(nodes, providers_for_node(infraproviders))
     .watches(machines, provider_of_machine))
    ms_rec = MachineSetReconciler(client, machinesets, machines, deletion_gate=machine_deletion_gate(reviewer))
    machines.on_change(_finish_machine_deletions(reviewer))
    (manager.new_controller("machineset", ms_rec, workers=2)
     .watches(machinesets)
     .watches(machines, owner_mapper("MachineSet", owner_namespaced=False)))
    register_machine_metrics(registry, machines)
    # Per-object state series (pre-rendered on watch events) and Prometheus service discovery of the agents.
    manager.add_exposition(watch_state(manager.informers).parts)
    manager.add_route("/sd/agents", sd_handler(machines.cache.list))
    csrs = manager.informers.informer(CSRS)
    approver = CSRApprover(client, csrs, machines, EventRecorder(client, "kubenode-csr-approver", settings.identity),
                           registry)
    manager.new_controller("csr-approver", approver).watches(csrs).watches(machines, csrs_for_machine(csrs))
    add_componentset_controllers(manager, client, reviewer=reviewer, registry=registry)
    add_remedy_controllers(manager, client, reviewer, settings.remedy, settings.identity)
    # Many clusters: idle unless this is a management cluster with Cluster objects.
    add_release_controllers(manager, client, reviewer=reviewer, registry=registry, settings=settings.release,
                            probe_seconds=settings.probe_seconds, identity=settings.identity)
    return Operators(manager, resolver, registry, reviewer)


ProviderFactoryFn = Callable[[Obj], Awaitable[InfraProvider]]
