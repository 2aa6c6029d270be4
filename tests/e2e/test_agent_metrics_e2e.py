"""End to end: every local agent of `kubenode up` serves /metrics at the URL its Machine reports, and its log
lines only to a caller the API server allows to `get nodes/proxy` — real processes, the real kubectl."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .fleet import Kubectl, Process, kill_agents, start_up, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Process, Kubectl]]:
    base = tmp_path_factory.mktemp("agentmetrics")
    data = base / "data"
    proc, _ = start_up(data, 2, 8.0, base / "up.log")
    try:
        yield data, proc, Kubectl(data / "kubeconfig", base / "kubectl-cache")
    finally:
        proc.stop()
        kill_agents(data)


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _endpoints(k: Kubectl) -> dict[str, str] | None:
    machines: list[dict[str, Any]] = k.json("get", "machines")["items"]
    eps = {m["metadata"]["name"]: ((m.get("status") or {}).get("agent") or {}).get("metricsEndpoint", "")
           for m in machines}
    return eps if len(eps) == 2 and all(eps.values()) else None


def test_every_agent_serves_metrics_at_its_reported_endpoint(fleet: tuple[Path, Process, Kubectl]) -> None:
    data, _, k = fleet
    endpoints: dict[str, str] = wait_for(lambda: _endpoints(k), 90, "metricsEndpoint on both Machines")
    assert len(set(endpoints.values())) == 2  # each agent its own free port
    for machine, url in endpoints.items():
        status, text = _get(url)
        assert status == 200, text
        assert 'kubenode_agent_info{version="' in text and f'machine="{machine}"' in text
        assert 'mode="local"' in text
        for name in ("node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_load1",
                     "node_filesystem_avail_bytes", "node_network_receive_bytes_total", "problem_gauge",
                     "process_resident_memory_bytes"):
            assert f"# TYPE {name} " in text, name
        assert 'problem_gauge{type="KernelDeadlock",reason="KernelHasNoDeadlock"} 0' in text

    # A hung task on one machine: NPD's metrics say so on that agent only.
    machine, url = sorted(endpoints.items())[0]
    with (data / "machines" / machine / "dev" / "kmsg").open("a") as f:
        f.write("INFO: task java:4242 blocked for more than 120 seconds.\n")
    wait_for(lambda: 'problem_gauge{type="KernelDeadlock",reason="TaskHung"} 1' in _get(url)[1], 60,
             "problem_gauge for the hung task")
    # counted twice, as NPD counts it: the temporary TaskHung rule's Event and the permanent rule's condition
    assert 'problem_counter{reason="TaskHung"} 2' in _get(url)[1]
    other = next(u for m, u in endpoints.items() if m != machine)  # the other machine, not the second URL
    assert 'problem_gauge{type="KernelDeadlock",reason="TaskHung"} 0' in _get(other)[1]


def test_agent_logs_need_nodes_proxy(fleet: tuple[Path, Process, Kubectl]) -> None:
    data, _, k = fleet
    endpoints: dict[str, str] = wait_for(lambda: _endpoints(k), 90, "metricsEndpoint on both Machines")
    url = sorted(endpoints.values())[0].replace("/metrics", "/logs")
    admin = yaml.safe_load((data / "kubeconfig").read_text())["users"][0]["user"]["token"]
    assert _get(url)[0] == 401
    assert _get(url, "wrong")[0] == 401
    status, text = _get(url, admin)
    assert status == 200 and "INFO kubenode.agent" in text
