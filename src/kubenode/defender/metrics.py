"""Prometheus metrics of the Defender: decisions, circuit state, remaining budgets.

`kubenode_defender_decisions_total{policy,rule,decision,reason}` counts rule
evaluations: an operation matching three rules adds three samples, one per
rule with that rule's own answer (rule "" stands for a policy's open circuit
or invalid spec, and policy "" for "no policy" and "not covered"). Every
label combination a policy can produce is pre-initialised to zero when the
policy is seen, so `rate()` and alerts work from the first scrape.

Circuit state (a StateSet: one series per state, 1 for the current one),
remaining budget and validity are gauges computed at scrape time from the
Defender's state, so they can never drift from what `review()` uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kubenode.api import constants as c

from .engine import RuleOutcome
from .policy import Policy

__all__ = ["DefenderMetrics", "PolicySample"]


@dataclass(frozen=True)
class PolicySample:
    """One policy's state at scrape time."""

    name: str
    valid: bool
    circuit: str
    remaining: tuple[tuple[str, str, int], ...]  # (rule, window, remaining tokens)


def _reasons(policy: Policy) -> Iterator[tuple[str, str, str]]:
    yield "", c.DECISION_DENIED, c.DEFENDER_REASON_CIRCUIT_OPEN
    yield "", c.DECISION_DENIED, c.DEFENDER_REASON_POLICY_INVALID
    for r in policy.rules:
        yield r.name, c.DECISION_ALLOWED, c.DEFENDER_REASON_ALLOWED
        if r.budgets:
            yield r.name, c.DECISION_DENIED, c.DEFENDER_REASON_BUDGET_EXHAUSTED
        if r.max_concurrent is not None:
            yield r.name, c.DECISION_DENIED, c.DEFENDER_REASON_MAX_CONCURRENT
        if r.max_unhealthy is not None:
            yield r.name, c.DECISION_DENIED, c.DEFENDER_REASON_STORM_DETECTED
        if r.freeze_windows:
            yield r.name, c.DECISION_DENIED, c.DEFENDER_REASON_FREEZE_WINDOW
        if r.require_approval:
            yield r.name, c.DECISION_PENDING_APPROVAL, c.DEFENDER_REASON_APPROVAL_REQUIRED


class _StateCollector(Collector):
    def __init__(self, sample: Callable[[], Iterable[PolicySample]]) -> None:
        self.sample = sample

    def collect(self) -> Iterator[GaugeMetricFamily]:
        circuit = GaugeMetricFamily("kubenode_defender_circuit_state",
                                    "Circuit breaker state per DefenderPolicy (1 for the current state).",
                                    labels=["policy", "state"])
        remaining = GaugeMetricFamily("kubenode_defender_budget_remaining",
                                      "Tokens left in the current window, per policy, rule and window.",
                                      labels=["policy", "rule", "window"])
        valid = GaugeMetricFamily("kubenode_defender_policy_valid",
                                  "1 when the DefenderPolicy is valid; 0 when it fails closed.", labels=["policy"])
        for s in self.sample():
            for state in c.CIRCUIT_STATES:
                circuit.add_metric([s.name, state], 1.0 if s.circuit == state else 0.0)
            for rule, window, left in s.remaining:
                remaining.add_metric([s.name, rule, window], float(left))
            valid.add_metric([s.name], 1.0 if s.valid else 0.0)
        yield circuit
        yield remaining
        yield valid


class DefenderMetrics:
    """The decision counter and the scrape-time state gauges on one registry."""

    def __init__(self, registry: CollectorRegistry, sample: Callable[[], Iterable[PolicySample]]) -> None:
        self.decisions = Counter("kubenode_defender_decisions", "Defender rule evaluations by verdict and reason.",
                                 ["policy", "rule", "decision", "reason"], registry=registry)
        registry.register(_StateCollector(sample))
        for reason in (c.DEFENDER_REASON_NO_POLICY, c.DEFENDER_REASON_NOT_COVERED):
            self.decisions.labels("", "", c.DECISION_ALLOWED, reason)

    def init_policy(self, policy: Policy) -> None:
        """Pre-initialise every series `policy` can produce."""
        for rule, decision, reason in _reasons(policy):
            self.decisions.labels(policy.name, rule, decision, reason)

    def observe(self, outcomes: Iterable[RuleOutcome]) -> None:
        """Count one decision's rule outcomes."""
        for o in outcomes:
            self.decisions.labels(o.policy, o.rule, o.decision, o.reason).inc()

    def observe_unmatched(self, reason: str) -> None:
        """Count a decision no policy took part in (no policy at all, or none covering the operation)."""
        self.decisions.labels("", "", c.DECISION_ALLOWED, reason).inc()
