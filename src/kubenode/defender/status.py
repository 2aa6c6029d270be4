"""DefenderPolicy status: render it from the ledger, and rebuild the ledger from it.

The status is both the user's view (circuit state, remaining budgets, recent
decisions, `Valid`) and the Defender's durable memory: an operator restart or
a leader change rebuilds admissions and circuits from `status.ledger` and
`status.circuit`, so a restart never refills budgets nor closes an open
circuit early. Both directions are pure functions.

The ledger is bounded (`MAX_LEDGER_ENTRIES` per policy). When it would grow
beyond that, the oldest finished entries are merged into one entry stamped
with the newest time among them: after a restart those tokens leave their
windows later than they really would, never earlier — the bound errs on the
safe side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kubenode.api import constants as c
from kubenode.api.defender import Operation
from kubenode.apimachinery.timefmt import format_micro, parse_micro
from kubenode.apimachinery.timefmt import format_time as format_time_seconds
from kubenode.runtime.conditions import set_condition

from .engine import Admission, Circuit, FleetState, Ledger, storm_check
from .policy import Policy

__all__ = ["MAX_LEDGER_ENTRIES", "MAX_RECENT_DECISIONS", "format_time", "ledger_entries", "parse_time",
           "render_status", "restore_ledger", "rule_usage"]

Obj = dict[str, Any]
MAX_LEDGER_ENTRIES = 500
MAX_RECENT_DECISIONS = 10
_MERGED = "~merged"
# An operation naming no node: the storm guard then reports the worst topology domain.
_ANY = Operation(kind="", id="")


#: RFC 3339 UTC with microseconds (metav1.MicroTime), second precision (metav1.Time, for conditions), and back.
format_time = format_micro
format_seconds = format_time_seconds
parse_time = parse_micro


def rule_usage(policy: Policy, ledger: Ledger, fleet: FleetState, now: float) -> list[Obj]:
    """`status.rules`: per rule, budgets used/remaining, tokens in progress, unhealthy nodes, frozen."""
    out: list[Obj] = []
    for rule in policy.rules:
        entry: Obj = {"name": rule.name}
        if rule.budgets:
            budgets = []
            for b in rule.budgets:
                used = ledger.used(policy.name, rule.name, b.seconds, now)
                budgets.append({"window": b.window, "limit": b.limit, "used": used,
                                "remaining": max(0, b.limit - used)})
            entry["budgets"] = budgets
        if rule.max_concurrent is not None:
            entry["concurrent"] = ledger.in_flight(policy.name, rule.name, now)
        if rule.max_unhealthy is not None:
            entry["unhealthy"] = storm_check(rule, _ANY, fleet)[2]
        if rule.freeze_windows:
            entry["frozen"] = any(w.active(now) is not None for w in rule.freeze_windows)
        out.append(entry)
    return out


def ledger_entries(policy: str, ledger: Ledger, now: float, limit: int = MAX_LEDGER_ENTRIES) -> list[Obj]:
    """`status.ledger` of `policy`: its admissions, oldest first, bounded by merging old finished ones."""
    mine = sorted((a for a in ledger.admissions.values() if policy in a.charges), key=lambda a: a.time)
    surplus = len(mine) - limit
    merged: list[Admission] = []
    if surplus > 0:
        finished = [a for a in mine if not a.in_flight(now)]
        merged = finished[:surplus + 1]  # +1: the merged entry itself takes a slot
        ids = {a.op_id for a in merged}
        mine = [a for a in mine if a.op_id not in ids]
    out: list[Obj] = []
    if merged:
        rules = sorted({r for a in merged for r in a.charges.get(policy, ())})
        t = max(a.time for a in merged)
        out.append({"id": "", "time": format_time(t), "count": sum(a.count for a in merged), "rules": rules,
                    "finishedTime": format_time(max(a.finished_at or a.time for a in merged))})
    for a in mine:
        e: Obj = {"id": a.op_id, "time": format_time(a.time), "count": a.count,
                  "rules": list(a.charges.get(policy, ()))}
        if a.finished_at is not None:
            e["finishedTime"] = format_time(a.finished_at)
        out.append(e)
    return out


def render_status(policy: Policy, generation: int | None, old: Mapping[str, Any] | None, ledger: Ledger,
                  fleet: FleetState, now: float, recent: list[Obj], last_decision: float | None) -> Obj:
    """The full status of one policy (deterministic for equal inputs, so unchanged status is not rewritten)."""
    old = old or {}
    conditions = [dict(x) for x in old.get("conditions") or [] if isinstance(x, Mapping)]
    stamp = format_seconds(now)
    if policy.valid:
        set_condition(conditions, c.DEFENDER_CONDITION_VALID, "True", c.DEFENDER_REASON_POLICY_VALID,
                      f"{len(policy.rules)} rule(s)", observed_generation=generation, now=stamp)
    else:
        set_condition(conditions, c.DEFENDER_CONDITION_VALID, "False", c.DEFENDER_REASON_POLICY_INVALID,
                      "fails closed, denying " + ", ".join(sorted(policy.covered)) + ": "
                      + policy.error_message(), observed_generation=generation, now=stamp)
    circuit = ledger.circuit(policy.name)
    state = circuit.effective(now)
    circuit_obj: Obj = {"state": state, "reason": circuit.reason or c.DEFENDER_REASON_CIRCUIT_CLOSED,
                        "message": circuit.message or "no budget ran out and no storm was seen"}
    if circuit.since is not None:
        circuit_obj["lastTransitionTime"] = format_seconds(circuit.since)
    if state != c.CIRCUIT_CLOSED and circuit.open_until is not None:
        circuit_obj["openUntil"] = format_seconds(circuit.open_until)
    if state == c.CIRCUIT_CLOSED:
        set_condition(conditions, c.DEFENDER_CONDITION_CIRCUIT_OPEN, "False", c.DEFENDER_REASON_CIRCUIT_CLOSED,
                      circuit_obj["message"], observed_generation=generation, now=stamp)
    else:
        set_condition(conditions, c.DEFENDER_CONDITION_CIRCUIT_OPEN, "True", circuit.reason or state,
                      f"{state}: {circuit.message}", observed_generation=generation, now=stamp)
    status: Obj = {"circuit": circuit_obj, "conditions": conditions,
                   "rules": rule_usage(policy, ledger, fleet, now) if policy.valid else [],
                   "recentDecisions": recent[:MAX_RECENT_DECISIONS],
                   "ledger": ledger_entries(policy.name, ledger, now)}
    if generation is not None:
        status["observedGeneration"] = generation
    if last_decision is not None:
        status["lastDecisionTime"] = format_seconds(last_decision)
    elif old.get("lastDecisionTime"):
        status["lastDecisionTime"] = old["lastDecisionTime"]
    return status


def restore_ledger(policies: Iterable[Mapping[str, Any]]) -> Ledger:
    """Admissions and circuits from the statuses of DefenderPolicy objects (a restart's starting point)."""
    ledger = Ledger()
    for obj in policies:
        name = str((obj.get("metadata") or {}).get("name", ""))
        status = obj.get("status") or {}
        if not isinstance(status, Mapping):
            continue
        raw_circuit = status.get("circuit") or {}
        if isinstance(raw_circuit, Mapping) and raw_circuit.get("state") in (c.CIRCUIT_OPEN, c.CIRCUIT_HALF_OPEN):
            ledger.circuits[name] = Circuit(
                c.CIRCUIT_OPEN, str(raw_circuit.get("reason", "")), str(raw_circuit.get("message", "")),
                since=parse_time(raw_circuit.get("lastTransitionTime")),
                open_until=parse_time(raw_circuit.get("openUntil")))
        for i, e in enumerate(status.get("ledger") or []):
            if not isinstance(e, Mapping):
                continue
            t = parse_time(e.get("time"))
            count = e.get("count")
            if t is None or not isinstance(count, int):
                continue
            op_id = str(e.get("id") or f"{_MERGED}/{name}/{i}")
            rules = tuple(str(r) for r in e.get("rules") or [])
            finished = parse_time(e.get("finishedTime"))
            known = ledger.admissions.get(op_id)
            if known is None:
                ledger.admissions[op_id] = Admission(op_id, "", t, count, {name: rules}, finished_at=finished)
            else:
                known.charges[name] = rules
                if finished is not None and known.finished_at is None:
                    known.finished_at = finished
    return ledger
