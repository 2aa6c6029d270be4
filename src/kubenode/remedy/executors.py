"""Controller-side remediation actions: Cordon, Uncordon, Drain, Replace — all through the API.

Each call is idempotent and returns a `Progress`: done (with a message),
still in progress (Drain waiting for disruption budgets: the job controller
calls again until the step's timeout), or failed.

Replace deletes the node's Machine so that its MachineSet creates a new one.
It is reviewed once, by the job's Defender review as a `Remediation` with
action `Replace`, which the Defender also counts as a `MachineDeletion` (the
rules of both operations must allow it; a DefenderPolicy can single it out
with `actions: [Replace]`); the MachineSet's own replacement of the deleted
machine is a creation, which the Defender does not gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubenode.api import constants as c
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.resources import NODES
from kubenode.drain import drain

from .resources import MACHINES

Obj = dict[str, Any]
FIELD_MANAGER = "kubenode-remedy-controller"


@dataclass(frozen=True)
class Progress:
    """Where a controller-side action stands."""

    done: bool
    message: str
    failed: bool = False


class ControllerActions:
    """Runs the controller-side actions of jobs."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def run(self, job: Obj) -> Progress:
        """Carry out (or continue) the job's action."""
        spec = job.get("spec") or {}
        node = str(spec.get("nodeName") or "")
        type_ = ((spec.get("action") or {}).get("type")) or ""
        if type_ == c.ACTION_CORDON:
            return await self._set_unschedulable(node, True)
        if type_ == c.ACTION_UNCORDON:
            return await self._set_unschedulable(node, False)
        if type_ == c.ACTION_DRAIN:
            return await self._drain(node)
        if type_ == c.ACTION_REPLACE:
            return await self._replace(node, str(spec.get("machineName") or ""))
        return Progress(True, f"{type_!r} is not a controller-side action", failed=True)

    async def _set_unschedulable(self, node: str, value: bool) -> Progress:
        try:
            await self.client.patch(NODES, node, {"spec": {"unschedulable": value}}, field_manager=FIELD_MANAGER)
        except errors.NotFound:
            return Progress(True, f"node {node} not found", failed=True)
        return Progress(True, f"node {node} {'cordoned' if value else 'uncordoned'}")

    async def _drain(self, node: str) -> Progress:
        """The shared drain (`kubenode.drain`), one round per call until the step's timeout."""
        result = await drain(self.client, node, field_manager=FIELD_MANAGER)
        if not result.found:
            return Progress(True, f"node {node} not found", failed=True)
        return Progress(result.done, result.message())

    async def _replace(self, node: str, machine: str) -> Progress:
        if not machine:
            try:
                obj = await self.client.get(NODES, node)
            except errors.NotFound:
                return Progress(True, f"node {node} not found and the job names no machine", failed=True)
            machine = ((obj.get("metadata") or {}).get("labels") or {}).get(c.LABEL_MACHINE, "")
        if not machine:
            return Progress(True, f"node {node} has no Machine to replace", failed=True)
        try:
            await self.client.delete(MACHINES, machine)
        except errors.NotFound:
            return Progress(True, f"machine {machine} is already gone")
        return Progress(True, f"machine {machine} deleted; its MachineSet replaces it")
