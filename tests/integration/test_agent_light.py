"""A real `kubenode agent` process stays light: with detectors, installer, executor and metrics running it has not
imported aiohttp, typer (click, rich, pydantic) or prometheus_client (issue 15, a light agent; the figures are
bench/agent.py's). The API server is the embedded one, in-process; the agent is a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import urllib.request
import uuid
from pathlib import Path

from kubenode.apiserver.server import RunningServer
from kubenode.client import NODES, KubeClient, load_config
from kubenode.client.kinds import MACHINES
from kubenode.controlplane.up import install_crds

from .polling import eventually

MACHINE = "light-1"
HEAVY = ("aiohttp", "typer", "click", "rich", "pydantic", "prometheus_client", "multidict", "yarl")

# Runs the agent's real entry point and writes the names of every module it imported when it exits.
WRAPPER = """
import atexit, runpy, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
sys.argv[0] = "kubenode"
runpy.run_module("kubenode.cli.main", run_name="__main__")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


async def test_a_running_agent_imports_no_aiohttp_typer_or_prometheus_client(server: RunningServer,
                                                                             tmp_path: Path) -> None:
    root = tmp_path / "machines" / MACHINE
    (root / "dev").mkdir(parents=True)
    (root / "run").mkdir()
    (root / "run" / "boot_id").write_text(str(uuid.uuid4()))
    (root / "dev" / "kmsg").write_text("")
    async with KubeClient(load_config(server.kubeconfig)) as admin:
        await install_crds(admin)
        await admin.create(MACHINES, {"apiVersion": "kubenode.io/v1alpha1", "kind": "Machine",
                                      "metadata": {"name": MACHINE}, "spec": {"providerRef": {"name": "local"}}})
        modules = tmp_path / "modules.txt"
        port = free_port()
        log = (tmp_path / "agent.log").open("wb")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WRAPPER, str(modules), "agent", "--machine", MACHINE,
            "--kubeconfig", str(server.kubeconfig), "--root", str(root), "--register-node",
            "--metrics-port", str(port), stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            async def registered() -> bool:
                try:
                    node = await admin.get(NODES, MACHINE)
                except Exception:
                    return False
                conditions = {c["type"]: c["status"] for c in (node.get("status") or {}).get("conditions") or []}
                return conditions.get("KernelDeadlock") == "False"

            await eventually(registered, 60, "the agent's Node with its detector conditions")

            async def served() -> bool:
                try:
                    text = await asyncio.to_thread(scrape, f"http://127.0.0.1:{port}/metrics")
                except OSError:
                    return False
                return "problem_gauge" in text and "process_resident_memory_bytes" in text

            await eventually(served, 30, "the agent's /metrics")
            machine = await admin.get(MACHINES, MACHINE)
            assert (machine.get("status") or {}).get("agent", {}).get("metricsEndpoint", "").endswith("/metrics")
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 30)
            log.close()
    assert code == 0, (tmp_path / "agent.log").read_text()[-3000:]
    loaded = modules.read_text().split()
    assert "kubenode.agent.extensions" in loaded and "h11" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == [], heavy
