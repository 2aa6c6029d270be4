"""Recorded Defender ledgers for replay tests: a run of the real engine under a *current* policy, recorded
as the service records it (records.review_record / finished_record)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubenode.api.defender import Operation
from kubenode.defender.engine import FleetState, Ledger, NodeHealth, apply, decide
from kubenode.defender.policy import Policy, parse_policy
from kubenode.defender.records import finished_record, policy_keys, review_record, summarize_fleet

# Friday 5 January 2024, 12:00 UTC.
T0 = datetime(2024, 1, 5, 12, 0, tzinfo=UTC).timestamp()
Obj = dict[str, Any]


def policy(rules: list[Obj], name: str = "p", cooldown: int = 0) -> Policy:
    p = parse_policy(name, {"rules": rules, "circuitBreaker": {"cooldownSeconds": cooldown}})
    assert p.valid, p.errors
    return p


def rule(**kw: Any) -> Obj:
    return {"name": kw.pop("name", "r"), "operations": kw.pop("operations", ["Remediation"]), **kw}


def op(i: int | str, action: str = "Reboot", nodes: Sequence[str] = (), kind: str = "Remediation",
       count: int = 1) -> Operation:
    return Operation(kind=kind, id=f"op-{i}", action=action, nodes=tuple(nodes), count=count)


def nodes(healthy: int, unhealthy: int, zone: str = "", prefix: str = "") -> list[NodeHealth]:
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    tag = prefix or zone or "n"
    return ([NodeHealth(f"{tag}-ok-{i}", dict(labels)) for i in range(healthy)]
            + [NodeHealth(f"{tag}-bad-{i}", dict(labels), unhealthy=True, problem="KernelDeadlock=True",
                          unhealthy_since=T0 - 600) for i in range(unhealthy)])


@dataclass
class Finish:
    """`op_id` finished (frees its concurrency slot)."""

    op_id: str


@dataclass
class Recording:
    """Records of a run under `current`; `decisions` are what current said, step by step."""

    records: list[Obj] = field(default_factory=list)
    decisions: list[tuple[str, str]] = field(default_factory=list)


def record(current: Sequence[Policy], steps: Sequence[tuple[float, Operation | Finish]],
           fleet: Sequence[NodeHealth] = ()) -> Recording:
    """Run `steps` (seconds after T0) through the engine under `current`, recording as the service does."""
    ledger = Ledger()
    state = FleetState(fleet)
    keys = policy_keys(current)
    summary = summarize_fleet(state, keys)
    out = Recording()
    for t, step in steps:
        now = T0 + t
        if isinstance(step, Finish):
            if ledger.finish(step.op_id, now):
                out.records.append(finished_record(step.op_id, now))
            continue
        d = decide(current, step, ledger, state, now)
        apply(ledger, step, d, now)
        out.records.append(review_record(step, d, now, summary, state, [(p.name, 1) for p in current]))
        out.decisions.append((d.verdict.decision, d.verdict.reason))
    return out
