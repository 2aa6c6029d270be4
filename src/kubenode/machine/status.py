"""What the Machine controller writes, as pure functions: status patches and the Events of a transition.

`phases.compute_status` decides the Machine's conditions and phase; this
module turns a decision into the one write the reconcile makes (a merge
patch that never touches `status.agent`, which the agent owns), the Event a
phase change is announced with, and the Healthy=Unknown a component gets
while its machine's agent does not report. Every reason comes from
`kubenode.api.constants`.
"""

from __future__ import annotations

from typing import Any

from kubenode.api import constants as c
from kubenode.runtime.conditions import get_condition, set_condition

Obj = dict[str, Any]
#: Written by the agent (heartbeats): never part of the controller's status write.
AGENT_FIELD = "agent"
#: A Kubernetes Event: (type Normal|Warning, reason, message).
Event = tuple[str, str, str]


def same_status(old: Obj, new: Obj) -> bool:
    """Whether `new` says what `old` says (the agent's field aside)."""
    keys = (set(old) | set(new)) - {AGENT_FIELD}
    return all(old.get(k) == new.get(k) for k in keys)


def status_patch(old: Obj, new: Obj) -> Obj | None:
    """The merge patch body from status `old` to `new` (fields `new` drops are removed); None if unchanged."""
    if same_status(old, new):
        return None
    body = {k: v for k, v in new.items() if k != AGENT_FIELD}
    for k in old:
        if k not in new and k != AGENT_FIELD:
            body[k] = None
    return {"status": body}


def phase_patch(old: Obj, phase: str) -> Obj | None:
    """The patch moving a Machine being deleted to `phase` (Draining, Deleting); None if it is there already."""
    return None if old.get("phase") == phase else {"status": {"phase": phase}}


def transition_event(old: Obj, new: Obj) -> Event | None:
    """The Event announcing a phase change (a Warning with the failure reason when the machine failed)."""
    phase = new.get("phase")
    if phase == old.get("phase"):
        return None
    kind = "Warning" if phase == c.MACHINE_PHASE_FAILED else "Normal"
    return kind, str(new.get("failureReason") or phase), str(new.get("failureMessage") or f"machine is {phase}")


def condition_is(status: Obj, type_: str, value: str) -> bool:
    """Whether condition `type_` of `status` has status `value`."""
    return any(x.get("type") == type_ and x.get("status") == value for x in status.get("conditions") or [])


def agent_silent(status: Obj) -> Obj | None:
    """The AgentConnected condition when it is Unknown (the agent's heartbeat went stale), else None."""
    agent = get_condition(status.get("conditions"), c.MACHINE_CONDITION_AGENT_CONNECTED)
    return agent if agent is not None and agent.get("status") == c.CONDITION_UNKNOWN else None


def component_unknown_patch(mc: Obj, machine_name: str, agent: Obj) -> Obj | None:
    """The status patch making a component's health Unknown while its machine's agent is silent.

    None when it already says so. Guarded by the component's resourceVersion, so an agent that reports
    in the meantime wins.
    """
    st = mc.get("status") or {}
    health = get_condition(st.get("conditions"), c.COMPONENT_CONDITION_HEALTHY)
    if st.get("healthy") is None and health is not None and health.get("status") == c.CONDITION_UNKNOWN:
        return None
    conditions = [dict(x) for x in st.get("conditions") or []]
    set_condition(conditions, c.COMPONENT_CONDITION_HEALTHY, c.CONDITION_UNKNOWN,
                  c.COMPONENT_REASON_AGENT_NOT_REPORTING,
                  f"the agent of machine {machine_name} is not reporting: {agent.get('message', '')}".rstrip(": "))
    return {"metadata": {"resourceVersion": mc["metadata"]["resourceVersion"]},
            "status": {"healthy": None, "conditions": conditions}}
