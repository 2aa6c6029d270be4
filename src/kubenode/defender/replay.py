"""What-if: the recorded operations decided again under candidate policies.

`replay(records, candidate)` walks the ledger in time order and re-runs the
pure engine (`decide` then `apply`) with the candidate policies and a ledger
of its own: admissions under the candidate differ, so its budgets, circuits
and concurrency evolve on their own (a `finished` record frees the slot when
the real operation freed it). Each review is decided at its recorded time on
the recorded fleet (`records.fleet_state`). The *current* column is what the
Defender actually answered, as recorded.

Limits, stated so nobody over-trusts a replay: callers act on the real
verdicts, so an operation the current policy denied and the candidate would
have admitted is replayed only as often as it was really retried; and the
fleet is the recorded one (what the candidate would have changed on it —
fewer reboots, say — is not simulated; `kubenode simulate` rehearses that
live).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubenode.api.defender import ALLOWED, DENIED, PENDING_APPROVAL

from .engine import Ledger, apply, decide
from .policy import Policy
from .records import (
    RECORD_FINISHED,
    RECORD_REVIEW,
    fleet_state,
    missing_keys,
    operation_of,
    parse_record_time,
    policy_keys,
    verdict_dict,
)

__all__ = ["ReplayResult", "ReplayRow", "replay"]

Obj = dict[str, Any]


@dataclass(frozen=True)
class ReplayRow:
    """One reviewed operation: what the current policy said, what the candidate says."""

    time: float
    kind: str
    op_id: str
    action: str
    nodes: tuple[str, ...]
    current: Mapping[str, Any]  # verdict_dict of the recorded answer
    candidate: Mapping[str, Any]  # verdict_dict of the candidate's

    @property
    def differs(self) -> bool:
        """Whether the two decisions differ (reasons aside)."""
        return _bucket(self.current) != _bucket(self.candidate)

    def as_dict(self) -> Obj:
        """The JSON form (`-o json`)."""
        return {"time": self.time, "operation": self.kind, "id": self.op_id, "action": self.action,
                "nodes": list(self.nodes), "current": dict(self.current), "candidate": dict(self.candidate),
                "differs": self.differs}


def _bucket(v: Mapping[str, Any]) -> str:
    return str(v.get("decision", ""))


@dataclass
class ReplayResult:
    """Every row plus the counts the summary prints."""

    rows: list[ReplayRow] = field(default_factory=list)
    finished: int = 0
    missing_keys: set[str] = field(default_factory=set)

    def counts(self, side: str) -> dict[str, int]:
        """Allowed / Denied / PendingApproval counts of `side` ("current" or "candidate")."""
        out = {ALLOWED: 0, DENIED: 0, PENDING_APPROVAL: 0}
        for r in self.rows:
            d = _bucket(getattr(r, side))
            out[d] = out.get(d, 0) + 1
        return out

    @property
    def differences(self) -> list[ReplayRow]:
        """The rows where current and candidate decided differently."""
        return [r for r in self.rows if r.differs]

    def summary(self) -> Obj:
        """The JSON summary."""
        diff = self.differences
        return {"operations": len(self.rows), "finished": self.finished, "current": self.counts("current"),
                "candidate": self.counts("candidate"), "differences": len(diff),
                "onlyCurrentAllowed": sum(1 for r in diff if _bucket(r.current) == ALLOWED),
                "onlyCandidateAllowed": sum(1 for r in diff if _bucket(r.candidate) == ALLOWED),
                "unrecordedLabelKeys": sorted(self.missing_keys)}


def replay(records: Iterable[Mapping[str, Any]], candidate: Sequence[Policy]) -> ReplayResult:
    """Decide every recorded review again under `candidate`, in time order (see the module docstring)."""
    ordered = sorted(records, key=lambda r: parse_record_time(r["time"]))
    keys = policy_keys(candidate)
    ledger = Ledger()
    result = ReplayResult()
    for rec in ordered:
        now = parse_record_time(rec["time"])
        if rec.get("type") == RECORD_FINISHED:
            ledger.finish(str(rec["id"]), now)
            result.finished += 1
            continue
        if rec.get("type") != RECORD_REVIEW:
            continue
        op = operation_of(rec)
        result.missing_keys |= missing_keys(rec, keys)
        decision = decide(candidate, op, ledger, fleet_state(rec), now)
        apply(ledger, op, decision, now)
        current = {k: v for k, v in rec["decision"].items() if k != "alreadyAdmitted"}
        result.rows.append(ReplayRow(now, op.kind, op.id, op.action, op.nodes, current,
                                     verdict_dict(decision.verdict)))
        # Windows slide: forget what no candidate window counts any more (as the service does).
        if len(ledger.admissions) > 4096:
            ledger.prune({p.name: p.longest_window for p in candidate}, now)
    return result

