"""The RemedyOperationJob controller: Defender review, controller-side execution, timeouts.

Lifecycle (DESIGN.md): Pending → (Defender review) Approved | Denied →
Running → Succeeded | Failed | TimedOut. A job is reviewed as
`Operation(kind=Remediation, id=<job name>, action=<type>, nodes=(<node>,))`;
the verdict is written to `status.defender` (decision, policy, rule, reason,
message, decisionTime), to an Event on the job and to a metric. A
PendingApproval verdict keeps the job Pending until a human sets the
`kubenode.io/approved: "true"` annotation (`kubenode remedy approve JOB`),
which triggers a new review with `approved=True`. A StormSettling verdict (the
storm guard's settle window after the node turned unhealthy) also keeps the
job Pending: it is reviewed again when the window is over.

Agent-side actions are then the agent's to run; this controller only times
them out (from the decision when the agent never started, from `startTime`
otherwise). Controller-side actions run here. A dry-run job is reviewed (so
the would-be decision is visible) and then completes as Succeeded with
reason DryRun without doing anything; note that its review counts against
Defender budgets like a real one.

Every status write carries the resourceVersion it was computed from, so the
agent finishing a job and this controller timing it out cannot both win.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kubenode.api import constants as c
from kubenode.api.defender import REMEDIATION, Operation, Reviewer
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.runtime.controller import Request, Result
from kubenode.runtime.informer import Informer

from .executors import ControllerActions
from .resources import REMEDY_JOBS
from .rules import parse_time
from .status import defender_status, job_status

log = logging.getLogger("kubenode.remedy.jobs")
Obj = dict[str, Any]
FIELD_MANAGER = "kubenode-remedy-controller"
PENDING_APPROVAL_RECHECK = 30.0
DRAIN_RECHECK = 5.0

EventFn = Callable[[Obj, str, str, str], Awaitable[None]]
DecisionFn = Callable[[str, str], None]


def operation_for(job: Obj) -> Operation:
    """The Defender operation of a job."""
    spec = job.get("spec") or {}
    meta = job["metadata"]
    approved = (meta.get("annotations") or {}).get(c.ANNOTATION_APPROVED, "").lower() == "true"
    return Operation(kind=REMEDIATION, id=meta["name"], action=str((spec.get("action") or {}).get("type") or ""),
                     nodes=(str(spec.get("nodeName") or ""),), approved=approved,
                     source=f"{c.KIND_NODE_REMEDIER}/{spec.get('remedier', '')}")


def timeout_left(job: Obj, now: float) -> float | None:
    """Seconds until an Approved or Running job times out (None when it has no clock yet)."""
    spec = job.get("spec") or {}
    status = job.get("status") or {}
    timeout = float((spec.get("action") or {}).get("timeoutSeconds") or 300)
    started = parse_time(status.get("startTime")) or parse_time((status.get("defender") or {}).get("decisionTime"))
    if started is None:
        return None
    return started + timeout - now


class JobReconciler:
    """Reconciles one RemedyOperationJob per call (wired by `wiring.add_remedy_controllers`).

    Each status write is one step of the job's lifecycle, guarded by the resourceVersion it was computed
    from (`status.job_status`); a controller-side action's Approved → Running is two such steps."""

    def __init__(self, client: KubeClient, jobs: Informer, reviewer: Reviewer, *, on_event: EventFn,
                 on_decision: DecisionFn, on_outcome: DecisionFn) -> None:
        self.client = client
        self.jobs = jobs
        self.reviewer = reviewer
        self.actions = ControllerActions(client)
        self.on_event = on_event
        self.on_decision = on_decision
        self.on_outcome = on_outcome
        self._finished: set[str] = set()

    async def __call__(self, req: Request) -> Result | None:
        job = self.jobs.cache.get("", req.name)
        if job is None:
            self._finish(req.name)
            return None
        phase = (job.get("status") or {}).get("phase") or c.JOB_PHASE_PENDING
        if phase in c.JOB_TERMINAL_PHASES:
            self._finish(req.name)
            return None
        if phase == c.JOB_PHASE_PENDING:
            return await self._review(job)
        action = str(((job.get("spec") or {}).get("action") or {}).get("type") or "")
        left = timeout_left(job, time.time())
        if left is not None and left <= 0:
            await self._complete(job, c.JOB_PHASE_TIMED_OUT, c.JOB_REASON_TIMED_OUT,
                                 f"{action} did not finish within {self._timeout(job):g}s")
            return None
        if action in c.CONTROLLER_ACTIONS:
            return await self._run_controller_action(job, phase)
        # Agent-side: the agent moves it on; wake up at the deadline to time it out if it does not.
        return Result(requeue_after=max(0.5, left)) if left is not None else None

    @staticmethod
    def _timeout(job: Obj) -> float:
        return float((((job.get("spec") or {}).get("action") or {}).get("timeoutSeconds")) or 300)

    def _finish(self, name: str) -> None:
        if name not in self._finished:
            self._finished.add(name)
            self.reviewer.finished(name)

    async def _write(self, job: Obj, body: Obj) -> Obj | None:
        try:
            updated: Obj = await self.client.patch(REMEDY_JOBS, job["metadata"]["name"], body, subresource="status",
                                                   field_manager=FIELD_MANAGER)
        except (errors.Conflict, errors.NotFound):
            return None  # changed under us: the informer brings the new version and we decide again
        self.jobs.cache.remember(updated)
        return updated

    async def _complete(self, job: Obj, phase: str, reason: str, message: str) -> Obj | None:
        updated = await self._write(job, job_status(job, phase, reason=reason, message=message))
        if updated is not None:
            action = str(((job.get("spec") or {}).get("action") or {}).get("type") or "")
            self.on_outcome(phase, action)
            self._finish(job["metadata"]["name"])
            kind = "Normal" if phase == c.JOB_PHASE_SUCCEEDED else "Warning"
            await self.on_event(updated, kind, reason, message)
        return updated

    async def _review(self, job: Obj) -> Result | None:
        op = operation_for(job)
        verdict = await self.reviewer.review(op)
        spec = job.get("spec") or {}
        previous = (job.get("status") or {}).get("defender") or {}
        unchanged = (previous.get("decision"), previous.get("reason"), previous.get("rule")) == (
            verdict.decision, verdict.reason or verdict.decision, verdict.rule or None)
        where = f" ({verdict.policy}/{verdict.rule})" if verdict.policy else ""
        text = f"{verdict.decision} by the Defender{where}: {verdict.reason}" + (
            f": {verdict.message}" if verdict.message else "")
        if verdict.decision == c.DECISION_PENDING_APPROVAL:
            if not unchanged:
                body = job_status(job, c.JOB_PHASE_PENDING, message=text, defender=defender_status(verdict),
                                  approved=("False", c.DEFENDER_REASON_APPROVAL_REQUIRED))
                if await self._write(job, body) is not None:
                    self.on_decision(verdict.decision, op.action)
                    await self.on_event(job, "Warning", c.DEFENDER_REASON_APPROVAL_REQUIRED,
                                        f"{text}; approve with: kubenode remedy approve {op.id}")
            return Result(requeue_after=verdict.retry_after_seconds or PENDING_APPROVAL_RECHECK)
        if verdict.reason == c.DEFENDER_REASON_STORM_SETTLING:
            # Not a denial yet: the storm guard waits a moment to see whether more nodes fail. The job stays
            # Pending and is reviewed again when the settle window is over.
            if not unchanged:
                body = job_status(job, c.JOB_PHASE_PENDING, message=text, defender=defender_status(verdict))
                if await self._write(job, body) is not None:
                    await self.on_event(job, "Normal", c.DEFENDER_REASON_STORM_SETTLING, text)
            return Result(requeue_after=max(0.2, verdict.retry_after_seconds or 1.0))
        if not verdict.allowed:
            body = job_status(job, c.JOB_PHASE_DENIED, reason=c.JOB_REASON_DEFENDER_DENIED, message=text,
                              defender=defender_status(verdict), approved=("False", c.JOB_REASON_DEFENDER_DENIED))
            if await self._write(job, body) is not None:
                self.on_decision(verdict.decision, op.action)
                self.on_outcome(c.JOB_PHASE_DENIED, op.action)
                self._finish(op.id)
                await self.on_event(job, "Warning", c.JOB_REASON_DEFENDER_DENIED, text)
            return None
        if spec.get("dryRun"):
            msg = f"dry run: would {op.action} node {op.nodes[0]} ({text})"
            body = job_status(job, c.JOB_PHASE_SUCCEEDED, reason=c.JOB_REASON_DRY_RUN, message=msg,
                              defender=defender_status(verdict), approved=("True", c.JOB_REASON_DEFENDER_ALLOWED))
            if await self._write(job, body) is not None:
                self.on_decision(verdict.decision, op.action)
                self.on_outcome(c.JOB_PHASE_SUCCEEDED, op.action)
                self._finish(op.id)
                await self.on_event(job, "Normal", c.JOB_REASON_DRY_RUN, msg)
            return None
        body = job_status(job, c.JOB_PHASE_APPROVED, message=text, defender=defender_status(verdict),
                          approved=("True", c.JOB_REASON_DEFENDER_ALLOWED))
        updated = await self._write(job, body)
        if updated is None:
            return None
        self.on_decision(verdict.decision, op.action)
        await self.on_event(updated, "Normal", c.JOB_REASON_DEFENDER_ALLOWED, text)
        if op.action in c.CONTROLLER_ACTIONS:
            return await self._run_controller_action(updated, c.JOB_PHASE_APPROVED)
        return Result(requeue_after=self._timeout(updated))

    async def _run_controller_action(self, job: Obj, phase: str) -> Result | None:
        if phase == c.JOB_PHASE_APPROVED:
            action = ((job.get("spec") or {}).get("action") or {}).get("type")
            running = await self._write(job, job_status(job, c.JOB_PHASE_RUNNING, message=f"{action} started",
                                                        start=True))
            if running is None:
                return None
            job = running
        try:
            progress = await self.actions.run(job)
        except errors.ApiError as exc:
            log.warning("job %s: action failed, will retry: %s", job["metadata"]["name"], exc)
            return Result(requeue_after=DRAIN_RECHECK)
        if not progress.done:
            if (job.get("status") or {}).get("message") != progress.message:
                await self._write(job, job_status(job, c.JOB_PHASE_RUNNING, message=progress.message))
            return Result(requeue_after=DRAIN_RECHECK)
        if progress.failed:
            await self._complete(job, c.JOB_PHASE_FAILED, c.JOB_REASON_FAILED, progress.message)
        else:
            await self._complete(job, c.JOB_PHASE_SUCCEEDED, c.JOB_REASON_SUCCEEDED, progress.message)
        return None
