"""The agent's endpoint against the real embedded API server: /metrics, metricsEndpoint, /logs authorization."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from kubenode.agent.agent import MACHINES, Agent, AgentConfig
from kubenode.agent.facts import AGENT_VERSION
from kubenode.agent.telemetry import AgentMetrics, TelemetryServer, build_telemetry
from kubenode.api.rbac import AGENT, SYSTEM_NAMESPACE
from kubenode.apiserver.server import RunningServer, ServerConfig, start_server
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import NAMESPACES, PODS
from kubenode.client.resources import SERVICEACCOUNTS as SERVICE_ACCOUNTS

from ..api_examples import manifest
from .installer_env import agent_client, install_node_isolation

MACHINE = "m1"


@dataclass
class Env:
    server: RunningServer
    admin: KubeClient
    agent: KubeClient
    agent_token: str
    viewer_token: str
    telemetry: TelemetryServer
    metrics: AgentMetrics


async def _token(admin: KubeClient, name: str) -> str:
    with contextlib.suppress(errors.AlreadyExists):
        await admin.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                        "metadata": {"name": "kubenode-system"}})
    with contextlib.suppress(errors.AlreadyExists):
        await admin.create(SERVICE_ACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                              "metadata": {"name": name, "namespace": "kubenode-system"}},
                           "kubenode-system")
    return (await admin.create_token("kubenode-system", name)).token


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    server = await start_server(ServerConfig(data_dir=tmp_path / "data", port=0))
    admin = KubeClient(load_config(server.kubeconfig))
    agent: KubeClient | None = None
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    try:
        # The agent's rights are the shipped RBAC and node-isolation policy (its DaemonSet ServiceAccount).
        await install_node_isolation(admin)
        await admin.create(MACHINES, manifest("Machine", MACHINE, {"providerRef": {"name": "local"}}))
        # The DaemonSet identity: a token bound to the agent's pod on the node (it names the node).
        pod = await admin.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kubenode-agent"},
                                        "spec": {"nodeName": MACHINE, "serviceAccountName": AGENT,
                                                 "containers": [{"name": "agent", "image": "kubenode"}]}},
                                 SYSTEM_NAMESPACE)
        token = (await admin.create_token(SYSTEM_NAMESPACE, AGENT, bound_object=pod)).token
        agent = agent_client(server, token)
        metrics = AgentMetrics(machine=MACHINE, node=MACHINE, version=AGENT_VERSION, mode="local")
        telemetry = build_telemetry(agent.config, metrics, node_name=MACHINE, host="127.0.0.1", port=0)
        task = asyncio.create_task(telemetry.run(stop), name="telemetry")
        yield Env(server, admin, agent, token, await _token(admin, "viewer"), telemetry, metrics)
    finally:
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 10)
        if agent is not None:
            await agent.close()
        await admin.close()
        await server.stop()


async def _get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as resp:
        return resp.status, await resp.text()


async def test_metrics_endpoint_reported_and_served(env: Env) -> None:
    config = AgentConfig(machine=MACHINE, node_name=MACHINE, metrics_endpoint=env.telemetry.url)
    agent = Agent(env.agent, config, [env.telemetry])
    await agent.heartbeat()
    machine = await env.admin.get(MACHINES, MACHINE)
    assert machine["status"]["agent"]["metricsEndpoint"] == env.telemetry.url
    assert env.telemetry.url.startswith("http://127.0.0.1:") and env.telemetry.url.endswith("/metrics")

    status, text = await _get(env.telemetry.url)
    assert status == 200
    lines = text.splitlines()
    for prefix in ('node_cpu_seconds_total{cpu="0",mode="idle"} ', "node_memory_MemTotal_bytes ",
                   "node_memory_MemAvailable_bytes ", "node_load1 ", "node_boot_time_seconds ",
                   'node_filesystem_avail_bytes{device="', 'node_network_receive_bytes_total{device="lo"} ',
                   "kubenode_agent_heartbeats_total 1", "process_cpu_seconds_total ",
                   f'kubenode_agent_info{{version="{AGENT_VERSION}",machine="{MACHINE}",node="{MACHINE}",'
                   'mode="local"} 1'):
        assert any(line.startswith(prefix) for line in lines), prefix
    mem = next(line for line in lines if line.startswith("node_memory_MemTotal_bytes "))
    assert mem.split()[1].isdigit()  # exact integer, never 2.5e+10
    assert "# TYPE problem_counter counter" in lines and "# TYPE problem_gauge gauge" in lines
    status, _ = await _get(env.telemetry.url.replace("/metrics", "/healthz"))
    assert status == 200


async def test_logs_only_for_callers_allowed_to_get_nodes_proxy(env: Env) -> None:
    logging.getLogger("kubenode.agent").warning("a line for diagnose %s", "xyz-123")
    logs = env.telemetry.url.replace("/metrics", "/logs")
    status, body = await _get(logs)
    assert status == 401 and "bearer token is required" in body
    status, body = await _get(logs, "not-a-token")
    assert status == 401 and "does not accept this token" in body
    status, body = await _get(logs, env.viewer_token)
    assert status == 403 and "get nodes/proxy m1" in body
    status, body = await _get(logs, env.server.admin_token)
    assert status == 200 and "WARNING kubenode.agent: a line for diagnose xyz-123" in body
    status, body = await _get(logs + "?lines=1&format=json", env.server.admin_token)
    assert status == 200 and '"node": "m1"' in body.replace('":"', '": "')
    status, body = await _get(logs + "?lines=-1", env.server.admin_token)
    assert status == 400 and "non-negative integer" in body
