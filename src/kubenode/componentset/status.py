"""The MachineComponentSet status as a function of the plan: counts, phase and conditions.

Kept apart from the controller so that "what does a human see" is one small
file: every planner decision becomes a phase, a message and a condition with
a CamelCase reason (Progressing, Available, Degraded, Paused; RolloutAllowed
is set by the controller from the Defender's verdict). Nothing here does I/O.
"""

from __future__ import annotations

import copy
from typing import Any

from kubenode.api import constants as c
from kubenode.runtime.conditions import set_condition

from .rollout_planner import Plan

Obj = dict[str, Any]

#: Reasons for the calm state of Degraded and Paused (kept importable here; the constants are in `api/`).
REASON_NO_FAILURES = c.COMPONENT_SET_REASON_NO_FAILURES
REASON_NOT_PAUSED = c.COMPONENT_SET_REASON_NOT_PAUSED

#: Phases after which `kubenode rollout status --watch` stops.
SETTLED_PHASES = (c.ROLLOUT_PHASE_COMPLETED, c.ROLLOUT_PHASE_FAILED, c.ROLLOUT_PHASE_PAUSED)


def build_status(mcs: Obj, plan: Plan, *, target: str, history: list[Obj], batch_start: str | None,
                 rollout_allowed: tuple[str, str, str] | None, now: str, batch_ready: str | None = None,
                 batch_operation: str | None = None) -> Obj:
    """The new status of `mcs` (a fresh dict).

    `rollout_allowed` is (status, reason, message) of the Defender's last
    verdict this reconcile, or None to keep the condition as it was;
    `batch_ready` when the last batch was first seen complete (the soak
    clock) and `batch_operation` the Defender operation id of the batch in
    flight (None: none).
    """
    old = mcs.get("status") or {}
    gen = mcs["metadata"].get("generation")
    conditions: list[Obj] = copy.deepcopy(old.get("conditions") or [])

    def cond(type_: str, status: bool, reason: str, message: str) -> None:
        set_condition(conditions, type_, c.CONDITION_TRUE if status else c.CONDITION_FALSE, reason, message,
                      observed_generation=gen, now=now)

    moving = plan.phase in (c.ROLLOUT_PHASE_PROGRESSING, c.ROLLOUT_PHASE_ROLLING_BACK)
    cond(c.COMPONENT_SET_CONDITION_PROGRESSING, moving, plan.reason, plan.message)
    if plan.unavailable:
        cond(c.COMPONENT_SET_CONDITION_AVAILABLE, False, c.COMPONENT_SET_REASON_MACHINES_UNAVAILABLE,
             f"{plan.unavailable} of {plan.desired} machine(s) do not run the component healthily")
    else:
        cond(c.COMPONENT_SET_CONDITION_AVAILABLE, True, c.COMPONENT_SET_REASON_ALL_AVAILABLE,
             f"all {plan.desired} machine(s) run the component healthily")
    if plan.degraded:
        reason = {c.ROLLOUT_PHASE_ROLLING_BACK: c.COMPONENT_SET_REASON_ROLLING_BACK,
                  c.ROLLOUT_PHASE_FAILED: c.COMPONENT_SET_REASON_ROLLED_BACK}.get(plan.phase)
        if reason is None:
            reason = (c.COMPONENT_SET_REASON_MAX_FAILURES_EXCEEDED
                      if plan.reason == c.COMPONENT_SET_REASON_MAX_FAILURES_EXCEEDED
                      else c.COMPONENT_SET_REASON_MACHINES_FAILED)
        names = ", ".join(name for name, _ in plan.failed[:10])
        cond(c.COMPONENT_SET_CONDITION_DEGRADED, True, reason,
             f"{len(plan.failed)} machine(s) failed at revision {target}: {names}" if plan.failed else plan.message)
    else:
        cond(c.COMPONENT_SET_CONDITION_DEGRADED, False, c.COMPONENT_SET_REASON_NO_FAILURES, "no machine failed")
    if plan.phase == c.ROLLOUT_PHASE_PAUSED:
        cond(c.COMPONENT_SET_CONDITION_PAUSED, True, plan.reason, plan.message)
    else:
        cond(c.COMPONENT_SET_CONDITION_PAUSED, False, c.COMPONENT_SET_REASON_NOT_PAUSED, "the rollout is not paused")
    if rollout_allowed is not None:
        allowed, reason, message = rollout_allowed
        set_condition(conditions, c.COMPONENT_SET_CONDITION_ROLLOUT_ALLOWED, allowed, reason, message,
                      observed_generation=gen, now=now)

    current = target if plan.phase == c.ROLLOUT_PHASE_COMPLETED else old.get("currentRevision") or ""
    status: Obj = {
        "observedGeneration": gen,
        "phase": plan.phase,
        "currentRevision": current,
        "updateRevision": target,
        "revisions": history,
        "desired": plan.desired,
        "updated": plan.updated,
        "ready": plan.ready,
        "failed": len(plan.failed),
        "unavailable": plan.unavailable,
        "currentBatch": plan.current_batch,
        "totalBatches": plan.total_batches,
        "failedMachines": [{"name": name, "message": msg[:1024]} for name, msg in plan.failed],
        "message": plan.message,
        "conditions": conditions,
    }
    if not plan.failed:
        del status["failedMachines"]  # the server keeps empty lists, but absent reads better in kubectl
    if batch_start:
        status["batchStartTime"] = batch_start
    if batch_ready:
        status["batchReadyTime"] = batch_ready
    if batch_operation:
        status["batchOperation"] = batch_operation
    if not current:
        del status["currentRevision"]
    return status


def status_changed(old: Obj | None, new: Obj) -> bool:
    """Whether writing `new` would change anything (the server does not bump no-op writes, but they cost)."""
    return (old or {}) != new
