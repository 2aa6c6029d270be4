"""End to end: `kubenode agent` with node-problem-detector's own flags and configs — a real agent process
against a real `kubenode apiserver`, the real kubectl."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubenode.apiserver.server import free_port

from .conftest import Cluster
from .fleet import Process, wait_for

pytestmark = pytest.mark.e2e
NPD = Path(__file__).parent.parent / "fixtures" / "npd" / "config"


def _metrics(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(resp.read().decode())
    except OSError:
        return ""


@pytest.fixture
def agent(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[Path, str, Cluster]]:
    crds = subprocess.run([sys.executable, "-m", "kubenode.cli.main", "crds"], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    cluster.kubectl("apply", "-f", "-", stdin=crds)
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "kubenode.io/v1alpha1", "kind": "Machine", "metadata": {"name": "npd-1"},
        "spec": {"providerRef": {"name": "local"}}}))
    root = tmp_path / "npd-1"
    (root / "dev").mkdir(parents=True)
    (root / "run").mkdir()
    (root / "run" / "boot_id").write_text(str(uuid.uuid4()))
    (root / "dev" / "kmsg").write_text("")
    configs = tmp_path / "npd-config"
    configs.mkdir()
    for name in ("kernel-monitor.json", "systemd-monitor.json", "system-stats-monitor.json",
                 "custom-plugin-monitor.json"):
        shutil.copy(NPD / name, configs)
    port = free_port()
    proc = Process([sys.executable, "-m", "kubenode.cli.main", "agent", "--machine", "npd-1",
                    "--kubeconfig", str(cluster.kubeconfig), "--root", str(root), "--register-node",
                    "--metrics-port", str(port),
                    "--config.system-log-monitor", f"{configs}/kernel-monitor.json,{configs}/systemd-monitor.json",
                    "--config.custom-plugin-monitor", f"{configs}/custom-plugin-monitor.json",
                    "--config.system-stats-monitor", f"{configs}/system-stats-monitor.json"],
                   tmp_path / "agent.log")
    try:
        yield root, f"http://127.0.0.1:{port}/metrics", cluster
    finally:
        proc.stop()


def test_npd_flags_and_configs_unchanged(agent: tuple[Path, str, Cluster]) -> None:
    root, url, cluster = agent
    text = wait_for(lambda: (t := _metrics(url)) and "problem_counter" in t and t, 60, "the agent's /metrics")
    # NPD's kernel-monitor.json (source kernel-monitor) replaced the built-in one, on purpose
    assert 'problem_gauge{type="KernelDeadlock",reason="DockerHung"} 0' in text
    assert 'problem_counter{reason="CperHardwareErrorCorrected"} 0' in text
    assert 'problem_counter{reason="KubeletStart"} 0' in text  # the journald monitor is loaded
    assert "# TYPE cpu_load_1m gauge" in text and "# TYPE host_uptime gauge" in text  # system-stats
    assert "kubenode_agent_detector_config_errors 0" in text
    with (root / "dev" / "kmsg").open("a") as f:
        f.write("INFO: task docker:20744 blocked for more than 120 seconds.\n")
    wait_for(lambda: 'problem_gauge{type="KernelDeadlock",reason="DockerHung"} 1' in _metrics(url), 60,
             "NPD's DockerHung rule")

    def condition() -> str:
        node = json.loads(cluster.kubectl("get", "node", "npd-1", "-o", "json").stdout)
        return next((c["reason"] for c in node["status"].get("conditions", []) if c["type"] == "KernelDeadlock"
                     and c["status"] == "True"), "")

    assert wait_for(condition, 60, "KernelDeadlock=True on the Node") == "DockerHung"
