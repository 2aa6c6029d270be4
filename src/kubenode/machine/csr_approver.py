"""KubeNode's CSR approver: the controller that carries out `csr_approval.decide` through the API.

Like kube-controller-manager's csrapproving controller: level-triggered on
CertificateSigningRequests (and on Machines, whose bootstrap-token annotation
may appear after the agent asked), it adds an ``Approved`` or ``Denied``
condition through the ``/approval`` subresource with a resourceVersion
precondition, and records every decision — including "left pending, and
why" — as an Event on the CSR and in a metric.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.resources import CSRS
from kubenode.runtime.controller import Request, Result
from kubenode.runtime.events import EventRecorder
from kubenode.runtime.informer import Informer

from .csr_approval import APPROVE, DENY, PENDING, csr_node, decide

log = logging.getLogger("kubenode.machine.csr_approver")

Obj = dict[str, Any]
FIELD_MANAGER = "kubenode-csr-approver"


class CSRApprover:
    """Reconciles one CSR per call."""

    def __init__(self, client: KubeClient, csrs: Informer, machines: Informer, recorder: EventRecorder,
                 registry: CollectorRegistry | None = None) -> None:
        self.client = client
        self.csrs = csrs
        self.machines = machines
        self.recorder = recorder
        self.decisions = Counter("kubenode_csr_approver_decisions_total",
                                 "Agent and kubelet certificate requests decided by KubeNode's approver, by action "
                                 "and reason.",
                                 ["action", "reason"], registry=registry)
        for action, reason in ((APPROVE, "AutoApproved"), (DENY, "InvalidSubject"), (DENY, "InvalidUsages"),
                               (PENDING, "NodeNotAMachine"), (PENDING, "RequesterNotMachine"),
                               (PENDING, "NotAKubeletClientRequest"), (PENDING, "MachineNotImported")):
            self.decisions.labels(action, reason)
        self._pending_reported: dict[str, str] = {}  # CSR uid -> reason already reported

    async def __call__(self, req: Request) -> Result | None:
        csr = self.csrs.cache.get("", req.name)
        if csr is None:
            return None
        decision = decide(csr, self.machines.cache.list())
        if decision is None:
            return None
        uid = str(csr["metadata"].get("uid", ""))
        if decision.action == PENDING:
            if self._pending_reported.get(uid) != decision.reason:
                self._pending_reported[uid] = decision.reason
                self.decisions.labels(decision.action, decision.reason).inc()
                await self.recorder.event(csr, "Warning", decision.reason, decision.message)
            return None
        conditions = list((csr.get("status") or {}).get("conditions") or [])
        conditions.append({"type": "Approved" if decision.action == APPROVE else "Denied", "status": "True",
                           "reason": decision.reason, "message": decision.message})
        try:
            body = {"metadata": {"resourceVersion": csr["metadata"]["resourceVersion"]},
                    "status": {"conditions": conditions}}
            await self.client.patch(CSRS, req.name, body, subresource="approval", field_manager=FIELD_MANAGER)
        except errors.Conflict:
            return Result(requeue_after=0.1)  # the CSR changed: decide again on the new one
        except errors.NotFound:
            return None
        self._pending_reported.pop(uid, None)
        self.decisions.labels(decision.action, decision.reason).inc()
        await self.recorder.event(csr, "Normal" if decision.action == APPROVE else "Warning", decision.reason,
                                  decision.message)
        log.info("%s CSR %s: %s", decision.action.lower(), req.name, decision.message)
        return None


def csrs_for_machine(csrs: Informer) -> Any:
    """Map a Machine to the undecided agent and kubelet CSRs for its node (its token annotations may arrive late)."""

    def mapper(machine: Obj) -> list[Request]:
        node = str((machine.get("spec") or {}).get("nodeName") or machine["metadata"]["name"])
        return [Request(c["metadata"]["name"]) for c in csrs.cache.list() if csr_node(c) == node]

    return mapper
