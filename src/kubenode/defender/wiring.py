"""How the wiring layer puts the Defender on a Manager and adapts callers to it.

`controlplane/operators.py` calls these: the Defender package must not know
the other operator packages (they are siblings), and they must not know it:
they only see `kubenode.api.defender.Reviewer`. The MachineSet deletion gate
is one such adapter: the MachineSet controller asks "may I delete this
machine?" and gets `(allowed, reason)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kubenode.api.constants import KIND_MACHINE_SET, OPERATION_MACHINE_DELETION
from kubenode.api.defender import Operation, Reviewer
from kubenode.client.client import KubeClient
from kubenode.runtime.events import EventRecorder
from kubenode.runtime.informer import Informer
from kubenode.runtime.manager import Manager

from .resources import DEFENDER_POLICIES
from .service import Defender

__all__ = ["build_defender", "machine_deletion_gate", "machine_deletion_operation"]

Obj = dict[str, Any]


def build_defender(manager: Manager, client: KubeClient, nodes: Informer, identity: str = "") -> Defender:
    """A Defender on `manager`'s informers and registry, added as a leader-elected runnable."""
    policies = manager.informers.informer(DEFENDER_POLICIES)
    recorder = EventRecorder(client, "kubenode-defender", identity)
    defender = Defender(client, policies, nodes, manager.registry, recorder)
    manager.add(defender)
    return defender


def machine_deletion_operation(ms: Obj, machine: Obj, why: str) -> Operation:
    """The Operation for "MachineSet `ms` deletes `machine`" (id `machine/<uid>`: one per machine)."""
    meta = machine["metadata"]
    node = (((machine.get("status") or {}).get("nodeRef") or {}).get("name")
            or (machine.get("spec") or {}).get("nodeName") or "")
    return Operation(kind=OPERATION_MACHINE_DELETION, id=f"machine/{meta['uid']}", nodes=(node,) if node else (),
                     source=f"{KIND_MACHINE_SET}/{ms['metadata']['name']}")


def machine_deletion_gate(reviewer: Reviewer) -> Callable[[Obj, Obj, str], Awaitable[tuple[bool, str]]]:
    """The MachineSet controller's `deletion_gate`, asking `reviewer`."""

    async def gate(ms: Obj, machine: Obj, why: str) -> tuple[bool, str]:
        verdict = await reviewer.review(machine_deletion_operation(ms, machine, why))
        return verdict.allowed, f"{verdict.reason}: {verdict.message}"

    return gate
