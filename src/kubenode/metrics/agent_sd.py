"""Prometheus HTTP service discovery of the agents (`/sd/agents` on the operator's metrics port).

Prometheus' `http_sd_configs` polls a URL answering a JSON list of target
groups `[{"targets": ["host:port"], "labels": {...}}]`. Every Machine whose
agent reports `status.agent.metricsEndpoint` (a URL) becomes one group,
labelled `machine`, `node` and `machineset`; the URL's scheme and path go
into Prometheus' reserved `__scheme__` and `__metrics_path__` labels so a
scrape hits exactly the reported URL. Machines without an endpoint (an
older agent, one not started yet) are simply absent — Prometheus cannot
scrape what has no address, and the `up` series of a vanished target goes
stale rather than lying.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from .state_metrics import machineset_of, node_of

Obj = Mapping[str, Any]

#: Metrics every agent exports (DESIGN.md's data-system contract: node-exporter's and node-problem-detector's
#: names) that our rules, dashboards and reports query.
AGENT_METRICS = (
    "node_cpu_seconds_total", "node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes",
    "node_filesystem_size_bytes", "node_filesystem_avail_bytes", "node_disk_read_bytes_total",
    "node_disk_written_bytes_total", "node_network_receive_bytes_total", "node_network_transmit_bytes_total",
    "node_load1", "node_load5", "node_load15", "node_vmstat_oom_kill", "node_boot_time_seconds",
    "problem_counter", "problem_gauge",
)


def agent_target(machine: Obj) -> dict[str, Any] | None:
    """The target group of one Machine, or None when its agent reports no usable metrics endpoint."""
    agent = (machine.get("status") or {}).get("agent") or {}
    url = agent.get("metricsEndpoint") if isinstance(agent, Mapping) else None
    if not isinstance(url, str) or not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.hostname is None:
        return None
    name = str((machine.get("metadata") or {}).get("name", ""))
    labels = {"machine": name, "node": node_of(machine) or str(agent.get("nodeName") or ""),
              "machineset": machineset_of(machine), "__scheme__": parts.scheme,
              "__metrics_path__": parts.path or "/metrics"}
    return {"targets": [parts.netloc], "labels": labels}


def agent_targets(machines: Iterable[Obj]) -> list[dict[str, Any]]:
    """Target groups of every Machine with a metrics endpoint, sorted by machine name (stable answers)."""
    groups = [g for g in (agent_target(m) for m in machines) if g is not None]
    return sorted(groups, key=lambda g: g["labels"]["machine"])


def sd_handler(list_machines: Callable[[], Iterable[Obj]]) -> Callable[[web.Request], Any]:
    """An aiohttp handler answering the http_sd JSON from `list_machines()` (an informer cache)."""
    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(agent_targets(list_machines())), content_type="application/json")

    return handle
