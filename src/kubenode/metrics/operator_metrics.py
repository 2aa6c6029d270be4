"""Fleet metrics computed at scrape time from the operators' caches.

kube-state-metrics conventions: a StateSet for phases (one series per phase,
0 or 1 summed over machines → a count per phase), pre-initialised to zero for
every phase so dashboards never see gaps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

MACHINE_PHASES = ("Pending", "Provisioning", "Bootstrapping", "Joining", "Running", "Draining", "Deleting", "Failed")


class _HasCache(Protocol):
    @property
    def cache(self) -> Any: ...


class MachinePhaseCollector(Collector):
    """`kubenode_machines{phase}`: machines by phase, from the informer cache."""

    def __init__(self, machines: _HasCache) -> None:
        self.machines = machines

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts: Counter[str] = Counter()
        for m in self.machines.cache.list():
            counts[(m.get("status") or {}).get("phase") or "Pending"] += 1
        fam = GaugeMetricFamily("kubenode_machines", "Machines by phase.", labels=["phase"])
        for phase in MACHINE_PHASES:
            fam.add_metric([phase], counts.get(phase, 0))
        yield fam


def register_machine_metrics(registry: CollectorRegistry, machines: _HasCache) -> None:
    """Register the machine collectors on `registry`."""
    registry.register(MachinePhaseCollector(machines))
