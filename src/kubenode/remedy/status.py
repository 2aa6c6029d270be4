"""What the Remedy Operator writes, as pure functions: NodeRemedier and RemedyOperationJob status.

The remedier's status (counts, `Paused`, `RemediationAllowed`), a job's
phase transitions (with `Approved`/`Complete` conditions, guarded by the
resourceVersion they were computed from), `status.defender` from a Verdict
and the recovery mark on a ladder's last job. Every condition type and
reason comes from `kubenode.api.constants`.
"""

from __future__ import annotations

from typing import Any

from kubenode.api import constants as c
from kubenode.api.defender import Verdict
from kubenode.runtime.conditions import now_rfc3339, set_condition

Obj = dict[str, Any]


def remedier_status(nr: Obj, *, matched: int, unhealthy: int, active: int, created: int, paused: bool,
                    now: str | None = None) -> Obj:
    """The status of NodeRemedier `nr` after a reconcile (`created` jobs were made by it)."""
    old = nr.get("status") or {}
    gen = nr["metadata"].get("generation")
    conditions = [dict(x) for x in old.get("conditions") or []]
    if paused:
        set_condition(conditions, c.REMEDIER_CONDITION_PAUSED, c.CONDITION_TRUE, c.REMEDIER_REASON_PAUSED_BY_USER,
                      "spec.paused is set: no new jobs", observed_generation=gen)
    else:
        set_condition(conditions, c.REMEDIER_CONDITION_PAUSED, c.CONDITION_FALSE, c.REMEDIER_REASON_NOT_PAUSED, "",
                      observed_generation=gen)
    dry = bool((nr.get("spec") or {}).get("dryRun"))
    set_condition(conditions, c.REMEDIER_CONDITION_REMEDIATION_ALLOWED, c.CONDITION_TRUE,
                  c.REMEDIER_REASON_DRY_RUN if dry else c.REMEDIER_REASON_ALLOWED,
                  "dry run: jobs record decisions only" if dry else "jobs are created and reviewed by the Defender",
                  observed_generation=gen)
    status: Obj = {"observedGeneration": gen, "matchedNodes": matched, "unhealthyNodes": unhealthy,
                   "activeJobs": active, "conditions": conditions}
    if created:
        status["lastJobTime"] = now or now_rfc3339()
    elif old.get("lastJobTime"):
        status["lastJobTime"] = old["lastJobTime"]
    return status


def status_changed(old: Obj, new: Obj) -> bool:
    """Whether writing `new` over `old` changes anything."""
    return not all(old.get(k) == v for k, v in new.items())


def recovered_patch(job: Obj, message: str, now: str | None = None) -> Obj:
    """The /status patch marking the last job of a ladder: its node is healthy again (`Complete`, NodeHealthyAgain)."""
    conditions = [dict(x) for x in (job.get("status") or {}).get("conditions") or []]
    set_condition(conditions, c.JOB_CONDITION_COMPLETE, c.CONDITION_TRUE, c.JOB_REASON_NODE_HEALTHY, message,
                  now=now or now_rfc3339())
    return {"metadata": {"resourceVersion": job["metadata"]["resourceVersion"]}, "status": {"conditions": conditions}}


def job_status(job: Obj, phase: str, *, reason: str = "", message: str = "", defender: Obj | None = None,
               approved: tuple[str, str] | None = None, start: bool = False, now: str | None = None) -> Obj:
    """The /status merge patch moving `job` to `phase` (guarded by its resourceVersion).

    `reason` is the Complete condition's (a terminal phase; the phase itself when not given);
    `approved` is (status, reason) of the Approved condition.
    """
    stamp = now or now_rfc3339()
    old = job.get("status") or {}
    conditions = [dict(x) for x in old.get("conditions") or []]
    if approved is not None:
        set_condition(conditions, c.JOB_CONDITION_APPROVED, approved[0], approved[1], message, now=stamp)
    if phase in c.JOB_TERMINAL_PHASES:
        set_condition(conditions, c.JOB_CONDITION_COMPLETE, c.CONDITION_TRUE, reason or phase, message, now=stamp)
    status: Obj = {"phase": phase, "message": message[:32768], "conditions": conditions,
                   "observedGeneration": job["metadata"].get("generation")}
    if defender is not None:
        status["defender"] = defender
    if start:
        status["startTime"] = stamp
    if phase in c.JOB_TERMINAL_PHASES:
        status["completionTime"] = stamp
    return {"metadata": {"resourceVersion": job["metadata"]["resourceVersion"]}, "status": status}


def defender_status(v: Verdict, now: str | None = None) -> Obj:
    """`status.defender` from a Verdict."""
    out: Obj = {"decision": v.decision, "reason": v.reason or v.decision, "message": v.message[:32768],
                "decisionTime": now or now_rfc3339()}
    if v.policy:
        out["policy"] = v.policy
    if v.rule:
        out["rule"] = v.rule
    return out
