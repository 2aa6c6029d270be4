"""Reading a NodeRemedier: its rules as typed values, and whether a node matches one. Pure.

A rule's conditions are OR-ed: the node is unhealthy for the rule when any
one of them has the given status, and it counts once the condition has had
that status for `forSeconds` — measured from the condition's
lastTransitionTime, so an operator restart does not reset the clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from kubenode.apimachinery.timefmt import parse_time

Obj = dict[str, Any]


@dataclass(frozen=True)
class ConditionSpec:
    """One unhealthy condition of a rule."""

    type: str
    status: str
    for_seconds: float = 300.0


@dataclass(frozen=True)
class ActionSpec:
    """One step of a rule's escalation ladder (the raw action is copied into the job)."""

    type: str
    timeout_seconds: float
    raw: Obj
    #: After a success: how long the node may stay unhealthy before the ladder escalates (None: default).
    verify_seconds: float | None = None


@dataclass(frozen=True)
class RuleSpec:
    """One remediation rule."""

    name: str
    conditions: tuple[ConditionSpec, ...]
    actions: tuple[ActionSpec, ...]
    cooldown_seconds: float = 300.0
    max_attempts: int = 3
    healthy_delay_seconds: float | None = None  # None: the operator's default


@dataclass(frozen=True)
class Match:
    """Why a node is unhealthy for a rule, and since when."""

    condition: str
    status: str
    since: float
    ready_at: float  # since + forSeconds: when the rule may act

    def describe(self, now: float) -> str:
        """E.g. 'KernelDeadlock=True for 312s'."""
        return f"{self.condition}={self.status} for {max(0, int(now - self.since))}s"


def parse_rules(remedier: Obj) -> list[RuleSpec]:
    """The rules of a NodeRemedier (the API server has validated and defaulted them)."""
    out = []
    for r in (remedier.get("spec") or {}).get("rules") or []:
        conds = tuple(ConditionSpec(str(x["type"]), str(x["status"]), float(x.get("forSeconds", 300)))
                      for x in r.get("conditions") or [])
        actions = tuple(ActionSpec(str(a["type"]), float(a.get("timeoutSeconds", 300)), dict(a),
                                   None if a.get("verifySeconds") is None else float(a["verifySeconds"]))
                        for a in r.get("actions") or [])
        delay = r.get("healthyDelaySeconds")
        out.append(RuleSpec(str(r["name"]), conds, actions, float(r.get("cooldownSeconds", 300)),
                            int(r.get("maxAttempts", 3)), None if delay is None else float(delay)))
    return out


def match_rule(rule: RuleSpec, node_conditions: list[Obj] | None, now: float) -> Match | None:
    """The earliest-ready matching condition of `rule` on a node, or None when the node is healthy for it.

    A condition that matches but has not yet held for `forSeconds` still
    returns a Match (with `ready_at` in the future), so the caller can wait
    exactly that long.
    """
    by_type = {c.get("type"): c for c in node_conditions or ()}
    best: Match | None = None
    for spec in rule.conditions:
        c = by_type.get(spec.type)
        if c is None or c.get("status") != spec.status:
            continue
        since = parse_time(c.get("lastTransitionTime")) or now
        m = Match(spec.type, spec.status, since, since + spec.for_seconds)
        if best is None or m.ready_at < best.ready_at:
            best = m
    return best


def healthy_since(rule: RuleSpec, node_conditions: list[Obj] | None) -> float | None:
    """When the node last stopped matching the rule: the latest transition among its condition types."""
    by_type = {c.get("type"): c for c in node_conditions or ()}
    times = [parse_time(by_type[s.type].get("lastTransitionTime")) for s in rule.conditions if s.type in by_type]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def job_name(remedier: str, node: str, rule: str, attempt: int, step: int, retry: int = 0) -> str:
    """The deterministic name of a job: `<remedier>-<node>-<rule>-<attempt>-<step>[-r<retry>]`.

    Deterministic names make creation idempotent (a second create is 409 and
    means "already done"). Names longer than 253 characters keep a readable
    prefix and end with a hash of the full name, so they stay unique.
    """
    base = f"{remedier}-{node}-{rule}-{attempt}-{step}" + (f"-r{retry}" if retry else "")
    if len(base) <= 253:
        return base
    digest = hashlib.sha256(base.encode()).hexdigest()[:10]
    prefix = base[:242].rstrip("-.")
    return f"{prefix}-{digest}"
