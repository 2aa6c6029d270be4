"""Machines tell the truth, against the embedded server with the real operators (build_manager):
ComponentsReady from the machine's MachineComponents, MachineSet conditions as the schema names them, and a
deletion drain that waits as Cluster API's does and names what blocks it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubenode.api import constants as c
from kubenode.apiserver.server import RunningServer
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import EVENTS, NODES, PODS
from kubenode.componentset.resources import MACHINE_COMPONENTS
from kubenode.controlplane.operators import OperatorSettings, build_manager
from kubenode.controlplane.up import install_crds
from kubenode.machine.bootstrap import AgentEndpoint
from kubenode.machine.resources import MACHINE_SETS, MACHINES

from .polling import eventually

Obj = dict[str, Any]


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[KubeClient]:
    async with KubeClient(load_config(server.kubeconfig)) as cl:
        await install_crds(cl)
        ops = build_manager(cl, OperatorSettings(endpoint=AgentEndpoint(server.url,
                                                                        server.pki.ca_cert.read_bytes())))
        await ops.manager.start()
        try:
            yield cl
        finally:
            await ops.stop()


async def machine(client: KubeClient, name: str, **spec: Any) -> Obj:
    m = await client.create(MACHINES, {"apiVersion": c.API_VERSION, "kind": "Machine", "metadata": {"name": name},
                                       "spec": {"providerRef": {"name": "none"}, **spec}})

    async def finalized() -> Obj | None:
        got = await client.get(MACHINES, name)
        return got if c.FINALIZER_MACHINE in (got["metadata"].get("finalizers") or []) else None

    await eventually(finalized, what="the machine finalizer")
    return m


def condition(obj: Obj, type_: str) -> Obj | None:
    return next((x for x in (obj.get("status") or {}).get("conditions") or [] if x["type"] == type_), None)


async def test_components_ready_follows_the_machines_components(client: KubeClient) -> None:
    await machine(client, "m0")
    await client.create(MACHINE_COMPONENTS, {
        "apiVersion": c.API_VERSION, "kind": c.KIND_MACHINE_COMPONENT,
        "metadata": {"name": "demo-m0", "labels": {c.LABEL_MACHINE: "m0"}},
        "spec": {"machineName": "m0", "component": "demo", "revision": "r1", "version": "1.0.0",
                 "source": {"url": "https://example.com/demo.tar.gz", "sha256": "a" * 64}}})

    async def cond_is(status: str, reason: str) -> Obj | None:
        got = condition(await client.get(MACHINES, "m0"), c.MACHINE_CONDITION_COMPONENTS_READY)
        return got if got and (got["status"], got["reason"]) == (status, reason) else None

    await eventually(lambda: cond_is("False", "ComponentsNotReady"), what="ComponentsReady=False")
    await client.patch_status(MACHINE_COMPONENTS, "demo-m0", {"status": {
        "phase": "Running", "healthy": True, "installedVersion": "1.0.0", "installedRevision": "r1"}})
    await eventually(lambda: cond_is("True", "AllComponentsReady"), what="ComponentsReady=True")
    await client.patch_status(MACHINE_COMPONENTS, "demo-m0", {"status": {
        "phase": "Failed", "healthy": False, "message": "health check failed"}})
    got = await eventually(lambda: cond_is("False", "ComponentFailed"), what="ComponentsReady=False (failed)")
    assert "demo: health check failed" in got["message"]


async def test_machineset_reports_the_conditions_its_schema_names(client: KubeClient) -> None:
    await client.create(MACHINE_SETS, {
        "apiVersion": c.API_VERSION, "kind": "MachineSet", "metadata": {"name": "pool"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"pool": "p"}},
                 "template": {"metadata": {"labels": {"pool": "p"}}, "spec": {"providerRef": {"name": "none"}}}}})

    async def conditions() -> dict[str, Obj] | None:
        ms = await client.get(MACHINE_SETS, "pool")
        conds = {x["type"]: x for x in (ms.get("status") or {}).get("conditions") or []}
        settled = conds.get("Resized", {}).get("status") == "True"
        return conds if set(conds) == set(c.MACHINE_SET_CONDITIONS) and settled else None

    conds = await eventually(conditions, what="MachinesCreated, MachinesReady, Resized")
    assert conds["MachinesCreated"]["status"] == "True" and conds["Resized"]["status"] == "True"
    assert conds["MachinesReady"]["status"] == "False"  # no provider: the machines never get ready


async def test_deletion_drain_waits_and_names_the_pod_that_blocks_it(client: KubeClient) -> None:
    await machine(client, "m0")
    await client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "m0"}})
    await client.create(PODS, {"apiVersion": "v1", "kind": "Pod",
                               "metadata": {"name": "slow", "namespace": "default", "finalizers": ["example.com/x"]},
                               "spec": {"nodeName": "m0", "containers": [{"name": "c", "image": "app"}]}})
    await client.delete(MACHINES, "m0")

    async def named() -> Obj | None:
        events, _ = await client.list(EVENTS, "default")
        return next((e for e in events if e["involvedObject"]["name"] == "m0" and e["reason"] == "Draining"
                     and "default/slow" in e["message"]), None)

    event = await eventually(named, what="an Event naming the pod the drain waits for")
    assert "nodeDrainTimeoutSeconds" in event["message"]
    assert (await client.get(MACHINES, "m0"))["status"]["phase"] == "Draining"
    await client.patch(PODS, "slow", {"metadata": {"finalizers": None}}, namespace="default")

    async def deleting() -> bool:
        try:
            return (await client.get(MACHINES, "m0"))["status"]["phase"] == "Deleting"
        except errors.NotFound:
            return True

    # drained: on to deprovisioning (which waits for the missing InfraProvider "none")
    await eventually(deleting, what="the machine past its drain")


async def test_a_drain_timeout_is_explicit(client: KubeClient) -> None:
    await machine(client, "m1", nodeDrainTimeoutSeconds=1)
    await client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "m1"}})
    await client.create(PODS, {"apiVersion": "v1", "kind": "Pod",
                               "metadata": {"name": "stuck", "namespace": "default", "finalizers": ["example.com/x"]},
                               "spec": {"nodeName": "m1", "containers": [{"name": "c", "image": "app"}]}})
    await client.delete(MACHINES, "m1")

    async def timed_out() -> Obj | None:
        events, _ = await client.list(EVENTS, "default")
        return next((e for e in events if e["involvedObject"]["name"] == "m1" and e["reason"] == "DrainTimeout"),
                    None)

    event = await eventually(timed_out, what="a DrainTimeout Event")
    assert "default/stuck" in event["message"] and "nodeDrainTimeoutSeconds 1" in event["message"]
    await client.patch(PODS, "stuck", {"metadata": {"finalizers": None}}, namespace="default")


async def test_components_of_a_machine_whose_agent_stopped_reporting_become_unknown(client: KubeClient) -> None:
    await machine(client, "m2")
    await client.create(MACHINE_COMPONENTS, {
        "apiVersion": c.API_VERSION, "kind": c.KIND_MACHINE_COMPONENT,
        "metadata": {"name": "demo-m2", "labels": {c.LABEL_MACHINE: "m2"}},
        "spec": {"machineName": "m2", "component": "demo", "revision": "r1", "version": "1.0.0",
                 "source": {"url": "https://example.com/demo.tar.gz", "sha256": "a" * 64}}})
    await client.patch_status(MACHINE_COMPONENTS, "demo-m2", {"status": {
        "phase": "Running", "healthy": True, "installedVersion": "1.0.0", "installedRevision": "r1",
        "conditions": [{"type": "Healthy", "status": "True", "reason": "HealthCheckPassed", "message": "",
                        "lastTransitionTime": "2024-01-01T00:00:00Z"}]}})
    # The agent's last heartbeat is long ago: it is gone (the Machine says AgentConnected=Unknown).
    await client.patch_status(MACHINES, "m2", {"status": {"agent": {
        "version": "test", "lastHeartbeatTime": "2024-01-01T00:00:00Z"}}})

    async def unknown() -> Obj | None:
        mc = await client.get(MACHINE_COMPONENTS, "demo-m2")
        health = condition(mc, "Healthy")
        return mc if health and health["status"] == "Unknown" else None

    mc = await eventually(unknown, what="the component's health to become Unknown")
    assert "healthy" not in mc["status"] and condition(mc, "Healthy")["reason"] == "AgentNotReporting"

    async def not_ready() -> Obj | None:
        ready = condition(await client.get(MACHINES, "m2"), c.MACHINE_CONDITION_COMPONENTS_READY)
        return ready if ready is not None and ready["status"] == "False" else None

    ready = await eventually(not_ready, what="ComponentsReady=False while the agent is gone")
    assert "AgentNotReporting" in ready["message"] or "not reporting" in ready["message"]
