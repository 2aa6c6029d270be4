"""Remediation promises that need the real Defender next to the Remedy Operator, on the embedded server.

* the storm guard sees a developing storm: three of four nodes turning sick
  within two seconds under `maxUnhealthy: 50%` get no remediation at all,
  while a lone sick node is still remediated once the settle window passed;
* `Replace` deletes a Machine, so a MachineDeletion budget denies it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubenode.api import constants as c
from kubenode.apiserver.server import RunningServer
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import EVENTS, LEASES, NODES
from kubenode.controlplane.up import install_crds
from kubenode.defender.resources import DEFENDER_POLICIES
from kubenode.defender.service import Defender
from kubenode.machine.resources import MACHINES
from kubenode.remedy import RemedySettings, add_remedy_controllers
from kubenode.remedy.resources import NODE_REMEDIERS, REMEDY_JOBS
from kubenode.runtime.events import EventRecorder
from kubenode.runtime.manager import Manager

from .polling import eventually

Obj = dict[str, Any]


def stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def conditions(deadlock: bool) -> list[Obj]:
    return [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "",
             "lastTransitionTime": "2024-01-01T00:00:00Z"},
            {"type": "KernelDeadlock", "status": "True" if deadlock else "False",
             "reason": "TaskHung" if deadlock else "KernelHasNoDeadlock", "message": "",
             "lastTransitionTime": stamp()}]


class Operator:
    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self.nodes: list[str] = []
        self.manager = Manager(client)
        defender = Defender(client, self.manager.informers.informer(DEFENDER_POLICIES),
                            self.manager.informers.informer(NODES), self.manager.registry,
                            EventRecorder(client, "kubenode-defender", "test"), flush_interval=0.05,
                            resync_interval=0.3)
        self.manager.add(defender)
        add_remedy_controllers(self.manager, client, defender,
                               RemedySettings(healthy_delay_seconds=0.5, denied_retry_seconds=3600))

    async def node(self, name: str, labels: dict[str, str] | None = None) -> None:
        await self.client.create(NODES, {"apiVersion": "v1", "kind": "Node",
                                         "metadata": {"name": name, "labels": labels or {}}})
        await self.sick(name, False)
        self.nodes.append(name)
        await self.heartbeat(name, create=True)

    async def heartbeat(self, name: str, *, create: bool = False) -> None:
        """Renew the node's Lease as its kubelet would, so the server's node lifecycle keeps it Ready."""
        renew = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        if create:
            await self.client.create(LEASES, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                              "metadata": {"name": name, "namespace": "kube-node-lease"},
                                              "spec": {"holderIdentity": name, "renewTime": renew}})
        else:
            await self.client.patch(LEASES, name, {"spec": {"renewTime": renew}}, namespace="kube-node-lease")

    async def heartbeats(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            for name in self.nodes:
                await self.heartbeat(name)

    async def sick(self, name: str, deadlock: bool = True) -> None:
        await self.client.patch(NODES, name, {"status": {"conditions": conditions(deadlock)}},
                                subresource="status", patch_type="strategic")

    async def policy(self, rules: list[Obj]) -> None:
        await self.client.create(DEFENDER_POLICIES, {
            "apiVersion": c.API_VERSION, "kind": "DefenderPolicy", "metadata": {"name": "p"},
            "spec": {"rules": rules, "circuitBreaker": {"cooldownSeconds": 300}}})

    async def remedier(self, action: Obj) -> None:
        await self.client.create(NODE_REMEDIERS, {
            "apiVersion": c.API_VERSION, "kind": "NodeRemedier", "metadata": {"name": "kernel"},
            "spec": {"selector": {}, "rules": [{"name": "hung", "conditions": [
                {"type": "KernelDeadlock", "status": "True", "forSeconds": 0}],
                "actions": [action], "cooldownSeconds": 0, "maxAttempts": 1}]}})

    async def jobs(self) -> dict[str, Obj]:
        items, _ = await self.client.list(REMEDY_JOBS)
        return {j["spec"]["nodeName"]: j for j in items}


@pytest.fixture
async def op(server: RunningServer) -> AsyncIterator[Operator]:
    client = KubeClient(load_config(server.kubeconfig))
    await install_crds(client)
    o = Operator(client)
    beats = asyncio.create_task(o.heartbeats())
    try:
        yield o
    finally:
        beats.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beats
        await o.manager.stop()
        await client.close()


STORM = {"name": "storm", "operations": ["Remediation"], "maxUnhealthy": "50%", "settleSeconds": 3}


def phase(job: Obj) -> str:
    return str((job.get("status") or {}).get("phase") or "")


async def test_a_developing_storm_gets_no_remediation(op: Operator) -> None:
    for i in range(4):
        await op.node(f"n{i}")
    await op.policy([STORM])
    await op.remedier({"type": "Cordon"})
    await op.manager.start()
    # Three of four nodes turn sick within two seconds: the first one's job is reviewed while only it is sick.
    for i in range(3):
        await op.sick(f"n{i}")
        await asyncio.sleep(0.6)  # the storm develops (this is the scenario, not a wait for state)

    async def all_denied() -> dict[str, Obj] | None:
        jobs = await op.jobs()
        done = len(jobs) == 3 and all(phase(j) == c.JOB_PHASE_DENIED for j in jobs.values())
        return jobs if done else None

    jobs = await eventually(all_denied, 30, "three denied jobs")
    assert {j["status"]["defender"]["reason"] for j in jobs.values()} <= {"StormDetected", "CircuitOpen"}
    assert any(j["status"]["defender"]["reason"] == "StormDetected" for j in jobs.values())
    for i in range(4):
        assert not (await op.client.get(NODES, f"n{i}")).get("spec", {}).get("unschedulable")


async def test_a_lone_sick_node_is_remediated_after_the_settle_window(op: Operator) -> None:
    for i in range(4):
        await op.node(f"n{i}")
    await op.policy([STORM])
    await op.remedier({"type": "Cordon"})
    await op.manager.start()
    await op.sick("n0")

    async def succeeded() -> Obj | None:
        job = (await op.jobs()).get("n0")
        return job if job is not None and phase(job) == c.JOB_PHASE_SUCCEEDED else None

    job = await eventually(succeeded, 30, "the lone node's job to succeed")
    assert (await op.client.get(NODES, "n0"))["spec"]["unschedulable"] is True
    events, _ = await op.client.list(EVENTS, "default")
    held = [e for e in events if e["reason"] == "StormSettling"
            and e["involvedObject"]["name"] == job["metadata"]["name"]]
    assert held, "the job was first held for the settle window"


async def test_replace_is_denied_by_a_machine_deletion_budget(op: Operator) -> None:
    await op.client.create(MACHINES, {"apiVersion": c.API_VERSION, "kind": "Machine", "metadata": {"name": "m0"},
                                      "spec": {"providerRef": {"name": "local"}}})
    await op.node("m0", {c.LABEL_MACHINE: "m0"})
    await op.policy([{"name": "deletions", "operations": ["MachineDeletion"],
                      "budgets": [{"window": "1h", "limit": 0}]}])
    await op.remedier({"type": "Replace"})
    await op.manager.start()
    await op.sick("m0")

    async def denied() -> Obj | None:
        job = (await op.jobs()).get("m0")
        return job if job is not None and phase(job) == c.JOB_PHASE_DENIED else None

    job = await eventually(denied, 30, "the Replace job to be denied")
    assert job["status"]["defender"]["rule"] == "deletions"
    assert job["status"]["defender"]["reason"] == "BudgetExhausted"
    assert (await op.client.get(MACHINES, "m0"))["metadata"].get("deletionTimestamp") is None
