"""Table-driven tests of the Machine status computation."""

from __future__ import annotations

from typing import Any

import pytest

from kubenode.machine.phases import Timeouts, compute_status, parse_time
from kubenode.providers.base import InfraStatus

NOW = parse_time("2026-01-01T01:00:00Z") or 0.0
T = Timeouts(create=600, join=600, agent_grace=40)


def machine(status: dict[str, Any] | None = None, created: str = "2026-01-01T00:59:00Z") -> dict[str, Any]:
    return {"metadata": {"name": "m1", "uid": "u1", "generation": 1, "creationTimestamp": created},
            "spec": {}, "status": status or {}}


def node(ready: str | None) -> dict[str, Any]:
    conds = [] if ready is None else [{"type": "Ready", "status": ready, "reason": "KubeletReady", "message": ""}]
    return {"metadata": {"name": "m1", "uid": "n1"}, "status": {"conditions": conds}}


def beat(seconds_ago: int) -> dict[str, Any]:
    t = NOW - seconds_ago
    import time

    return {"agent": {"version": "0.1.0", "lastHeartbeatTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))}}


RUNNING = InfraStatus("Running", provider_id="local:///m1")


def conds(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


@pytest.mark.parametrize(
    ("infra", "status", "nd", "phase", "ready"),
    [
        (None, {}, None, "Pending", "False"),
        (InfraStatus("Pending"), {}, None, "Provisioning", "False"),
        (RUNNING, {}, None, "Bootstrapping", "False"),
        (RUNNING, beat(5), None, "Joining", "False"),
        (RUNNING, beat(5), node("False"), "Joining", "False"),
        (RUNNING, beat(5), node("True"), "Running", "False"),  # NodeSynced not yet reported
    ],
)
def test_phases(infra: InfraStatus | None, status: dict[str, Any], nd: dict[str, Any] | None, phase: str,
                ready: str) -> None:
    st = compute_status(machine(status), infra, nd, NOW, T)
    assert st["phase"] == phase
    assert conds(st)["Ready"] == ready


def test_running_and_ready_when_synced() -> None:
    st = compute_status(machine(beat(5)), RUNNING, node("True"), NOW, T, node_synced=(True, "2 labels"))
    assert st["phase"] == "Running"
    assert conds(st) == {"InfrastructureReady": "True", "AgentConnected": "True", "NodeReady": "True",
                         "NodeSynced": "True", "Ready": "True"}
    assert st["nodeRef"]["name"] == "m1" and st["providerID"] == "local:///m1"


def test_dead_agent_shows_in_conditions_but_phase_stays_running() -> None:
    ok = compute_status(machine(beat(5)), RUNNING, node("True"), NOW, T, node_synced=(True, ""))
    st = compute_status(machine({**ok, **beat(120)}), InfraStatus("Stopped", message="agent exited"),
                        node("Unknown"), NOW, T)
    c = conds(st)
    assert st["phase"] == "Running"
    assert (c["AgentConnected"], c["NodeReady"], c["InfrastructureReady"], c["Ready"]) == (
        "Unknown", "Unknown", "False", "False")
    agent = next(x for x in st["conditions"] if x["type"] == "AgentConnected")
    assert agent["reason"] == "HeartbeatStale" and "120s" in agent["message"]


@pytest.mark.parametrize(
    ("seconds_ago", "period", "connected"),
    [
        (30, None, "True"),     # no period reported: the operator's grace (40 s)
        (41, None, "Unknown"),
        (41, 60, "True"),       # four of the agent's 60 s periods: 240 s
        (239, 60, "True"),
        (241, 60, "Unknown"),
        (39, 5, "True"),        # a short period never shortens the operator's grace
        (41, 5, "Unknown"),
        (41, "60", "Unknown"),  # not a number: ignored
        (41, True, "Unknown"),  # a boolean is not a period
        (41, 0, "Unknown"),
        (41, -60, "Unknown"),
    ],
)
def test_agent_grace_follows_the_reported_heartbeat_period(seconds_ago: int, period: Any, connected: str) -> None:
    status = beat(seconds_ago)
    if period is not None:
        status["agent"]["heartbeatSeconds"] = period
    st = compute_status(machine(status), RUNNING, node("True"), NOW, T, node_synced=(True, ""))
    assert conds(st)["AgentConnected"] == connected


@pytest.mark.parametrize(
    ("created", "infra", "status", "reason"),
    [
        ("2026-01-01T00:40:00Z", InfraStatus("Pending"), {}, "CreateTimeout"),
        ("2026-01-01T00:59:00Z", InfraStatus("Failed", message="quota exceeded"), {}, "ProvisioningFailed"),
    ],
)
def test_failures(created: str, infra: InfraStatus, status: dict[str, Any], reason: str) -> None:
    st = compute_status(machine(status, created), infra, None, NOW, T)
    assert st["phase"] == "Failed"
    assert st["failureReason"] == reason
    assert st["failureMessage"]


def test_join_timeout_counts_from_infrastructure_ready() -> None:
    first = compute_status(machine(), RUNNING, None, NOW - 700, T)
    st = compute_status(machine(first), RUNNING, None, NOW, T)
    assert st["failureReason"] == "JoinTimeout"
    # failure is terminal
    again = compute_status(machine(st), RUNNING, node("True"), NOW, T)
    assert again["phase"] == "Failed"


def test_provider_problem_is_reported() -> None:
    st = compute_status(machine(), None, None, NOW, T, provider_problem=("ProviderNotFound", 'no InfraProvider "x"'))
    infra = next(c for c in st["conditions"] if c["type"] == "InfrastructureReady")
    assert infra["reason"] == "ProviderNotFound" and st["phase"] == "Provisioning"
