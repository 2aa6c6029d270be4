"""Remediation metrics: jobs by phase and action, Defender decisions on jobs, detection-to-recovery time.

`kubenode_remedy_jobs{phase,action}` is computed at scrape time from the
operator's job cache (a StateSet-style count, kube-state-metrics
conventions); every series is pre-initialised to zero for every phase and
action so dashboards and alerts never see gaps.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kubenode.api.constants import DECISIONS, JOB_PHASE_PENDING, JOB_PHASES, REMEDIATION_ACTIONS

#: Seconds from a condition turning unhealthy to the node being healthy again.
RECOVERY_BUCKETS = (5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 86400)


class _HasCache(Protocol):
    @property
    def cache(self) -> Any: ...


class RemedyJobCollector(Collector):
    """`kubenode_remedy_jobs{phase,action}` from the informer cache."""

    def __init__(self, jobs: _HasCache) -> None:
        self.jobs = jobs

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts: Tally[tuple[str, str]] = Tally()
        for j in self.jobs.cache.list():
            phase = (j.get("status") or {}).get("phase") or JOB_PHASE_PENDING
            action = (((j.get("spec") or {}).get("action") or {}).get("type")) or ""
            counts[(phase, action)] += 1
        fam = GaugeMetricFamily("kubenode_remedy_jobs", "RemedyOperationJobs by phase and action.",
                                labels=["phase", "action"])
        for phase in JOB_PHASES:
            for action in REMEDIATION_ACTIONS:
                fam.add_metric([phase, action], counts.get((phase, action), 0))
        yield fam


class RemedyMetrics:
    """The counters and histogram the Remedy Operator updates as it decides."""

    def __init__(self, registry: CollectorRegistry, jobs: _HasCache | None = None) -> None:
        self.decisions = Counter("kubenode_remedy_decisions_total",
                                 "Defender verdicts recorded on RemedyOperationJobs, by decision and action.",
                                 ["decision", "action"], registry=registry)
        self.outcomes = Counter("kubenode_remedy_job_outcomes_total",
                                "RemedyOperationJobs that reached a final phase, by phase and action.",
                                ["phase", "action"], registry=registry)
        self.recovery = Histogram("kubenode_remedy_detection_to_recovery_seconds",
                                  "Seconds from a node condition turning unhealthy to the node being healthy "
                                  "again after remediation.", registry=registry, buckets=RECOVERY_BUCKETS)
        self.gave_up = Counter("kubenode_remedy_escalations_exhausted_total",
                               "Times a rule gave up on a node after maxAttempts ladder climbs.", registry=registry)
        self.planned = Counter("kubenode_remedy_nodes_planned_total",
                               "Nodes the NodeRemedier controller planned, by pass: full (a new or changed "
                               "remedier, the periodic resync) or incremental (changed and watched nodes only).",
                               ["pass"], registry=registry)
        for kind in ("full", "incremental"):
            self.planned.labels(kind)
        for d in DECISIONS:
            for a in REMEDIATION_ACTIONS:
                self.decisions.labels(d, a)
        for p in JOB_PHASES:
            for a in REMEDIATION_ACTIONS:
                self.outcomes.labels(p, a)
        if jobs is not None:
            registry.register(RemedyJobCollector(jobs))

    def nodes_planned(self, kind: str, count: int) -> None:
        """Count the nodes one remedier reconcile planned (`kind`: full or incremental)."""
        self.planned.labels(kind).inc(count)

    def decision(self, decision: str, action: str) -> None:
        """Count one recorded verdict."""
        self.decisions.labels(decision, action).inc()

    def outcome(self, phase: str, action: str) -> None:
        """Count one job reaching a final phase."""
        self.outcomes.labels(phase, action).inc()

    def recovered(self, seconds: float) -> None:
        """Observe one detection-to-recovery time."""
        self.recovery.observe(max(0.0, seconds))
