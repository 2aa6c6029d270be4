"""The agent's main loop: register the Node, keep its Lease fresh, report to the Machine.

Writes per node are kept low on purpose (a fleet of 5,000 nodes must stay
cheap for the API server): the Lease is renewed every 10 s, the Node status
is re-posted every minute or at once when it no longer says Ready (e.g. the
node lifecycle controller marked it Unknown while we were away), and the
Machine heartbeat is written every `heartbeat_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kubenode.api.constants import API_VERSION
from kubenode.apimachinery.timefmt import format_micro, format_time
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.kinds import MACHINES
from kubenode.client.resources import LEASES, NODES

from .facts import AGENT_VERSION, HostFacts, gather
from .node_object import new_node, node_status
from .telemetry import AgentMetrics, TelemetryServer

log = logging.getLogger("kubenode.agent")

NODE_LEASE_NAMESPACE = "kube-node-lease"
FIELD_MANAGER = "kubenode-agent"


def _micro_now() -> str:
    return format_micro(time.time())


#: The agent's default periods (s): Machine heartbeat, full Node status (a kubelet's nodeStatusReportFrequency).
DEFAULT_HEARTBEAT_SECONDS = 60.0
DEFAULT_STATUS_SECONDS = 300.0


def heartbeat_period(seconds: float) -> int:
    """The period reported in Machine.status.agent.heartbeatSeconds: whole seconds, at least 1."""
    return max(1, math.ceil(seconds))


def _now() -> str:
    return format_time(time.time())


@dataclass
class AgentConfig:
    """How one agent runs."""

    machine: str
    node_name: str
    root: Path | None = None
    #: DaemonSet mode (`--host-root`): the host's root filesystem as mounted in the pod. The kubelet owns the
    #: Node; the agent reports conditions and heartbeats, installs through this root and reboots the host.
    host_root: Path | None = None
    register_node: bool = False
    lease_seconds: float = 10.0
    lease_duration: int = 40
    #: The Machine heartbeat (status.agent) and the full Node status are written rarely, as a kubelet writes
    #: its Node status every 5 minutes while renewing its Lease every 10 s: at 10,000 nodes a 10 s heartbeat
    #: alone is 1,000 writes/s on the API server and as many watch events in every operator. Liveness is the
    #: Lease (the node lifecycle marks a silent node Unknown after 40 s); the Machine says its period
    #: (status.agent.heartbeatSeconds), and the Machine controller waits four of them before AgentConnected
    #: turns Unknown.
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    status_seconds: float = DEFAULT_STATUS_SECONDS
    #: The agent's HTTP endpoint (metrics, logs): bind address and port (0: a free port; None: the default,
    #: a free port for a local machine, telemetry.HOST_METRICS_PORT on a host — or a free one if it is taken).
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    #: The URL it serves metrics at, reported in Machine.status.agent.metricsEndpoint (set once bound).
    metrics_endpoint: str = ""
    #: node-problem-detector's config flags (--config.system-log-monitor, …): explicit monitor config files.
    system_log_monitors: tuple[str, ...] = ()
    custom_plugin_monitors: tuple[str, ...] = ()
    system_stats_monitors: tuple[str, ...] = ()
    #: Directories the installer may read `file://` sources from; None: its default (see installer/inputs.py).
    trusted_file_dirs: tuple[Path, ...] | None = None


class AgentExtension(Protocol):
    """A long-running part of the agent (component installer, fault detectors, remediation executor)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; never raise on API errors (retry instead)."""
        ...


class Agent:
    """One node's agent: registration, lease and heartbeats, plus its extensions running beside them."""

    def __init__(self, client: KubeClient, config: AgentConfig,
                 extensions: list[AgentExtension] | None = None) -> None:
        self.client = client
        self.config = config
        self.extensions = list(extensions or [])
        self.facts: HostFacts = gather(config.root, config.node_name)
        self._node_uid = ""
        self._last_status = 0.0
        self._last_heartbeat = 0.0
        self._status_dirty = True
        #: The agent's own metrics, when its telemetry extension runs.
        self.metrics: AgentMetrics | None = next(
            (e.metrics for e in self.extensions if isinstance(e, TelemetryServer)), None)

    async def run(self, stop: asyncio.Event) -> None:
        """Run the core loop and every extension until `stop` is set."""
        tasks = [asyncio.create_task(ext.run(stop), name=f"agent-ext-{type(ext).__name__}")
                 for ext in self.extensions]
        try:
            await self._core(stop)
        finally:
            stop.set()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    async def _core(self, stop: asyncio.Event) -> None:
        """Loop until `stop` is set; API errors are retried, never fatal."""
        while not stop.is_set():
            try:
                await self.tick()
            except (TimeoutError, errors.ApiError, OSError) as exc:
                log.warning("agent tick failed (will retry): %s", exc)
                self._status_dirty = True
                if self.metrics is not None:
                    self.metrics.heartbeat_failures += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.lease_seconds)

    async def tick(self) -> None:
        """One round: node, lease, heartbeat — each only when due."""
        now = time.monotonic()
        if self.config.register_node and (self._status_dirty or now - self._last_status >= self.config.status_seconds):
            await self.ensure_node()
            self._last_status = now
            self._status_dirty = False
        if self.config.register_node:
            await self.renew_lease()
        if now - self._last_heartbeat >= self.config.heartbeat_seconds:
            await self.heartbeat()
            self._last_heartbeat = now

    async def ensure_node(self) -> None:
        """Register the Node if missing and post its full status."""
        name = self.config.node_name
        try:
            node = await self.client.get(NODES, name)
        except errors.NotFound:
            node = await self.client.create(NODES, new_node(self.facts, name, self.config.machine))
            log.info("registered node %s", name)
        self._node_uid = node["metadata"]["uid"]
        conditions = (node.get("status") or {}).get("conditions")
        status = node_status(self.facts, _now(), conditions)
        await self.client.patch(NODES, name, {"status": status}, subresource="status",
                                field_manager=FIELD_MANAGER)

    async def renew_lease(self) -> None:
        """Create or renew kube-node-lease/<node> (owned by the Node, so it goes with it)."""
        name = self.config.node_name
        spec = {"holderIdentity": name, "leaseDurationSeconds": self.config.lease_duration,
                "renewTime": _micro_now()}
        try:
            await self.client.patch(LEASES, name, {"spec": spec}, namespace=NODE_LEASE_NAMESPACE,
                                    field_manager=FIELD_MANAGER)
        except errors.NotFound:
            lease: dict[str, Any] = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                     "metadata": {"name": name, "namespace": NODE_LEASE_NAMESPACE}, "spec": spec}
            if self._node_uid:
                lease["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": name,
                                                         "uid": self._node_uid}]
            await self.client.create(LEASES, lease, namespace=NODE_LEASE_NAMESPACE)

    async def heartbeat(self) -> None:
        """Report the agent's version, boot ID and liveness in Machine.status.agent."""
        agent: dict[str, Any] = {"version": AGENT_VERSION, "lastHeartbeatTime": _now(),
                                 "heartbeatSeconds": heartbeat_period(self.config.heartbeat_seconds),
                                 "bootID": self.facts.boot_id, "nodeName": self.config.node_name}
        if self.config.metrics_endpoint:
            agent["metricsEndpoint"] = self.config.metrics_endpoint
        body = {"apiVersion": API_VERSION, "kind": "Machine", "status": {"agent": agent}}
        await self.client.patch(MACHINES, self.config.machine, body, subresource="status",
                                field_manager=FIELD_MANAGER)
        if self.metrics is not None:
            self.metrics.heartbeats += 1
