"""The durable ledger's record format: one JSON object per operation the Defender reviewed.

A record says everything `replay` needs to decide the operation again under
another policy, without the cluster: when (`time`, microseconds), the
operation (kind, id, action, nodes, count, approved, source), the fleet as
the Defender saw it, the policies in force (name and generation), and what was decided
(decision, policy, rule, reason, message, and each rule's outcome).

The fleet is stored as numbers, not as every Node: the node count, the
unhealthy count, the Nodes grouped by the label keys a storm guard can count
by (`GROUP_KEYS` plus every key the policies' selectors and topology keys
name) with healthy/unhealthy counts per group, and the operation's own nodes
in full (labels, health, when they turned unhealthy: the settle window).
`fleet_state(record)` rebuilds a FleetState from that which every storm
guard over the recorded keys counts exactly as the live one did. A candidate
counting by a key that was not recorded sees the healthy nodes without it
(`missing_keys` tells the CLI to warn).

A finished operation is a record too (`type: finished`), so replay frees
concurrency slots when the real operation freed them.

Pure: no I/O. `store.py` writes these records to ConfigMaps; the CLI reads
them from there or from an exported JSON-lines file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubenode.api.defender import Operation, Verdict
from kubenode.apimachinery.selectors import LabelSelector
from kubenode.apimachinery.timefmt import format_micro

from .engine import Decision, FleetState, NodeHealth, project_labels
from .policy import Policy

__all__ = [
    "GROUP_KEYS", "RECORD_FINISHED", "RECORD_REVIEW", "FleetSummary", "LedgerFormatError", "finished_record",
    "fleet_state", "format_record_time", "missing_keys", "operation_of", "parse_record_time", "policy_keys",
    "read_jsonl", "review_record", "sort_records", "summarize_fleet", "to_jsonl", "verdict_dict",
]

Obj = dict[str, Any]
RECORD_REVIEW = "review"
RECORD_FINISHED = "finished"
#: Label keys the fleet is always grouped by (the usual topology keys), besides the policies' own.
GROUP_KEYS = ("topology.kubernetes.io/zone", "topology.kubernetes.io/region", "kubernetes.io/arch")
#: More label groups than this: the least specific keys are dropped (a hostname-like key would make a
#: group per node); the record then says which keys it kept.
MAX_GROUPS = 512


class LedgerFormatError(ValueError):
    """A ledger line that is not a record; the message names the line and the field."""


def format_record_time(t: float) -> str:
    """Epoch seconds → RFC 3339 with microseconds (records keep the order of decisions in one second)."""
    return format_micro(t)


def parse_record_time(value: object) -> float:
    """A record's `time` → epoch seconds; ValueError when it is not RFC 3339."""
    if not isinstance(value, str):
        raise ValueError(f"time must be an RFC 3339 string, not {value!r}")
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _selector_keys(selector: LabelSelector | None) -> set[str]:
    return {r.key for r in selector.requirements} if selector is not None else set()


def policy_keys(policies: Iterable[Policy]) -> tuple[str, ...]:
    """The label keys storm guards of `policies` count by (selectors and topology keys), plus GROUP_KEYS."""
    keys: set[str] = set(GROUP_KEYS)
    for p in policies:
        for r in p.rules:
            if r.max_unhealthy is None:
                continue
            keys |= _selector_keys(r.selector)
            if r.topology_key:
                keys.add(r.topology_key)
    return tuple(sorted(keys))


@dataclass(frozen=True)
class FleetSummary:
    """The fleet as numbers (see the module docstring); `as_dict()` is what a record stores."""

    nodes: int
    unhealthy: int
    keys: tuple[str, ...]
    groups: tuple[tuple[tuple[tuple[str, str], ...], int, int], ...]  # (labels, nodes, unhealthy)

    def as_dict(self) -> Obj:
        """The JSON form."""
        return {"nodes": self.nodes, "unhealthy": self.unhealthy, "keys": list(self.keys),
                "groups": [{"labels": dict(labels), "nodes": n, "unhealthy": u} for labels, n, u in self.groups]}


def summarize_fleet(fleet: FleetState, keys: Sequence[str]) -> FleetSummary:
    """Group `fleet`'s nodes by their values of `keys` (dropping keys until at most MAX_GROUPS groups).

    From the fleet's group counts on every key (kept current per Node change): O(groups), not O(fleet).
    """
    full = fleet.group_counts(tuple(keys))
    kept = list(keys)
    while True:
        groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
        for labels, (nodes, bad) in full.items():
            g = groups.setdefault(tuple((k, v) for k, v in labels if k in kept), [0, 0])
            g[0] += nodes
            g[1] += bad
        if len(groups) <= MAX_GROUPS or not kept:
            break
        # Drop the key with the most distinct values (absent counts as one): it is the one making groups per node.
        kept.remove(max(kept, key=lambda k: len({dict(labels).get(k) for labels in full})))
    return FleetSummary(len(fleet), fleet.unhealthy, tuple(kept),
                        tuple(sorted((labels, g[0], g[1]) for labels, g in groups.items())))


def _node_dict(n: NodeHealth) -> Obj:
    out: Obj = {"name": n.name, "labels": dict(n.labels), "unhealthy": n.unhealthy}
    if n.problem:
        out["problem"] = n.problem
    if n.unhealthy_since is not None:
        out["unhealthySince"] = n.unhealthy_since
    return out


def _op_dict(op: Operation) -> Obj:
    out: Obj = {"kind": op.kind, "id": op.id, "count": op.count}
    if op.action:
        out["action"] = op.action
    if op.nodes:
        out["nodes"] = list(op.nodes)
    if op.approved:
        out["approved"] = True
    if op.source:
        out["source"] = op.source
    return out


