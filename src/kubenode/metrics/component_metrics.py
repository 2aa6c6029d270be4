"""Component and rollout metrics, computed at scrape time from the operator's informer caches.

kube-state-metrics conventions: StateSets (one series per value) for phases,
gauges named after the status field they mirror, no derived aggregates, and
every series pre-initialised to zero so that dashboards and alerts see the
series before the first event. Labels stay bounded: components, versions and
sets are few even in a fleet of tens of thousands of machines (machine names
never become labels). Counters of Defender decisions on rollout batches are
kept by the controller through `RolloutMetrics`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

COMPONENT_PHASES = ("Pending", "Installing", "Running", "Failed", "Removing")
ROLLOUT_PHASES = ("Progressing", "Paused", "Completed", "Failed", "RollingBack")
DECISIONS = ("Allowed", "Denied", "PendingApproval")
#: MachineComponentSet status counts exported as `kubenode_machinecomponentset_status_<field>`.
SET_COUNTS = ("desired", "updated", "ready", "failed", "unavailable", "currentBatch", "totalBatches")


class _HasCache(Protocol):
    @property
    def cache(self) -> Any: ...


def _snake(name: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name)


class ComponentCollector(Collector):
    """Components by phase and installed version; rollout progress and failures per set."""

    def __init__(self, sets: _HasCache, components: _HasCache) -> None:
        self.sets = sets
        self.components = components

    def collect(self) -> Iterator[GaugeMetricFamily]:
        sets = self.sets.cache.list()
        comps = self.components.cache.list()
        names = {str((s.get("spec") or {}).get("component") or "") for s in sets}
        by_phase: Counter[tuple[str, str]] = Counter()
        by_version: Counter[tuple[str, str]] = Counter()
        unhealthy: Counter[str] = Counter()
        for mc in comps:
            spec, st = mc.get("spec") or {}, mc.get("status") or {}
            comp = str(spec.get("component") or "")
            names.add(comp)
            by_phase[(comp, str(st.get("phase") or "Pending"))] += 1
            if st.get("installedVersion"):
                by_version[(comp, str(st["installedVersion"]))] += 1
            if st.get("phase") == "Running" and st.get("healthy") is False:
                unhealthy[comp] += 1
        names.discard("")

        phases = GaugeMetricFamily("kubenode_machinecomponents", "MachineComponents by component and phase.",
                                   labels=["component", "phase"])
        for comp in sorted(names):
            for phase in COMPONENT_PHASES:
                phases.add_metric([comp, phase], by_phase.get((comp, phase), 0))
        yield phases
        versions = GaugeMetricFamily("kubenode_machinecomponent_installed_version",
                                     "MachineComponents by component and installed version.",
                                     labels=["component", "version"])
        for (comp, version), n in sorted(by_version.items()):
            versions.add_metric([comp, version], n)
        yield versions
        sick = GaugeMetricFamily("kubenode_machinecomponents_unhealthy",
                                 "Running MachineComponents whose health check fails.", labels=["component"])
        for comp in sorted(names):
            sick.add_metric([comp], unhealthy.get(comp, 0))
        yield sick

        counts = {f: GaugeMetricFamily(f"kubenode_machinecomponentset_status_{_snake(f)}",
                                       f"MachineComponentSet status.{f}.", labels=["machinecomponentset"])
                  for f in SET_COUNTS}
        set_phase = GaugeMetricFamily("kubenode_machinecomponentset_phase",
                                  "Rollout phase of a MachineComponentSet (StateSet: 1 for the current phase).",
                                  labels=["machinecomponentset", "phase"])
        info = GaugeMetricFamily("kubenode_machinecomponentset_info", "Component and desired version of a set.",
                                 labels=["machinecomponentset", "component", "version", "revision"])
        for s in sorted(sets, key=lambda o: o["metadata"]["name"]):
            name = s["metadata"]["name"]
            st, spec = s.get("status") or {}, s.get("spec") or {}
            for f, fam in counts.items():
                fam.add_metric([name], float(st.get(f) or 0))
            for p in ROLLOUT_PHASES:
                set_phase.add_metric([name, p], 1.0 if st.get("phase") == p else 0.0)
            info.add_metric([name, str(spec.get("component") or ""),
                             str((spec.get("template") or {}).get("version") or ""),
                             str(st.get("updateRevision") or "")], 1.0)
        yield from counts.values()
        yield set_phase
        yield info


class RolloutMetrics:
    """Counters the controller increments: Defender decisions on batches, rollbacks started."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.batch_decisions = PromCounter(
            "kubenode_machinecomponentset_batch_decisions_total",
            "Defender verdicts on MachineComponentSet batches, by decision.", ["decision"], registry=registry)
        self.rollbacks = PromCounter(
            "kubenode_machinecomponentset_rollbacks_total", "Rollouts that started rolling back.", registry=registry)
        for d in DECISIONS:
            self.batch_decisions.labels(d)

    def decision(self, decision: str) -> None:
        """Count one Defender verdict."""
        self.batch_decisions.labels(decision if decision in DECISIONS else "Denied").inc()

    def rollback(self) -> None:
        """Count one rollback."""
        self.rollbacks.inc()


def register_component_metrics(registry: CollectorRegistry, sets: _HasCache, components: _HasCache) -> RolloutMetrics:
    """Register the component collectors on `registry`; return the counters the controller updates."""
    registry.register(ComponentCollector(sets, components))
    return RolloutMetrics(registry)
