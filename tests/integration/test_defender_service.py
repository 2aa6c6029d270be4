"""The Defender service against the embedded API server: status, restart, Events, admission, MachineSet gate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kubenode.api.defender import Operation
from kubenode.apiserver.server import RunningServer, ServerConfig, start_server
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import EVENTS, NODES
from kubenode.controlplane.operators import OperatorSettings, build_manager
from kubenode.controlplane.up import install_crds
from kubenode.defender.resources import DEFENDER_POLICIES
from kubenode.defender.service import Defender
from kubenode.machine.bootstrap import AgentEndpoint
from kubenode.machine.resources import MACHINE_SETS, MACHINES
from kubenode.runtime.events import EventRecorder

from .defender_harness import RunningDefender
from .polling import eventually

Obj = dict[str, Any]




def policy_obj(name: str, rules: list[Obj], cooldown: int = 300) -> Obj:
    return {"apiVersion": "kubenode.io/v1alpha1", "kind": "DefenderPolicy", "metadata": {"name": name},
            "spec": {"rules": rules, "circuitBreaker": {"cooldownSeconds": cooldown}}}


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[KubeClient]:
    async with KubeClient(load_config(server.kubeconfig)) as c:
        await install_crds(c)
        yield c


def running(client: KubeClient) -> RunningDefender:
    """The Defender with an Event recorder."""
    return RunningDefender(client, recorder=EventRecorder(client, "kubenode-defender", "test"))


async def status_of(client: KubeClient, name: str) -> Obj:
    obj = await client.get(DEFENDER_POLICIES, name)
    return obj.get("status") or {}


async def events(client: KubeClient, reason: str) -> list[Obj]:
    items, _ = await client.list(EVENTS, "default")
    return [e for e in items if e.get("reason") == reason]


async def test_status_shows_circuit_and_budgets_and_survives_a_restart(client: KubeClient) -> None:
    await client.create(DEFENDER_POLICIES, policy_obj("reboots", [
        {"name": "reboots", "operations": ["Remediation"], "actions": ["Reboot"],
         "budgets": [{"window": "1m", "limit": 1}, {"window": "1h", "limit": 10}], "maxConcurrent": 2}]))
    reboot = Operation(kind="Remediation", id="job-1", action="Reboot", nodes=("n1",), source="NodeRemedier/k")
    async with running(client) as defender:
        assert (await defender.review(reboot)).allowed
        second = await defender.review(Operation(kind="Remediation", id="job-2", action="Reboot", nodes=("n2",)))
        assert (second.decision, second.policy, second.rule, second.reason) == (
            "Denied", "reboots", "reboots", "BudgetExhausted")
        restart = await defender.review(Operation(kind="Remediation", id="job-3", action="RestartComponent"))
        assert restart.allowed and restart.reason == "NotCovered"

        async def circuit_open() -> Obj | None:
            st = await status_of(client, "reboots")
            return st if (st.get("circuit") or {}).get("state") == "Open" and st.get("recentDecisions") else None

        st = await eventually(circuit_open, what="status with an open circuit")
        assert st["circuit"]["reason"] == "BudgetExhausted" and st["circuit"]["openUntil"]
        assert st["rules"] == [{"name": "reboots", "concurrent": 1, "budgets": [
            {"window": "1m", "limit": 1, "used": 1, "remaining": 0},
            {"window": "1h", "limit": 10, "used": 1, "remaining": 9}]}]
        assert [d["decision"] for d in st["recentDecisions"]] == ["Denied", "Allowed"]
        assert [x["id"] for x in st["ledger"]] == ["job-1"]
        conds = {x["type"]: (x["status"], x["reason"]) for x in st["conditions"]}
        assert conds == {"Valid": ("True", "PolicyValid"), "CircuitOpen": ("True", "BudgetExhausted")}
        await eventually(lambda: events(client, "BudgetExhausted"), what="a BudgetExhausted Event")
        await eventually(lambda: events(client, "CircuitOpen"), what="a CircuitOpen Event")

    # A new Defender (operator restart, new leader) starts from the status: no budget refill, circuit still open.
    async with running(client) as defender:
        again = await defender.review(Operation(kind="Remediation", id="job-4", action="Reboot"))
        assert (again.decision, again.reason) == ("Denied", "CircuitOpen")
        assert (await defender.review(reboot)).reason == "AlreadyAdmitted"  # idempotent across the restart
        assert defender.ledger.in_flight("reboots", "reboots", time.time()) == 1
        defender.finished("job-1")

        async def freed() -> bool:
            rules = (await status_of(client, "reboots")).get("rules") or [{}]
            return rules[0].get("concurrent") == 0

        await eventually(freed, what="the concurrency slot freed in status")


async def test_no_policy_allows_everything_and_warns_once(client: KubeClient) -> None:
    async with running(client) as defender:
        for i in range(3):
            v = await defender.review(Operation(kind="MachineDeletion", id=f"machine/{i}"))
            assert v.allowed and v.reason == "NoDefenderPolicy"
        warned = await eventually(lambda: events(client, "NoDefenderPolicy"), what="the warning Event")
        await asyncio.sleep(0.3)  # the loop flushes every 0.05 s: a second Event would be there by now
        warned = await events(client, "NoDefenderPolicy")
        assert len(warned) == 1 and warned[0]["type"] == "Warning" and warned[0]["count"] == 1
        assert "nothing is throttled" in warned[0]["message"]


@pytest.mark.parametrize(("rule", "field"), [
    pytest.param({"name": "r", "operations": ["Reboot"], "maxConcurrent": 1}, "spec.rules[0].operations[0]",
                 id="unknown-operation"),
    pytest.param({"name": "r", "operations": ["Remediation"], "budgets": [{"window": "1w", "limit": 1}]},
                 "spec.rules[0].budgets[0].window", id="bad-window"),
    pytest.param({"name": "r", "operations": ["Remediation"], "maxUnhealthy": "150%"},
                 "spec.rules[0].maxUnhealthy", id="bad-percentage"),
    pytest.param({"name": "r", "operations": ["Remediation"], "actions": ["Explode"], "maxConcurrent": 1},
                 "spec.rules[0].actions[0]", id="unknown-action"),
    pytest.param({"name": "r", "operations": ["Remediation"], "freezeWindows": [{"schedule": "daily",
                                                                                 "durationSeconds": 60}]},
                 "spec.rules[0].freezeWindows[0].schedule", id="schedule-not-five-fields"),
])
async def test_malformed_policy_is_rejected_at_admission(client: KubeClient, rule: Obj, field: str) -> None:
    with pytest.raises(errors.Invalid) as exc:
        await client.create(DEFENDER_POLICIES, policy_obj("bad", [rule]))
    assert exc.value.status == 422
    assert field in {c.get("field") for c in exc.value.causes}, exc.value.causes


async def test_policy_the_schema_accepts_but_is_invalid_fails_closed(client: KubeClient) -> None:
    # "maxConcurent" is pruned by the API server: the rule is left without any limit.
    await client.create(DEFENDER_POLICIES, policy_obj("typo", [
        {"name": "careful", "operations": ["Remediation"], "maxConcurent": 3},
        {"name": "night", "operations": ["Remediation"],
         "freezeWindows": [{"schedule": "0 22 * * *", "durationSeconds": 3600, "timeZone": "Mars/Olympus"}]}]))
    async with running(client) as defender:
        v = await defender.review(Operation(kind="Remediation", id="job-1", action="Reboot"))
        assert (v.decision, v.policy, v.reason) == ("Denied", "typo", "PolicyInvalid")
        assert "spec.rules[0]" in v.message and "spec.rules[1].freezeWindows[0].timeZone" in v.message
        assert (await defender.review(Operation(kind="ComponentUpgrade", id="b-1"))).allowed  # not covered

        async def invalid() -> Obj | None:
            st = await status_of(client, "typo")
            valid = next((x for x in st.get("conditions") or [] if x["type"] == "Valid"), None)
            return valid if valid and valid["status"] == "False" else None

        valid = await eventually(invalid, what="Valid=False")
        assert valid["reason"] == "PolicyInvalid" and "spec.rules[0]" in valid["message"]
        await eventually(lambda: events(client, "PolicyInvalid"), what="a PolicyInvalid Event")


@pytest.fixture
async def patient_client(tmp_path: Path) -> AsyncIterator[KubeClient]:
    # Nodes here have no Lease: with the usual 2 s grace the node lifecycle controller would turn them Unknown.
    srv = await start_server(ServerConfig(data_dir=tmp_path / "patient", port=0, node_grace_seconds=3600.0))
    try:
        async with KubeClient(load_config(srv.kubeconfig)) as c:
            await install_crds(c)
            yield c
    finally:
        await srv.stop()


async def test_storm_guard_counts_node_conditions(patient_client: KubeClient) -> None:
    client = patient_client
    await client.create(DEFENDER_POLICIES, policy_obj("storm", [
        {"name": "storm", "operations": ["Remediation"], "maxUnhealthy": "50%"}], cooldown=1))
    for i in range(4):
        await client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"n{i}"}})
        cond = [{"type": "Ready", "status": "True" if i == 0 else "False", "reason": "Test", "message": ""}]
        await client.patch_status(NODES, f"n{i}", {"status": {"conditions": cond}})
    async with running(client) as defender:
        async def storm() -> bool:
            v = await defender.review(Operation(kind="Remediation", id="job-x", action="Reboot", nodes=("n1",)))
            return v.reason in ("StormDetected", "CircuitOpen")

        await eventually(storm, what="a storm")

        async def shown() -> Obj | None:
            st = await status_of(client, "storm")
            return st if (st.get("rules") or [{}])[0].get("unhealthy") == 3 else None

        await eventually(shown, what="3 unhealthy nodes in status")
        for i in range(1, 4):  # the fleet recovers; after the 1 s cooldown the next review passes
            cond = [{"type": "Ready", "status": "True", "reason": "Test", "message": ""}]
            await client.patch_status(NODES, f"n{i}", {"status": {"conditions": cond}})

        async def recovered() -> bool:
            return (await defender.review(Operation(kind="Remediation", id="job-y", nodes=("n1",)))).allowed

        await eventually(recovered, what="remediation allowed after the storm and the cooldown")


async def test_machineset_scale_down_is_held_by_a_machine_deletion_budget(server: RunningServer,
                                                                          client: KubeClient) -> None:
    await client.create(DEFENDER_POLICIES, policy_obj("deletions", [
        {"name": "deletions", "operations": ["MachineDeletion"], "budgets": [{"window": "1h", "limit": 1}]}]))
    await client.create(MACHINE_SETS, {
        "apiVersion": "kubenode.io/v1alpha1", "kind": "MachineSet", "metadata": {"name": "pool"},
        "spec": {"replicas": 3, "deletePolicy": "Oldest", "selector": {"matchLabels": {"pool": "p"}},
                 "template": {"metadata": {"labels": {"pool": "p"}}, "spec": {"providerRef": {"name": "none"}}}}})
    settings = OperatorSettings(endpoint=AgentEndpoint(server.url, server.pki.ca_cert.read_bytes()))
    ops = build_manager(client, settings)
    assert isinstance(ops.reviewer, Defender)
    await ops.manager.start()
    try:
        async def alive() -> list[str]:
            items, _ = await client.list(MACHINES)
            return sorted(m["metadata"]["name"] for m in items if not m["metadata"].get("deletionTimestamp"))

        await eventually(lambda: _count_is(alive, 3), what="3 machines")
        await client.patch(MACHINE_SETS, "pool", {"spec": {"replicas": 1}})

        async def held() -> Obj | None:
            st = await status_of(client, "deletions")
            denied = [d for d in st.get("recentDecisions") or [] if d["decision"] == "Denied"]
            return st if denied and denied[0]["reason"] in ("BudgetExhausted", "CircuitOpen") else None

        st = await eventually(held, within=15, what="a held deletion")
        assert st["rules"][0]["budgets"][0]["remaining"] == 0
        await eventually(lambda: _count_is(alive, 2), what="one machine deleted")
        await asyncio.sleep(1.0)  # the set keeps asking; nothing more may go
        assert len(await alive()) == 2
    finally:
        await ops.stop()


async def _count_is(names: Callable[[], Awaitable[list[str]]], n: int) -> bool:
    return len(await names()) == n
