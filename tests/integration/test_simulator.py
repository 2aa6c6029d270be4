"""Hollow nodes (`kubenode simulate`) against the embedded API server, in-process, at small N."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubenode.apiserver.server import RunningServer
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import LEASES, NODES
from kubenode.controlplane.up import install_crds
from kubenode.simulator.faults import Fault
from kubenode.simulator.flip import Flip, flip
from kubenode.simulator.hollow import JOBS, MACHINE_COMPONENTS, MACHINES, Simulator, SimulatorSettings

from .polling import eventually

Obj = dict[str, Any]
SHA = "b" * 64


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[KubeClient]:
    config = dataclasses.replace(load_config(Path(server.kubeconfig)), qps=2000.0, burst=2000)
    async with KubeClient(config) as c:
        await install_crds(c)
        yield c


def cond(node: Obj, type_: str) -> Obj:
    return next(x for x in node["status"]["conditions"] if x["type"] == type_)


async def run_sim(client: KubeClient, **kw: Any) -> Simulator:
    settings = SimulatorSettings(**{"nodes": 6, "lease_seconds": 0.3, "status_seconds": 0.5,
                                    "heartbeat_seconds": 0.5, "concurrency": 8, **kw})
    sim = Simulator(client, settings)
    await sim.start()
    return sim


async def test_registers_a_mixed_fleet_and_keeps_it_alive(client: KubeClient) -> None:
    sim = await run_sim(client)
    try:
        nodes, _ = await client.list(NODES, label_selector="kubenode.io/simulated=true")
        assert sorted(n["metadata"]["name"] for n in nodes) == [f"sim-{i:06d}" for i in range(6)]
        for n in nodes:
            labels, status = n["metadata"]["labels"], n["status"]
            assert labels["topology.kubernetes.io/zone"] in ("sim-a", "sim-b", "sim-c")
            assert labels["kubernetes.io/arch"] in ("amd64", "arm64")
            assert labels["kubenode.io/machine"] == n["metadata"]["name"]
            assert int(status["capacity"]["cpu"]) >= 8
            assert cond(n, "Ready")["status"] == "True"
            assert cond(n, "KernelDeadlock") == {**cond(n, "KernelDeadlock"), "status": "False",
                                                 "reason": "KernelHasNoDeadlock"}
        assert {n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes} == {"sim-a", "sim-b", "sim-c"}
        lease = await client.get(LEASES, "sim-000000", "kube-node-lease")
        assert lease["metadata"]["ownerReferences"][0]["name"] == "sim-000000"
        first = lease["spec"]["renewTime"]

        async def renewed() -> bool:
            return (await client.get(LEASES, "sim-000000", "kube-node-lease"))["spec"]["renewTime"] != first
        await eventually(renewed, what="the Lease renewed")
        machine = await client.get(MACHINES, "sim-000003")
        assert machine["status"]["phase"] == "Running"
        assert machine["status"]["nodeRef"]["name"] == "sim-000003"
        beat = machine["status"]["agent"]["lastHeartbeatTime"]
        assert beat
        assert machine["status"]["agent"]["heartbeatSeconds"] == math.ceil(sim.settings.heartbeat_seconds)
        assert sim.stats.writes["lease"] >= 6 and not sim.stats.errors
    finally:
        await sim.stop()
        await sim.delete_all()
    assert not (await client.list(NODES, label_selector="kubenode.io/simulated=true"))[0]
    assert not (await client.list(MACHINES))[0]


async def test_a_restarted_simulator_adopts_its_fleet(client: KubeClient) -> None:
    sim = await run_sim(client, nodes=3)
    await sim.stop()
    again = await run_sim(client, nodes=3)
    try:
        assert again.stats.writes.get("node", 0) == 0 and again.stats.writes.get("machine", 0) == 0
        assert len((await client.list(NODES))[0]) == 3
    finally:
        await again.stop()


def component(machine: str, version: str) -> Obj:
    return {"apiVersion": "kubenode.io/v1alpha1", "kind": "MachineComponent",
            "metadata": {"name": f"{machine}-demo", "labels": {"kubenode.io/machine": machine}},
            "spec": {"machineName": machine, "component": "demo", "revision": f"r-{version}", "version": version,
                     "source": {"url": f"https://example.com/demo-{version}.tar.gz", "sha256": SHA}}}


@pytest.mark.parametrize(("failure_rate", "phase", "installed"), [(0.0, "Running", "1.0.0"), (1.0, "Failed", None)])
async def test_installs_report_like_the_agent(client: KubeClient, failure_rate: float, phase: str,
                                              installed: str | None) -> None:
    sim = await run_sim(client, nodes=2, install_seconds=0.2, install_failure_rate=failure_rate)
    try:
        await client.create(MACHINE_COMPONENTS, component("sim-000001", "1.0.0"))

        async def reported() -> Obj | None:
            mc = await client.get(MACHINE_COMPONENTS, "sim-000001-demo")
            st = mc.get("status") or {}
            return mc if st.get("observedGeneration") == mc["metadata"]["generation"] and st.get("phase") in (
                "Running", "Failed") else None
        mc = await eventually(reported, what="the install reported")
        assert mc["status"]["phase"] == phase
        assert mc["status"].get("installedVersion") == installed
        assert mc["status"]["healthy"] is (phase == "Running")
        assert "kubenode.io/machinecomponent" in mc["metadata"]["finalizers"]
        await client.delete(MACHINE_COMPONENTS, "sim-000001-demo")

        async def gone() -> bool:
            return not (await client.list(MACHINE_COMPONENTS))[0]
        await eventually(gone, what="the finalizer released")
    finally:
        await sim.stop()


async def job(client: KubeClient, name: str, node: str, action: Obj) -> None:
    await client.create(JOBS, {
        "apiVersion": "kubenode.io/v1alpha1", "kind": "RemedyOperationJob",
        "metadata": {"name": name, "labels": {"kubenode.io/machine": node, "kubenode.io/node": node}},
        "spec": {"nodeName": node, "machineName": node, "remedier": "r", "rule": "x", "action": action}})
    await client.patch(JOBS, name, {"status": {"phase": "Approved"}}, subresource="status")


@pytest.mark.parametrize(("failure_rate", "final", "deadlock_after"),
                         [(0.0, "Succeeded", "False"), (1.0, "Failed", "True")])
async def test_faults_and_remediation(client: KubeClient, failure_rate: float, final: str,
                                      deadlock_after: str) -> None:
    sim = await run_sim(client, nodes=10, remedy_seconds=0.1, remedy_failure_rate=failure_rate)
    try:
        victims = sim.inject(Fault("KernelDeadlock", "TaskHung", percent=20))
        assert len(victims) == 2
        assert sim.inject(Fault("KernelDeadlock", "TaskHung", count=10)) == sorted(
            set(sim._index) - set(victims))  # only nodes without the fault are hit
        victim = victims[0]

        async def hung() -> bool:
            n = await client.get(NODES, victim)
            return cond(n, "KernelDeadlock")["status"] == "True" and cond(n, "Ready")["status"] == "True"
        await eventually(hung, what="the fault reported")
        assert cond(await client.get(NODES, victim), "KernelDeadlock")["reason"] == "TaskHung"
        await job(client, "j1", victim, {"type": "RestartComponent", "component": "node-problem-detector"})

        async def done() -> Obj | None:
            st = (await client.get(JOBS, "j1")).get("status") or {}
            return st if st.get("phase") in ("Succeeded", "Failed") else None
        st = await eventually(done, what="the job finished")
        assert st["phase"] == final and st["startTime"] and st["completionTime"]
        assert any(x["type"] == "Complete" and x["status"] == "True" for x in st["conditions"])

        async def deadlock_is() -> bool:
            return cond(await client.get(NODES, victim), "KernelDeadlock")["status"] == deadlock_after
        await eventually(deadlock_is, what=f"KernelDeadlock={deadlock_after} after the job")
    finally:
        await sim.stop()


async def test_flip_sets_a_condition_that_status_posts_keep(client: KubeClient) -> None:
    sim = await run_sim(client, nodes=6)
    try:
        names = await flip(client, Flip.parse("ReadonlyFilesystem=True"),
                           "topology.kubernetes.io/zone=sim-a", count=1)
        assert names == ["sim-000000"]
        posts = sim.stats.writes["node-status"]

        async def posted_again() -> bool:
            return sim.stats.writes["node-status"] >= posts + 12
        await eventually(posted_again, what="two rounds of status posts")
        n = await client.get(NODES, "sim-000000")
        assert cond(n, "ReadonlyFilesystem")["status"] == "True"
        assert cond(n, "ReadonlyFilesystem")["reason"] == "FilesystemIsReadOnly"
        assert cond(await client.get(NODES, "sim-000003"), "ReadonlyFilesystem")["status"] == "False"
    finally:
        await sim.stop()
