"""NPD's own configs run by the agent's detectors against the embedded API server (journald, kmsg, metrics).

The journald monitor follows a real journal directory with Debian's
`journalctl`; the entries are written into it with Debian's
`systemd-journal-remote` (.ci/run installs it), as a journal would hold them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubenode.agent.detectors import DetectorService, DetectorSettings
from kubenode.agent.telemetry import AgentMetrics, render
from kubenode.apiserver.server import RunningServer
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import EVENTS, NODES

from .polling import eventually

Obj = dict[str, Any]
NPD = Path(__file__).parent.parent / "fixtures" / "npd" / "config"
BOOT = uuid.uuid4().hex  # one boot: journalctl --follow keeps to the boot its journal files share
JOURNAL_REMOTE = next((p for p in ("/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote")
                       if Path(p).exists()), None)


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[KubeClient]:
    c = KubeClient(load_config(server.kubeconfig))
    try:
        yield c
    finally:
        await c.close()


@contextlib.asynccontextmanager
async def running(ext: DetectorService) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(ext.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def _journal_write(directory: Path, identifier: str, message: str) -> None:
    """Append one entry, as journald would store it, to a new journal file in `directory`."""
    assert JOURNAL_REMOTE is not None, "systemd-journal-remote is required (Debian: apt-get install " \
                                       "systemd-journal-remote; .ci/run installs it)"
    export = (f"__REALTIME_TIMESTAMP={int(time.time() * 1e6)}\n_BOOT_ID={BOOT}\n"
              f"SYSLOG_IDENTIFIER={identifier}\nMESSAGE={message}\n\n")
    out = directory / f"remote-{uuid.uuid4().hex[:8]}.journal"
    subprocess.run([JOURNAL_REMOTE, f"--output={out}", "-"], input=export.encode(), check=True,
                   capture_output=True, timeout=30)


async def _events(client: KubeClient, reason: str) -> list[Obj]:
    items, _ = await client.list(EVENTS, "default")
    return [e for e in items if e["reason"] == reason and e["involvedObject"]["name"] == "m1"]


async def test_npd_configs_unchanged_journald_and_kmsg(client: KubeClient, tmp_path: Path) -> None:
    assert shutil.which("journalctl"), "journalctl (Debian's systemd package) is required"
    root = tmp_path / "m1"
    (root / "dev").mkdir(parents=True)
    (root / "run").mkdir()
    (root / "run" / "boot_id").write_text(str(uuid.uuid4()))
    (root / "dev" / "kmsg").write_text("")
    journal = root / "var" / "log" / "journal"
    journal.mkdir(parents=True)
    _journal_write(journal, "other", "not for us")  # the directory holds a journal before the agent starts
    configs = root / "etc" / "kubenode" / "detectors"
    configs.mkdir(parents=True)
    shutil.copy(NPD / "docker-monitor.json", configs)  # NPD's file, unchanged (journald, dockerd)
    stats_flag = tmp_path / "system-stats-monitor.json"
    shutil.copy(NPD / "system-stats-monitor.json", stats_flag)
    await client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "m1"}})
    metrics = AgentMetrics(machine="m1", node="m1", version="t", mode="local")
    settings = DetectorSettings(node_name="m1", root=root, poll_seconds=0.05, metrics=metrics,
                                system_stats_monitors=(str(stats_flag),))
    service = DetectorService(client, settings)
    async with running(service):
        async def corrupt() -> Obj | None:
            node = await client.get(NODES, "m1")
            conds = {c["type"]: c for c in (node.get("status") or {}).get("conditions") or []}
            return conds.get("CorruptDockerOverlay2")

        assert (await eventually(corrupt, what="docker-monitor's healthy default"))["status"] == "False"
        assert service.config_errors == []
        _journal_write(journal, "dockerd", "OCI runtime start failed: container process is already dead: unknown")
        await eventually(lambda: _events(client, "DockerContainerStartupFailure"), what="the journald Event")
        with (root / "dev" / "kmsg").open("a") as f:
            f.write("divide error: 0000 [#1] SMP \n")  # NPD's own sample: note the trailing space
        await eventually(lambda: _events(client, "KernelOops"), what="the KernelOops Event")

        async def counted() -> bool:
            text = render(metrics.collect())
            return ('problem_counter{reason="KernelOops"} 1' in text
                    and 'problem_counter{reason="DockerContainerStartupFailure"} 1' in text)

        await eventually(counted, what="problem_counter")
        text = render(metrics.collect())
        assert 'problem_gauge{type="KernelDeadlock",reason="TaskHung"} 0' in text
        assert 'problem_counter{reason="CorruptDockerImage"} 0' in text  # pre-initialised
        assert "# TYPE cpu_load_1m gauge" in text and 'memory_bytes_used{state="used"}' in text  # system-stats
    state = json.loads((root / "var" / "lib" / "kubenode" / "detectors" / "state.json").read_text())
    assert state["cursors"].get("journald:docker-monitor")  # an agent restart resumes after this entry


async def test_journald_monitor_without_its_journal_says_so(client: KubeClient, tmp_path: Path) -> None:
    root = tmp_path / "m1"
    (root / "run").mkdir(parents=True)
    (root / "run" / "boot_id").write_text(str(uuid.uuid4()))
    configs = root / "etc" / "kubenode" / "detectors"
    configs.mkdir(parents=True)
    shutil.copy(NPD / "systemd-monitor.json", configs)  # logPath /var/log/journal: absent on this machine
    await client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "m1"}})
    async with running(DetectorService(client, DetectorSettings(node_name="m1", root=root, poll_seconds=0.05))):
        events = await eventually(lambda: _events(client, "DetectorConfigInvalid"), what="a Warning Event")
        assert "systemd-monitor: log path /var/log/journal does not exist" in events[0]["message"]
