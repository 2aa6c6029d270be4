"""Component drift end to end on the embedded API server: a tampered file sets Drifted with its path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubenode.agent.installer import ComponentAgent, ComponentAgentConfig
from kubenode.agent.installer.component_agent import MACHINE_COMPONENTS
from kubenode.agent.installer.layout import ComponentLayout
from kubenode.agent.telemetry import AgentMetrics, render
from kubenode.api.constants import ANNOTATION_VERIFY_NOW, API_VERSION
from kubenode.apiserver.server import RunningServer, ServerConfig, start_server
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.kinds import MACHINE_COMPONENT_SETS
from kubenode.demo.artifacts import Artifact

from .installer_env import (
    agent_cert_client,
    demo_archives,
    eventually,
    install_node_isolation,
    machine_component,
    spec_for,
)

Obj = dict[str, Any]
MACHINE = "m1"
COMPONENT = "node-exporter"


@dataclass
class Env:
    server: RunningServer
    admin: KubeClient
    agent: KubeClient
    root: Path
    artifacts: dict[str, Artifact]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    server = await start_server(ServerConfig(data_dir=tmp_path / "data", port=0))
    admin = KubeClient(load_config(server.kubeconfig))
    agent: KubeClient | None = None
    try:
        # The agent works under the shipped RBAC and node-isolation policy alone, with its certificate.
        await install_node_isolation(admin)
        agent = agent_cert_client(server, MACHINE, tmp_path / "agent-pki")
        yield Env(server, admin, agent, tmp_path / "machines" / MACHINE, demo_archives(tmp_path / "artifacts"))
    finally:
        if agent is not None:
            await agent.close()
        await admin.close()
        await server.stop()


def _drifted(mc: Obj) -> Obj | None:
    return next((c for c in (mc.get("status") or {}).get("conditions") or [] if c["type"] == "Drifted"), None)


async def test_tampered_file_is_drift_on_demand_and_counted(env: Env) -> None:
    # The agent acts only on MachineComponents a MachineComponentSet it can see controls (defence in depth).
    owner = await env.admin.create(MACHINE_COMPONENT_SETS, {
        "apiVersion": API_VERSION, "kind": "MachineComponentSet", "metadata": {"name": COMPONENT},
        "spec": {"component": COMPONENT, "selector": {"matchLabels": {"none": "none"}},
                 "template": spec_for(env.artifacts["1.0.0"])}})
    await env.admin.create(MACHINE_COMPONENTS, machine_component(
        "mc1", MACHINE, COMPONENT, spec_for(env.artifacts["1.0.0"], files=[{"path": "etc/x.conf", "content": "a"}]),
        owner=owner))
    metrics = AgentMetrics(machine=MACHINE, node=MACHINE, version="t", mode="local")
    ext = ComponentAgent(env.agent, ComponentAgentConfig(machine=MACHINE, root=env.root, drift_seconds=3600,
                                                         metrics=metrics, trusted_file_dirs=(env.root.parent.parent,)))
    stop = asyncio.Event()
    task = asyncio.create_task(ext.run(stop), name="component-agent")
    try:
        async def clean() -> Obj | None:
            cond = _drifted(await env.admin.get(MACHINE_COMPONENTS, "mc1"))
            return cond if cond is not None and cond["status"] == "False" else None

        cond = await eventually(clean, 30, "Drifted=False after the install")
        assert cond["reason"] == "FilesMatch" and "match the verified artifact" in cond["message"]

        version_dir = ComponentLayout(env.root, COMPONENT).version_dir("1.0.0")
        (version_dir / "bin" / "check").write_text("#!/bin/sh\nexit 0\n")  # someone edited a verified program
        await env.admin.patch(MACHINE_COMPONENTS, "mc1", {"metadata": {"annotations": {ANNOTATION_VERIFY_NOW: "1"}}})

        async def drifted() -> Obj | None:
            mc = await env.admin.get(MACHINE_COMPONENTS, "mc1")
            cond = _drifted(mc)
            return cond if cond is not None and cond["status"] == "True" else None

        cond = await eventually(drifted, 30, "Drifted=True after verify-now")
        assert cond["reason"] == "FilesDiffer"
        assert cond["message"].startswith("bin/check: content differs") and "request '1'" in cond["message"]
        text = render(metrics.collect())
        assert f'kubenode_agent_component_drift_total{{component="{COMPONENT}"}} 1' in text
        assert f'kubenode_agent_component_drifted{{component="{COMPONENT}"}} 1' in text
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