def verdict_dict(v: Verdict) -> Obj:
    """A verdict's JSON form (what records and replay output carry)."""
    out: Obj = {"decision": v.decision, "reason": v.reason}
    for key, value in (("policy", v.policy), ("rule", v.rule), ("message", v.message)):
        if value:
            out[key] = value
    if v.retry_after_seconds is not None:
        out["retryAfterSeconds"] = round(v.retry_after_seconds, 3)
    return out


def review_record(op: Operation, decision: Decision, now: float, summary: FleetSummary, fleet: FleetState,
                  policies: Sequence[tuple[str, object]]) -> Obj:
    """The record of one review; `policies` are the (name, generation) of the policies in force."""
    op_nodes = [fleet.get(name) for name in op.nodes]
    return {
        "type": RECORD_REVIEW, "time": format_record_time(now), "operation": _op_dict(op),
        "fleet": {**summary.as_dict(), "opNodes": [_node_dict(n) for n in op_nodes if n is not None]},
        "policies": [{"name": name, "generation": gen} for name, gen in sorted(policies, key=lambda x: x[0])],
        "decision": {**verdict_dict(decision.verdict), "alreadyAdmitted": decision.replay},
        "outcomes": [{"policy": o.policy, "rule": o.rule, "decision": o.decision, "reason": o.reason}
                     for o in decision.outcomes],
    }


def finished_record(op_id: str, now: float) -> Obj:
    """The record of "`op_id` finished" (frees its concurrency slot in replay too)."""
    return {"type": RECORD_FINISHED, "time": format_record_time(now), "id": op_id}


# --------------------------------------------------------------------------- reading back


def operation_of(record: Mapping[str, Any]) -> Operation:
    """The Operation a review record stores."""
    op = record["operation"]
    return Operation(kind=str(op["kind"]), id=str(op["id"]), action=str(op.get("action", "")),
                     nodes=tuple(str(x) for x in op.get("nodes") or ()), count=int(op.get("count", 1)),
                     approved=bool(op.get("approved", False)), source=str(op.get("source", "")))


def missing_keys(record: Mapping[str, Any], keys: Iterable[str]) -> set[str]:
    """Which of `keys` the record's fleet was not grouped by."""
    return set(keys) - set((record.get("fleet") or {}).get("keys") or ())


def fleet_state(record: Mapping[str, Any]) -> FleetState:
    """A FleetState equivalent to the recorded one for every storm guard over the recorded keys.

    The operation's nodes are themselves (labels, health, since); every group's other nodes are stand-ins
    named `~<group>-<i>` with the group's labels, as many unhealthy as the group had.
    """
    fleet = record.get("fleet") or {}
    keys = tuple(fleet.get("keys") or ())
    real = [NodeHealth(str(n["name"]), dict(n.get("labels") or {}), bool(n.get("unhealthy")),
                       str(n.get("problem", "")), n.get("unhealthySince"))
            for n in fleet.get("opNodes") or []]
    taken: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for n in real:
        t = taken.setdefault(project_labels(n.labels, keys), [0, 0])
        t[0] += 1
        t[1] += int(n.unhealthy)
    nodes = list(real)
    for gi, g in enumerate(fleet.get("groups") or []):
        labels = {str(k): str(v) for k, v in (g.get("labels") or {}).items()}
        used = taken.get(project_labels(labels, keys), [0, 0])
        sick = max(0, int(g.get("unhealthy", 0)) - used[1])
        total = max(0, int(g.get("nodes", 0)) - used[0])
        for i in range(total):
            bad = i < sick
            nodes.append(NodeHealth(f"~{gi}-{i}", labels, bad, "recorded unhealthy" if bad else ""))
    return FleetState(nodes)


def _check_record(rec: object, where: str) -> Obj:
    if not isinstance(rec, dict):
        raise LedgerFormatError(f"{where}: a record must be a JSON object")
    kind = rec.get("type")
    try:
        parse_record_time(rec.get("time"))
    except ValueError as exc:
        raise LedgerFormatError(f"{where}: time: {exc}") from None
    if kind == RECORD_FINISHED:
        if not isinstance(rec.get("id"), str):
            raise LedgerFormatError(f"{where}: id: required (a string) in a finished record")
        return rec
    if kind != RECORD_REVIEW:
        raise LedgerFormatError(f"{where}: type: must be {RECORD_REVIEW!r} or {RECORD_FINISHED!r}, not {kind!r}")
    op = rec.get("operation")
    if not isinstance(op, dict) or not isinstance(op.get("kind"), str) or not isinstance(op.get("id"), str):
        raise LedgerFormatError(f"{where}: operation: must be an object with kind and id")
    if not isinstance(rec.get("decision"), dict) or not isinstance(rec["decision"].get("decision"), str):
        raise LedgerFormatError(f"{where}: decision.decision: required")
    if not isinstance(rec.get("fleet", {}), dict):
        raise LedgerFormatError(f"{where}: fleet: must be an object")
    return rec


def read_jsonl(text: str, source: str = "ledger") -> list[Obj]:
    """Parse JSON lines (blank lines skipped); LedgerFormatError names the line and field at fault."""
    out: list[Obj] = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LedgerFormatError(f"{source}:{i}: not JSON: {exc.msg} (column {exc.colno})") from None
        out.append(_check_record(rec, f"{source}:{i}"))
    return out


def to_jsonl(records: Iterable[Mapping[str, Any]]) -> str:
    """Records as JSON lines (compact, keys sorted: diffs of two exports stay readable)."""
    return "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in records)


def sort_records(records: Iterable[Obj]) -> list[Obj]:
    """In time order (stable: records of the same microsecond keep their order)."""
    return sorted(records, key=lambda r: parse_record_time(r["time"]))
