"""The contract every fleet operation uses to ask the Defender for permission.

It lives in `api/` because the operators that ask (componentset, remedy,
machine) and the Defender that answers are sibling packages that must not
import each other; the wiring layer passes the real Defender in.

Operators never act on the fleet before asking: a remediation job, a
MachineComponentSet batch and a Machine deletion each build an `Operation`
and `await defender.review(op)`. The answer is a `Verdict`, which the caller
records (job status, condition, Event, metric) and obeys. When the operation
has finished, the caller calls `defender.finished(op.id)` so `maxConcurrent`
frees the slot; `in_progress(prefix)` lists what is still admitted, so a
caller that restarted can finish what its status no longer names.
Reviewing the same operation id again is idempotent: an already admitted
operation is not charged twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

REMEDIATION = "Remediation"
COMPONENT_UPGRADE = "ComponentUpgrade"
MACHINE_DELETION = "MachineDeletion"
OPERATIONS = (REMEDIATION, COMPONENT_UPGRADE, MACHINE_DELETION)

ALLOWED = "Allowed"
DENIED = "Denied"
PENDING_APPROVAL = "PendingApproval"


@dataclass(frozen=True)
class Operation:
    """One operation on the fleet, as the Defender sees it."""

    kind: str  # Remediation | ComponentUpgrade | MachineDeletion
    id: str  # deterministic and unique, e.g. a RemedyOperationJob name or "mcs/<set>/<revision>/batch/<n>"
    action: str = ""  # remediation action type (RestartComponent, Reboot, Replace, ...)
    nodes: tuple[str, ...] = ()  # nodes the operation touches
    count: int = 1  # tokens it costs (a rollout batch of 10 machines costs 10)
    approved: bool = False  # a human approved it (requireApproval rules)
    source: str = ""  # the object that asks, e.g. "NodeRemedier/kernel" (for messages and Events)


@dataclass(frozen=True)
class Verdict:
    """The Defender's answer."""

    decision: str  # Allowed | Denied | PendingApproval
    policy: str = ""  # the DefenderPolicy that decided ("" when no policy matched)
    rule: str = ""  # the rule within it
    reason: str = ""  # CamelCase, e.g. BudgetExhausted, MaxConcurrent, StormDetected, FreezeWindow, ...
    message: str = ""  # for humans
    retry_after_seconds: float | None = None  # when trying again may succeed
    details: dict[str, str] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        """Whether the operation may go ahead now."""
        return self.decision == ALLOWED


class Reviewer(Protocol):
    """What operators depend on (the Defender service implements it)."""

    async def review(self, op: Operation) -> Verdict:
        """Decide whether `op` may go ahead now."""
        ...

    def finished(self, op_id: str) -> None:
        """`op_id` has finished (succeeded, failed or timed out): free its concurrency slot."""
        ...

    async def in_progress(self, prefix: str) -> list[str]:
        """The ids starting with `prefix` of admitted operations not finished yet (callers reconcile them
        with what their own status says is in flight, so no slot depends on the caller's memory)."""
        ...


class AllowAll:
    """The reviewer used when no Defender runs (tests, or a deliberately unprotected setup)."""

    async def review(self, op: Operation) -> Verdict:
        """Allow everything."""
        return Verdict(ALLOWED, reason="NoDefender", message="no Defender is running")

    def finished(self, op_id: str) -> None:
        """Nothing to free."""

    async def in_progress(self, prefix: str) -> list[str]:
        """Nothing is tracked."""
        return []
