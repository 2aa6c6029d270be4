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
from kubenode.client.resources import NODES
from kubenode.componentset.wiring import add_componentset_controllers
from kubenode.defender.wiring import build_defender, machine_deletion_gate
from kubenode.machine.bootstrap import AgentEndpoint
from kubenode.machine.controller import MachineControllerConfig
from kubenode.machine.provider_resolver import ProviderFactory, ProviderResolver
from kubenode.machine.resources import INFRA_PROVIDERS
from kubenode.machine.wiring import add_machine_controllers
from kubenode.metrics.state_metrics import watch_state
from kubenode.providers.base import InfraProvider
from kubenode.release import add_release_controllers
from kubenode.release.controller import ReleaseSettings
from kubenode.remedy import RemedySettings, add_remedy_controllers
from kubenode.runtime.leaderelection import LeaderElectionConfig
from kubenode.runtime.manager import Manager

from .memtrim import MallocTrimmer

Obj = dict[str, Any]
#: Seconds between the malloc trimmer's RSS checks (a check is one read of /proc/self/statm).
TRIM_INTERVAL = 10.0


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


def build_manager(client: KubeClient, settings: OperatorSettings) -> Operators:
    """A Manager running the Machine and MachineSet controllers."""
    registry = CollectorRegistry(auto_describe=True)
    manager = Manager(client, registry, leader_election=settings.leader_election, health_port=settings.health_port,
                      health_host=settings.health_host)
    nodes = manager.informers.informer(NODES)
    resolver = ProviderResolver(manager.informers.informer(INFRA_PROVIDERS), settings.factories, settings.importer)
    reviewer = settings.reviewer if settings.reviewer is not None else build_defender(manager, client, nodes,
                                                                                      settings.identity)
    add_machine_controllers(manager, client, resolver=resolver, endpoint=settings.endpoint, reviewer=reviewer,
                            deletion_gate=machine_deletion_gate(reviewer), config=settings.machine,
                            registry=registry, identity=settings.identity, workers=settings.workers)
    # Per-object state series, pre-rendered on watch events.
    manager.add_exposition(watch_state(manager.informers).parts)
    # Freed heap back to the system after bursts (a rollout, a re-list): docs/scale.md.
    manager.add(MallocTrimmer(interval=TRIM_INTERVAL), needs_leader_election=False)
    add_componentset_controllers(manager, client, reviewer=reviewer, registry=registry)
    add_remedy_controllers(manager, client, reviewer, settings.remedy, settings.identity)
    # Many clusters: idle unless this is a management cluster with Cluster objects.
    add_release_controllers(manager, client, reviewer=reviewer, registry=registry, settings=settings.release,
                            probe_seconds=settings.probe_seconds, identity=settings.identity)
    return Operators(manager, resolver, registry, reviewer)


ProviderFactoryFn = Callable[[Obj], Awaitable[InfraProvider]]
