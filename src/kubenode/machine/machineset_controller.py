"""The MachineSet controller: keep `spec.replicas` machines of a template.

Machines are created from `spec.template` with generated names, owned by the
set (controller reference) and labelled `kubenode.io/machineset`. Scale-down
follows `machineset_planner.plan_machineset`. A deleted or Failed machine is
replaced: Failed machines count as unhealthy, go first on scale-down, and a
Failed machine is deleted by the set so that its replacement can come up.
Status counts and the `/scale` selector are derived from the cache.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kubenode.api.constants import LABEL_MACHINE_SET, MACHINE_SET_CONDITIONS
from kubenode.apimachinery.selectors import label_selector_from_dict
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.runtime.conditions import is_true, set_condition
from kubenode.runtime.controller import Request, Result
from kubenode.runtime.informer import Informer

from .machineset_planner import machineset_conditions, plan_machineset
from .resources import MACHINE_SETS, MACHINES

log = logging.getLogger("kubenode.machineset")
Obj = dict[str, Any]
FIELD_MANAGER = "kubenode-machineset-controller"

#: Asks the Defender whether a machine may be deleted: returns (allowed, reason).
DeletionGate = Callable[[Obj, Obj, str], Awaitable[tuple[bool, str]]]


def owned_by(obj: Obj, owner_uid: str) -> bool:
    """Whether `obj` has a controller reference to `owner_uid`."""
    return any(r.get("uid") == owner_uid and r.get("controller") for r in obj["metadata"].get("ownerReferences") or [])


def selector_string(ms: Obj) -> str:
    """The set's selector as a label-selector string (for /scale)."""
    sel = label_selector_from_dict((ms.get("spec") or {}).get("selector") or {})
    return str(sel)


#: Index of the Machines cache: the uid of a machine's controller (its MachineSet).
INDEX_OWNER = "owner"


def controller_uids(obj: Obj) -> list[str]:
    """Index function: the uid of `obj`'s controller reference."""
    return [r["uid"] for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")]


class MachineSetReconciler:
    """Reconciles one MachineSet per call (wired by `wiring.add_machine_controllers`; Machines indexed by
    `INDEX_OWNER`)."""

    def __init__(self, client: KubeClient, machinesets: Informer, machines: Informer,
                 deletion_gate: DeletionGate | None = None) -> None:
        self.client = client
        self.machinesets = machinesets
        self.machines = machines
        self.deletion_gate = deletion_gate

    async def __call__(self, req: Request) -> Result | None:
        ms = self.machinesets.cache.get("", req.name)
        if ms is None or ms["metadata"].get("deletionTimestamp"):
            return None  # owned machines go with the set through garbage collection
        uid = ms["metadata"]["uid"]
        spec = ms.get("spec") or {}
        machines = [m for m in self.machines.cache.by_index(INDEX_OWNER, uid) if owned_by(m, uid)]
        # Failed machines are replaced: delete them first (the Defender may hold this).
        failed = [m for m in machines if (m.get("status") or {}).get("phase") == "Failed"
                  and not m["metadata"].get("deletionTimestamp")]
        for m in failed:
            await self._delete(ms, m, "replacing a failed machine")
        alive = [m for m in machines if m not in failed]
        plan = plan_machineset(int(spec.get("replicas", 1)), spec.get("deletePolicy") or "Random", alive)
        create_error: str | None = None
        for _ in range(plan.create):
            try:
                await self._create(ms)
            except errors.ApiError as exc:
                create_error = f"creating a machine failed: {exc}"
                log.warning("machineset %s: %s", req.name, create_error)
                break
        by_name = {m["metadata"]["name"]: m for m in alive}
        for name in plan.delete:
            await self._delete(ms, by_name[name], "scaling down")
        await self._write_status(ms, machines, create_error)
        return Result(requeue_after=5.0 if create_error else 30.0)

    async def _create(self, ms: Obj) -> None:
        template = (ms.get("spec") or {}).get("template") or {}
        tmeta = template.get("metadata") or {}
        name = ms["metadata"]["name"]
        labels = {**(tmeta.get("labels") or {}), LABEL_MACHINE_SET: name}
        body = {
            "apiVersion": ms["apiVersion"], "kind": "Machine",
            "metadata": {
                "generateName": f"{name}-", "labels": labels, "annotations": dict(tmeta.get("annotations") or {}),
                "ownerReferences": [{"apiVersion": ms["apiVersion"], "kind": "MachineSet", "name": name,
                                     "uid": ms["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": template.get("spec") or {},
        }
        created = await self.client.create(MACHINES, body, field_manager=FIELD_MANAGER)
        # Seen by our cache before the next reconcile? Not necessarily: record it now so that a
        # quick second reconcile does not create a duplicate.
        self.machines.cache.remember(created)
        log.info("machineset %s created machine %s", name, created["metadata"]["name"])

    async def _delete(self, ms: Obj, machine: Obj, why: str) -> None:
        name = machine["metadata"]["name"]
        if self.deletion_gate is not None:
            allowed, reason = await self.deletion_gate(ms, machine, why)
            if not allowed:
                log.info("machineset %s: deletion of %s held: %s", ms["metadata"]["name"], name, reason)
                return
        try:
            await self.client.delete(MACHINES, name, preconditions={"uid": machine["metadata"]["uid"]})
        except errors.NotFound:
            pass
        log.info("machineset %s deleted machine %s (%s)", ms["metadata"]["name"], name, why)

    async def _write_status(self, ms: Obj, machines: list[Obj], create_error: str | None = None) -> None:
        alive = [m for m in machines if not m["metadata"].get("deletionTimestamp")]
        ready = [m for m in alive if is_true((m.get("status") or {}).get("conditions"), "Ready")]
        spec = ms.get("spec") or {}
        want = int(spec.get("replicas", 1))
        old = ms.get("status") or {}
        # The conditions the schema names (MachinesCreated, MachinesReady, Resized); the first version's
        # "Ready" is dropped.
        conditions = [dict(c) for c in old.get("conditions") or [] if c.get("type") in MACHINE_SET_CONDITIONS]
        gen = ms["metadata"].get("generation")
        for type_, st, reason, message in machineset_conditions(want, len(alive), len(ready), create_error):
            set_condition(conditions, type_, st, reason, message, observed_generation=gen)
        status = {
            "replicas": len(alive), "readyReplicas": len(ready), "availableReplicas": len(ready),
            "fullyLabeledReplicas": len(alive), "observedGeneration": gen, "selector": selector_string(ms),
            "conditions": conditions,
        }
        if all(old.get(k) == v for k, v in status.items()):
            return
        await self.client.patch(MACHINE_SETS, ms["metadata"]["name"], {"status": status}, subresource="status",
                                field_manager=FIELD_MANAGER)
