"""Component drift end to end on the embedded API server: a tampered file sets Drifted with its path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubenode.agent.installer import ComponentAgent, ComponentAgentConfig
from kubenode.agent.installer.component_agent import MACHINE_COMPONENTS
from kubenode.agent.installer.layout import ComponentLayout
from kubenode.agent.telemetry import AgentMetrics, render
from kubenode.api.constants import ANNOTATION_VERIFY_NOW

from .installer_env import (
    COMPONENT,
    MACHINE,
    agent_env,
    eventually,
    spec_for,
)
from .installer_env import AgentEnv as Env

Obj = dict[str, Any]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with agent_env(tmp_path) as e:
        yield e


def _drifted(mc: Obj) -> Obj | None:
    return next((c for c in (mc.get("status") or {}).get("conditions") or [] if c["type"] == "Drifted"), None)


async def test_tampered_file_is_drift_on_demand_and_counted(env: Env) -> None:
    # Controlled by env.owner: the agent acts only on MachineComponents a MachineComponentSet it can see
    # controls (defence in depth).
    await env.admin.create(MACHINE_COMPONENTS, env.machine_component(
        "mc1", MACHINE, COMPONENT, spec_for(env.artifacts["1.0.0"], files=[{"path": "etc/x.conf", "content": "a"}])))
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
