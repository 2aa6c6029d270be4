"""The agent under the shipped RBAC alone: the ClusterRole `kubenode-agent` is enough for its work, and no more.

The agent authenticates as the ServiceAccount `kubenode-system/kubenode-agent`
(the DaemonSet identity), which only RBAC authorizes (no legacy rule), so this
proves the shipped role on the embedded server exactly as a real cluster would
apply it: the agent registers its Node, renews its Lease and heartbeats; the
component installer installs, reports status and manages its finalizer;
writes beyond the role are 403.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubenode.agent.agent import Agent, AgentConfig
from kubenode.agent.installer import ComponentAgent, ComponentAgentConfig
from kubenode.agent.installer.component_agent import MACHINE_COMPONENTS
from kubenode.api.constants import API_VERSION
from kubenode.api.rbac import AGENT, SYSTEM_NAMESPACE
from kubenode.apiserver.server import RunningServer
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.kinds import MACHINE_COMPONENT_SETS
from kubenode.client.resources import LEASES, NODES, SECRETS
from kubenode.controlplane.rbac_install import install_rbac
from kubenode.controlplane.up import install_crds
from kubenode.machine.bootstrap import ensure_system_namespace
from kubenode.machine.resources import MACHINES

from .installer_env import agent_client, demo_archives, eventually, has_finalizer, machine_component, spec_for

Obj = dict[str, Any]
MACHINE = "m1"


@pytest.fixture
async def clients(server: RunningServer) -> AsyncIterator[tuple[KubeClient, KubeClient]]:
    admin = KubeClient(load_config(server.kubeconfig))
    agent: KubeClient | None = None
    try:
        await install_crds(admin)
        await ensure_system_namespace(admin)
        assert await install_rbac(admin) > 0
        assert await install_rbac(admin) == 0  # idempotent: the second start writes nothing
        agent = agent_client(server, (await admin.create_token(SYSTEM_NAMESPACE, AGENT)).token)
        yield admin, agent
    finally:
        if agent is not None:
            await agent.close()
        await admin.close()


async def test_the_agent_role_suffices_for_installing_and_nothing_more(
        clients: tuple[KubeClient, KubeClient], tmp_path: Path) -> None:
    admin, agent = clients
    artifact = demo_archives(tmp_path / "artifacts")["1.0.0"]
    # The agent acts only on MachineComponents a MachineComponentSet it can see controls (defence in depth).
    owner = await admin.create(MACHINE_COMPONENT_SETS, {
        "apiVersion": API_VERSION, "kind": "MachineComponentSet", "metadata": {"name": "node-exporter"},
        "spec": {"component": "node-exporter", "selector": {"matchLabels": {"none": "none"}},
                 "template": spec_for(artifact)}})
    await admin.create(MACHINE_COMPONENTS, machine_component("mc1", MACHINE, "node-exporter", spec_for(artifact),
                                                             owner=owner))
    ext = ComponentAgent(agent, ComponentAgentConfig(machine=MACHINE, root=tmp_path / "root",
                                                     trusted_file_dirs=(tmp_path,)))
    stop = asyncio.Event()
    task = asyncio.create_task(ext.run(stop), name="component-agent")
    try:
        async def running() -> Obj | None:
            mc = await admin.get(MACHINE_COMPONENTS, "mc1")
            st = mc.get("status") or {}
            return mc if st.get("phase") == "Running" and st.get("installedVersion") == "1.0.0" else None

        mc = await eventually(running, 60, "the component installed under the agent's RBAC")
        assert has_finalizer(mc)

        await admin.delete(MACHINE_COMPONENTS, "mc1")

        async def gone() -> bool:
            try:
                await admin.get(MACHINE_COMPONENTS, "mc1")
            except errors.NotFound:
                return True
            return False

        await eventually(gone, 60, "the agent to remove the component and drop its finalizer")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)

    # the role's limits: no Secrets, no deleting what the operators own, no Node deletion
    with pytest.raises(errors.Forbidden):
        await agent.get(SECRETS, "anything", SYSTEM_NAMESPACE)
    await admin.create(MACHINE_COMPONENTS, machine_component("mc2", MACHINE, "node-exporter", spec_for(artifact),
                                                             owner=owner))
    with pytest.raises(errors.Forbidden):
        await agent.delete(MACHINE_COMPONENTS, "mc2")
    node = await agent.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": MACHINE}})
    assert node["metadata"]["name"] == MACHINE
    with pytest.raises(errors.Forbidden):
        await agent.delete(NODES, MACHINE)
    with contextlib.suppress(errors.NotFound):
        await admin.delete(MACHINE_COMPONENTS, "mc2")


async def test_the_agent_role_suffices_for_registration_lease_and_heartbeat(
        clients: tuple[KubeClient, KubeClient], tmp_path: Path) -> None:
    admin, agent = clients
    await admin.create(MACHINES, {"apiVersion": API_VERSION, "kind": "Machine", "metadata": {"name": MACHINE},
                                  "spec": {"providerRef": {"name": "local"}}})
    core = Agent(agent, AgentConfig(machine=MACHINE, node_name=MACHINE, root=tmp_path / "root", register_node=True))
    await core.tick()  # registers the Node and posts its status, creates the Lease, heartbeats into the Machine
    await core.tick()  # renews the Lease by patch
    node = await admin.get(NODES, MACHINE)
    assert {c["type"] for c in node["status"]["conditions"]} >= {"Ready"}
    lease = await admin.get(LEASES, MACHINE, "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == MACHINE
    machine = await admin.get(MACHINES, MACHINE)
    assert machine["status"]["agent"]["nodeName"] == MACHINE
    # the agent says how often it reports, so the Machine controller waits four of its periods (60 s by default)
    assert machine["status"]["agent"]["heartbeatSeconds"] == 60
    # the Machine's spec is the operators' (and its deletion): RBAC says no before any policy is asked
    with pytest.raises(errors.Forbidden):
        await agent.patch(MACHINES, MACHINE, {"spec": {"unschedulable": True}})
    with pytest.raises(errors.Forbidden):
        await agent.delete(MACHINES, MACHINE)
