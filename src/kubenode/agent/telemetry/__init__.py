"""The agent's telemetry: `/metrics` (node-exporter and NPD names, the agent's own) and `/logs`.

`build_telemetry` is what `agent/extensions.py` calls; the parts are
exported for tests and the bench script.
"""

from __future__ import annotations

from pathlib import Path

from kubenode.client.config import ClientConfig

from .access import LogAccess
from .agent_metrics import AgentMetrics
from .exposition import Family, format_value, render
from .logbuffer import LogRing
from .node_collector import NodeCollector
from .server import TelemetryServer

__all__ = ["HOST_METRICS_PORT", "AgentMetrics", "Family", "LogAccess", "LogRing", "NodeCollector",
           "TelemetryServer", "build_telemetry", "format_value", "render"]

#: The agent's metrics port on a host (node-exporter uses 9100, node-problem-detector 20257).
HOST_METRICS_PORT = 9102


def build_telemetry(client_config: ClientConfig, metrics: AgentMetrics, *, node_name: str, host: str, port: int,
                    advertise: str = "", host_root: Path | None = None) -> TelemetryServer:
    """The telemetry server of one agent, its socket already bound."""
    root = host_root or Path("/")
    node = NodeCollector(proc=root / "proc", host_root=root)
    return TelemetryServer(metrics, [node.collect], LogRing(), LogAccess(client_config, node_name),
                           node_name=node_name, host=host, port=port, advertise=advertise)
