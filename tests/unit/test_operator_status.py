"""The pure status writers of machine/ and remedy/: what one reconcile writes, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from kubenode.api import constants as c
from kubenode.machine.status import component_unknown_patch, phase_patch, status_patch, transition_event
from kubenode.remedy.status import recovered_patch, remedier_status, status_changed

Obj = dict[str, Any]


@pytest.mark.parametrize(("old", "new", "expected"), [
    ({}, {}, None),
    ({"phase": "Running", "agent": {"version": "1"}}, {"phase": "Running"}, None),  # the agent's field is not ours
    ({"phase": "Joining"}, {"phase": "Running"}, {"status": {"phase": "Running"}}),
    ({"phase": "Failed", "failureReason": "X"}, {"phase": "Running"},
     {"status": {"phase": "Running", "failureReason": None}}),  # dropped fields are removed explicitly
    ({"agent": {"v": 1}}, {"phase": "Pending", "agent": {"v": 2}}, {"status": {"phase": "Pending"}}),
])
def test_status_patch(old: Obj, new: Obj, expected: Obj | None) -> None:
    assert status_patch(old, new) == expected


@pytest.mark.parametrize(("old", "phase", "expected"), [
    ({"phase": "Running"}, c.MACHINE_PHASE_DRAINING, {"status": {"phase": "Draining"}}),
    ({"phase": "Draining"}, c.MACHINE_PHASE_DRAINING, None),
    ({"phase": "Draining"}, c.MACHINE_PHASE_DELETING, {"status": {"phase": "Deleting"}}),
])
def test_phase_patch(old: Obj, phase: str, expected: Obj | None) -> None:
    assert phase_patch(old, phase) == expected


@pytest.mark.parametrize(("old", "new", "expected"), [
    ({"phase": "Running"}, {"phase": "Running"}, None),
    ({"phase": "Joining"}, {"phase": "Running"}, ("Normal", "Running", "machine is Running")),
    ({"phase": "Joining"}, {"phase": "Failed", "failureReason": c.MACHINE_REASON_JOIN_TIMEOUT,
                            "failureMessage": "check the agent log"},
     ("Warning", "JoinTimeout", "check the agent log")),
])
def test_transition_event(old: Obj, new: Obj, expected: tuple[str, str, str] | None) -> None:
    assert transition_event(old, new) == expected


def _mc(healthy: bool | None, health: str) -> Obj:
    return {"metadata": {"name": "mc", "resourceVersion": "7"}, "status": {"healthy": healthy, "conditions": [
        {"type": c.COMPONENT_CONDITION_HEALTHY, "status": health, "reason": "R", "message": "",
         "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}


def test_a_silent_agents_component_becomes_unknown_once() -> None:
    agent = {"type": c.MACHINE_CONDITION_AGENT_CONNECTED, "status": "Unknown", "message": "no heartbeat for 60s"}
    patch = component_unknown_patch(_mc(True, "True"), "m1", agent)
    assert patch is not None and patch["metadata"] == {"resourceVersion": "7"}
    cond = patch["status"]["conditions"][0]
    assert patch["status"]["healthy"] is None
    assert (cond["status"], cond["reason"]) == ("Unknown", c.COMPONENT_REASON_AGENT_NOT_REPORTING)
    assert "m1" in cond["message"] and "no heartbeat for 60s" in cond["message"]
    assert component_unknown_patch(_mc(None, "Unknown"), "m1", agent) is None


NR = {"metadata": {"name": "nr", "generation": 3, "resourceVersion": "1"}, "spec": {}}


@pytest.mark.parametrize(("spec", "paused", "created", "conditions"), [
    ({}, False, 0, {c.REMEDIER_CONDITION_PAUSED: ("False", c.REMEDIER_REASON_NOT_PAUSED),
                    c.REMEDIER_CONDITION_REMEDIATION_ALLOWED: ("True", c.REMEDIER_REASON_ALLOWED)}),
    ({"dryRun": True}, True, 1, {c.REMEDIER_CONDITION_PAUSED: ("True", c.REMEDIER_REASON_PAUSED_BY_USER),
                                 c.REMEDIER_CONDITION_REMEDIATION_ALLOWED: ("True", c.REMEDIER_REASON_DRY_RUN)}),
])
def test_remedier_status(spec: Obj, paused: bool, created: int, conditions: dict[str, tuple[str, str]]) -> None:
    nr = {**NR, "spec": spec}
    st = remedier_status(nr, matched=4, unhealthy=1, active=2, created=created, paused=paused, now="T1")
    assert (st["matchedNodes"], st["unhealthyNodes"], st["activeJobs"], st["observedGeneration"]) == (4, 1, 2, 3)
    assert {x["type"]: (x["status"], x["reason"]) for x in st["conditions"]} == conditions
    assert ("lastJobTime" in st) == bool(created)
    assert not status_changed(st, st) and status_changed({}, st)


def test_the_recovery_mark_is_guarded_by_the_jobs_resource_version() -> None:
    job = {"metadata": {"name": "j", "resourceVersion": "9"}, "status": {"conditions": []}}
    patch = recovered_patch(job, "node n1 healthy again", now="2026-01-01T00:00:00Z")
    assert patch["metadata"] == {"resourceVersion": "9"}
    (cond,) = patch["status"]["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == (c.JOB_CONDITION_COMPLETE, "True",
                                                              c.JOB_REASON_NODE_HEALTHY)
