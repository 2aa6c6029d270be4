"""Machine status as a pure function of what was observed.

Given the Machine, what its provider reports, the Node and the clock, this
computes the conditions and the phase. The controller gathers the
observations and writes the result; nothing here does I/O, so every rule is a
table-driven unit test.

Phases (DESIGN.md): Pending → Provisioning → Bootstrapping → Joining →
Running, and Draining → Deleting on delete; Failed is terminal and carries
`failureReason`/`failureMessage`. Decisions are made on conditions; the phase
is a summary for humans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubenode.api import constants as c
from kubenode.apimachinery.timefmt import format_time, parse_time
from kubenode.providers.base import STATE_FAILED, STATE_MISSING, STATE_PENDING, STATE_RUNNING, InfraStatus
from kubenode.runtime.conditions import get_condition, seconds_in_status, set_condition

Obj = dict[str, Any]

INFRA = c.MACHINE_CONDITION_INFRASTRUCTURE_READY
AGENT = c.MACHINE_CONDITION_AGENT_CONNECTED
NODE_READY = c.MACHINE_CONDITION_NODE_READY
NODE_SYNCED = c.MACHINE_CONDITION_NODE_SYNCED
COMPONENTS_READY = c.MACHINE_CONDITION_COMPONENTS_READY
READY = c.MACHINE_CONDITION_READY


@dataclass(frozen=True)
class Timeouts:
    """How long each stage may take before the Machine fails (seconds)."""

    create: float = 600.0
    join: float = 600.0
    agent_grace: float = 40.0


_fmt = format_time

#: Heartbeats an agent may miss before it is called silent.
MISSED_HEARTBEATS = 4


def agent_grace(timeouts: Timeouts, agent: Obj) -> float:
    """How long after its last heartbeat an agent still counts as connected: the operator's grace, or four of
    the periods the agent reports (status.agent.heartbeatSeconds) when that is longer."""
    period = agent.get("heartbeatSeconds")
    if isinstance(period, int | float) and not isinstance(period, bool) and period > 0:
        return max(timeouts.agent_grace, MISSED_HEARTBEATS * float(period))
    return timeouts.agent_grace


def components_condition(components: list[Obj]) -> tuple[str, str, str]:
    """(status, reason, message) of ComponentsReady from the machine's MachineComponents.

    True when every one is Running and healthy at the revision it is assigned (or there is none);
    False naming the failed ones first, else the ones still installing or not (known to be) healthy.
    """
    if not components:
        return c.CONDITION_TRUE, c.MACHINE_REASON_NO_COMPONENTS, "no component is assigned to this machine"
    failed, waiting = [], []
    for mc in sorted(components, key=lambda o: str(o["metadata"]["name"])):
        spec, st = mc.get("spec") or {}, mc.get("status") or {}
        name = str(spec.get("component") or mc["metadata"]["name"])
        if st.get("phase") == c.COMPONENT_PHASE_FAILED:
            failed.append(f"{name}: {st.get('message') or 'failed'}")
        elif not (st.get("phase") == c.COMPONENT_PHASE_RUNNING and st.get("healthy") is True
                  and st.get("installedRevision", spec.get("revision")) == spec.get("revision")):
            health = get_condition(st.get("conditions"), c.COMPONENT_CONDITION_HEALTHY)
            why = (health or {}).get("message") or st.get("phase") or "not reported yet"
            waiting.append(f"{name} ({why})")
    if failed:
        return c.CONDITION_FALSE, c.MACHINE_REASON_COMPONENT_FAILED, "; ".join(failed)[:2048]
    if waiting:
        return c.CONDITION_FALSE, c.MACHINE_REASON_COMPONENTS_NOT_READY, "not ready: " + ", ".join(waiting)[:2048]
    return (c.CONDITION_TRUE, c.MACHINE_REASON_COMPONENTS_READY,
            f"{len(components)} component(s) Running and healthy")


def compute_status(machine: Obj, infra: InfraStatus | None, node: Obj | None, now: float,
                   timeouts: Timeouts, *, node_synced: tuple[bool, str] | None = None,
                   provider_problem: tuple[str, str] | None = None,
                   components: list[Obj] | None = None, agent_required: bool = False) -> Obj:
    """The new `status` of `machine` (a fresh dict; the input is not modified).

    `provider_problem` is (reason, message) when no provider could be used;
    `node_synced` is (ok, message) after the controller synced labels/taints;
    `components` are the machine's MachineComponents (None: not observed, the condition is left as it
    was). ComponentsReady is reported but not part of Ready: components roll out on their own schedule,
    and a failed one is its rollout's business (Defender, rollback), not a reason to replace the machine.
    `agent_required`: Running also waits for AgentConnected (adopted Nodes, which the kubelet makes Ready
    without our agent).
    """
    old = machine.get("status") or {}
    status: Obj = {k: v for k, v in old.items() if k != "conditions"}
    conditions: list[Obj] = [dict(c) for c in old.get("conditions") or []]
    gen = (machine.get("metadata") or {}).get("generation")
    stamp = _fmt(now)

    def cond(type_: str, st: str, reason: str, message: str = "") -> None:
        set_condition(conditions, type_, st, reason, message, observed_generation=gen, now=stamp)

    # --- infrastructure
    if provider_problem is not None:
        cond(INFRA, c.CONDITION_FALSE, provider_problem[0], provider_problem[1])
    elif infra is None:
        cond(INFRA, c.CONDITION_FALSE, c.MACHINE_REASON_PENDING, "waiting for the provider")
    elif infra.state == STATE_RUNNING:
        cond(INFRA, c.CONDITION_TRUE, c.MACHINE_REASON_PROVISIONED, infra.message or "the host is running")
    elif infra.state == STATE_PENDING:
        cond(INFRA, c.CONDITION_FALSE, c.MACHINE_REASON_PROVISIONING, infra.message or "the host is being created")
    elif infra.state == STATE_FAILED:
        cond(INFRA, c.CONDITION_FALSE, c.MACHINE_REASON_PROVISIONING_FAILED, infra.message)
    elif infra.state == STATE_MISSING:
        cond(INFRA, c.CONDITION_FALSE, c.MACHINE_REASON_INFRASTRUCTURE_MISSING,
             infra.message or "no host exists for this machine")
    else:
        cond(INFRA, c.CONDITION_FALSE, c.MACHINE_REASON_INFRASTRUCTURE_STOPPED,
             infra.message or f"the host is {infra.state.lower()}")
    if infra is not None:
        if infra.provider_id:
            status["providerID"] = infra.provider_id
        if infra.addresses:
            status["addresses"] = infra.addresses

    # --- agent
    agent = old.get("agent") or {}
    beat = parse_time(agent.get("lastHeartbeatTime"))
    if beat is None:
        cond(AGENT, c.CONDITION_FALSE, c.MACHINE_REASON_WAITING_FOR_AGENT, "the agent has not reported yet")
    elif now - beat <= agent_grace(timeouts, agent):
        cond(AGENT, c.CONDITION_TRUE, c.MACHINE_REASON_HEARTBEAT_RECEIVED,
             f"agent {agent.get('version', '')} is reporting".strip())
    else:
        cond(AGENT, c.CONDITION_UNKNOWN, c.MACHINE_REASON_HEARTBEAT_STALE,
             f"no heartbeat from the agent for {int(now - beat)}s")

    # --- node
    if node is None:
        cond(NODE_READY, c.CONDITION_FALSE, c.MACHINE_REASON_NODE_NOT_REGISTERED,
             "no Node has been registered for this machine")
        status.pop("nodeRef", None)
    else:
        status["nodeRef"] = {"apiVersion": "v1", "kind": "Node", "name": node["metadata"]["name"],
                             "uid": node["metadata"].get("uid", "")}
        ready = get_condition((node.get("status") or {}).get("conditions"), "Ready")
        if ready is None:
            cond(NODE_READY, c.CONDITION_UNKNOWN, c.MACHINE_REASON_NODE_STATUS_UNKNOWN,
                 "the Node has not reported Ready yet")
        else:
            st = ready.get("status", "Unknown")
            cond(NODE_READY, st, ready.get("reason") or (c.MACHINE_REASON_NODE_READY if st == c.CONDITION_TRUE
                                                       else c.MACHINE_REASON_NODE_NOT_READY),
                 ready.get("message", ""))
    if node_synced is not None:
        cond(NODE_SYNCED, c.CONDITION_TRUE if node_synced[0] else c.CONDITION_FALSE,
             c.MACHINE_REASON_NODE_SYNCED if node_synced[0] else c.MACHINE_REASON_NODE_SYNC_FAILED,
             node_synced[1])
    elif get_condition(conditions, NODE_SYNCED) is None:
        cond(NODE_SYNCED, c.CONDITION_FALSE, c.MACHINE_REASON_NODE_NOT_REGISTERED,
             "labels and taints are synced once the Node exists")

    if components is not None:
        cond(COMPONENTS_READY, *components_condition(components))

    # --- summary
    failing = [c for c in (get_condition(conditions, t) for t in (INFRA, AGENT, NODE_READY, NODE_SYNCED))
               if c is not None and c.get("status") != "True"]
    if failing:
        first = failing[0]
        cond(READY, c.CONDITION_FALSE, first["reason"], f"{first['type']}: {first.get('message', '')}".rstrip(": "))
    else:
        cond(READY, c.CONDITION_TRUE, c.MACHINE_REASON_READY, "the machine is running and its node is ready")

    # --- phase and terminal failures
    if old.get("failureReason"):
        status["phase"] = "Failed"
    elif infra is not None and infra.state == STATE_FAILED:
        _fail(status, c.MACHINE_REASON_PROVISIONING_FAILED, infra.message or "the provider failed to create the host")
    else:
        status["phase"] = _phase(old, conditions, agent_required)
        _check_timeouts(status, machine, conditions, now, timeouts)
    status["conditions"] = conditions
    status["observedGeneration"] = gen
    return status


def _phase(old: Obj, conditions: list[Obj], agent_required: bool = False) -> str:
    def true(t: str) -> bool:
        c = get_condition(conditions, t)
        return c is not None and c.get("status") == "True"

    was_running = old.get("phase") == "Running"
    if was_running or (true(INFRA) and true(NODE_READY) and (true(AGENT) or not agent_required)):
        return "Running"
    if not true(INFRA):
        infra = get_condition(conditions, INFRA)
        return "Pending" if infra is not None and infra.get("reason") == "Pending" else "Provisioning"
    if not true(AGENT) and get_condition(conditions, NODE_READY) is not None and not old.get("nodeRef"):
        return "Bootstrapping"
    return "Joining"


def _fail(status: Obj, reason: str, message: str) -> None:
    status["phase"] = "Failed"
    status["failureReason"] = reason
    status["failureMessage"] = message


def _check_timeouts(status: Obj, machine: Obj, conditions: list[Obj], now: float, timeouts: Timeouts) -> None:
    phase = status["phase"]
    if phase in ("Pending", "Provisioning"):
        created = parse_time((machine.get("metadata") or {}).get("creationTimestamp"))
        if created is not None and now - created > timeouts.create:
            _fail(status, c.MACHINE_REASON_CREATE_TIMEOUT,
                  f"the host was not running {int(timeouts.create)}s after the machine was created; "
                  "check the provider's status and logs, then delete the machine to retry")
    elif phase in ("Bootstrapping", "Joining"):
        since = seconds_in_status(conditions, INFRA, now)
        if since is not None and since > timeouts.join:
            _fail(status, c.MACHINE_REASON_JOIN_TIMEOUT,
                  f"the node did not become Ready within {int(timeouts.join)}s of the host running; "
                  "check the agent log on the host (var/log/agent.log in local mode)")
