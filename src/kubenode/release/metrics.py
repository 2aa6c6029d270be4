"""Prometheus metrics of the release controller (kube-state-metrics style, pre-initialised to zero)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from kubenode.api import constants as c

Obj = dict[str, Any]


@dataclass
class ReleaseMetrics:
    """`kubenode_componentrelease_*` series."""

    phase: Gauge
    clusters: Gauge
    held: Counter

    def observe(self, release: str, status: Obj) -> None:
        """Set the series of one release from its status."""
        for p in c.RELEASE_PHASES:
            self.phase.labels(release, p).set(1 if status.get("phase") == p else 0)
        for stage in status.get("stages") or []:
            counts = {p: 0 for p in c.STEP_PHASES}
            for step in stage.get("clusters") or []:
                counts[str(step.get("phase"))] = counts.get(str(step.get("phase")), 0) + 1
            for p, n in counts.items():
                self.clusters.labels(release, stage.get("name"), p).set(n)
        self.held.labels(release)


def register_release_metrics(registry: CollectorRegistry) -> ReleaseMetrics:
    """Create the release metrics in `registry`."""
    return ReleaseMetrics(
        phase=Gauge("kubenode_componentrelease_status_phase", "1 for the release's current phase.",
                    ["release", "phase"], registry=registry),
        clusters=Gauge("kubenode_componentrelease_stage_clusters", "Clusters of a release stage per step phase.",
                       ["release", "stage", "phase"], registry=registry),
        held=Counter("kubenode_componentrelease_defender_held_total",
                     "Cluster steps the management cluster's Defender held.", ["release"], registry=registry),
    )
