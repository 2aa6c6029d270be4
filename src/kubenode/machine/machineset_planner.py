"""Which machines a MachineSet creates or deletes: a pure function of observed state.

Deletion order (DESIGN.md, Cluster API's rules): machines annotated
`kubenode.io/delete-machine` first, then unhealthy ones, then by
`spec.deletePolicy` — Random (a stable hash, so repeated plans agree),
Newest or Oldest. Machines already being deleted count as gone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from kubenode.api import constants

Obj = dict[str, Any]

DELETE_MACHINE_ANNOTATION = "kubenode.io/delete-machine"


@dataclass
class MachineSetPlan:
    """What to do next for one MachineSet."""

    create: int = 0
    delete: list[str] = field(default_factory=list)  # machine names, in deletion order


def is_unhealthy(machine: Obj) -> bool:
    """Failed, or Ready=False/Unknown after it had been running."""
    status = machine.get("status") or {}
    if status.get("phase") == "Failed" or status.get("failureReason"):
        return True
    for c in status.get("conditions") or []:
        if c.get("type") == "NodeReady" and c.get("status") in ("False", "Unknown") and status.get("nodeRef"):
            return True
    return False


def _tier(machine: Obj) -> int:
    if DELETE_MACHINE_ANNOTATION in ((machine.get("metadata") or {}).get("annotations") or {}):
        return 0
    return 1 if is_unhealthy(machine) else 2


def _policy_key(machine: Obj, policy: str) -> tuple[str, str]:
    meta = machine.get("metadata") or {}
    name = meta.get("name") or ""
    if policy in ("Newest", "Oldest"):
        return meta.get("creationTimestamp") or "", name
    return hashlib.sha256((meta.get("uid") or name).encode()).hexdigest(), name


def deletion_order(machines: list[Obj], policy: str) -> list[Obj]:
    """Machines in the order a scale-down deletes them."""
    ordered = sorted(machines, key=lambda m: _policy_key(m, policy), reverse=policy == "Newest")
    ordered.sort(key=_tier)  # stable: the policy order holds within each tier
    return ordered


def plan_machineset(replicas: int, policy: str, machines: list[Obj]) -> MachineSetPlan:
    """How many machines to create and which to delete so that `replicas` remain."""
    alive = [m for m in machines if not (m.get("metadata") or {}).get("deletionTimestamp")]
    diff = replicas - len(alive)
    if diff > 0:
        return MachineSetPlan(create=diff)
    if diff == 0:
        return MachineSetPlan()
    ordered = deletion_order(alive, policy)
    return MachineSetPlan(delete=[m["metadata"]["name"] for m in ordered[:-diff]])


def machineset_conditions(want: int, alive: int, ready: int, create_error: str | None = None) -> list[
        tuple[str, str, str, str]]:
    """(type, status, reason, message) of the MachineSet conditions its schema names: MachinesCreated,
    MachinesReady, Resized. Pure."""
    c = constants
    if create_error is not None:
        created = (c.MACHINE_SET_CONDITION_MACHINES_CREATED, c.CONDITION_FALSE,
                   c.MACHINE_SET_REASON_MACHINE_CREATE_FAILED, create_error[:2048])
    elif alive < want:
        created = (c.MACHINE_SET_CONDITION_MACHINES_CREATED, c.CONDITION_FALSE, c.MACHINE_SET_REASON_SCALING_UP,
                   f"{alive} of {want} machine(s) created")
    else:
        created = (c.MACHINE_SET_CONDITION_MACHINES_CREATED, c.CONDITION_TRUE, c.MACHINE_SET_REASON_MACHINES_CREATED,
                   f"{alive} machine(s) exist for {want} replica(s)")
    if ready >= alive:
        machines_ready = (c.MACHINE_SET_CONDITION_MACHINES_READY, c.CONDITION_TRUE,
                          c.MACHINE_SET_REASON_MACHINES_READY, f"{ready}/{alive} machines ready")
    else:
        machines_ready = (c.MACHINE_SET_CONDITION_MACHINES_READY, c.CONDITION_FALSE,
                          c.MACHINE_SET_REASON_MACHINES_NOT_READY, f"{ready}/{alive} machines ready")
    if alive == want:
        resized = (c.MACHINE_SET_CONDITION_RESIZED, c.CONDITION_TRUE, c.MACHINE_SET_REASON_RESIZED,
                   f"{want} replica(s)")
    else:
        resized = (c.MACHINE_SET_CONDITION_RESIZED, c.CONDITION_FALSE,
                   c.MACHINE_SET_REASON_SCALING_UP if alive < want else c.MACHINE_SET_REASON_SCALING_DOWN,
                   f"{alive} machine(s), {want} wanted")
    return [created, machines_ready, resized]
