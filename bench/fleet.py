"""Fleet benchmark: how fast `kubenode up` brings N local machines to Running, and what the operator costs at rest.

    python bench/fleet.py [--machines 20] [--rest-seconds 30]

Two measurements, each with real processes:
1. `kubenode up --machines N`: seconds from starting the command until all N
   Machines are Running with Ready Nodes (polled through the API).
2. The operator alone (`kubenode operator`, local provider) against a separate
   `kubenode apiserver`: the same time to Running, then the operator's RSS and
   CPU use over a rest period with N machines and their agents heartbeating.
Uses only the project, kubectl-free HTTP polling, and psutil.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import ssl
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import yaml
from benchlib import install_crds_retrying, kubenode, spawn, spawn_apiserver, stop, wait_file

from kubenode.apiserver.server import free_port
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.controlplane.up import install_control_plane


class Api:
    def __init__(self, data: Path) -> None:
        cfg = yaml.safe_load((data / "kubeconfig").read_text())
        self.server = cfg["clusters"][0]["cluster"]["server"]
        self.token = cfg["users"][0]["user"]["token"]
        self.ctx = ssl.create_default_context(cafile=str(data / "pki" / "ca.crt"))

    def call(self, method: str, path: str, body: Any = None) -> Any:
        req = urllib.request.Request(self.server + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
            return json.loads(r.read())

    def running(self) -> int:
        items = self.call("GET", "/apis/kubenode.io/v1alpha1/machines")["items"]
        return sum(1 for m in items if (m.get("status") or {}).get("phase") == "Running"
                   and any(c["type"] == "Ready" and c["status"] == "True" for c in m["status"].get("conditions", [])))


def wait_running(api: Api, n: int, within: float = 300) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        try:
            if api.running() >= n:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{n} machines were not Running within {within}s")


def kill_agents(data: Path) -> None:
    for pid_file in data.glob("machines/*/run/agent.pid"):
        try:
            os.killpg(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def bench_up(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="kubenode-fleet-") as tmp:
        data = Path(tmp)
        t0 = time.monotonic()
        proc = spawn(kubenode("up", "--data-dir", tmp, "--port", str(free_port()), "--machines", str(n)), None)
        try:
            asyncio.run(wait_file(data / "kubeconfig", proc))
            api = Api(data)
            wait_running(api, n)
            print(f"kubenode up --machines {n}: all {n} Running with Ready nodes after "
                  f"{time.monotonic() - t0:.1f}s (from the command's start)")
        finally:
            stop(proc)
            kill_agents(data)


async def install(kubeconfig: Path) -> None:
    """What `kubenode up` installs before its operators start (the agents' bootstrap tokens may ask for a client
    certificate only once the RBAC is in)."""
    async with KubeClient(load_config(kubeconfig)) as client:
        await install_crds_retrying(client)
        await install_control_plane(client)


def bench_operator(n: int, rest: float) -> None:
    with tempfile.TemporaryDirectory(prefix="kubenode-fleet-") as tmp:
        data = Path(tmp)
        server = spawn_apiserver(data, None)
        op = None
        try:
            asyncio.run(wait_file(data / "kubeconfig", server))
            api = Api(data)
            asyncio.run(install(data / "kubeconfig"))
            api.call("POST", "/apis/kubenode.io/v1alpha1/infraproviders",
                     {"apiVersion": "kubenode.io/v1alpha1", "kind": "InfraProvider", "metadata": {"name": "local"},
                      "spec": {"type": "local"}})
            op = spawn(kubenode("operator", "--kubeconfig", str(data / "kubeconfig"), "--data-dir", tmp,
                                "--health-port", str(free_port())), None)
            time.sleep(1.0)  # let it elect itself and sync its caches before the work arrives
            t0 = time.monotonic()
            api.call("POST", "/apis/kubenode.io/v1alpha1/machinesets", {
                "apiVersion": "kubenode.io/v1alpha1", "kind": "MachineSet", "metadata": {"name": "pool"},
                "spec": {"replicas": n, "selector": {"matchLabels": {"pool": "a"}},
                         "template": {"metadata": {"labels": {"pool": "a"}},
                                      "spec": {"providerRef": {"name": "local"}}}}})
            wait_running(api, n)
            print(f"operator alone: MachineSet of {n} → all Running with Ready nodes in {time.monotonic() - t0:.1f}s")
            p = psutil.Process(op.pid)
            time.sleep(5)  # let the burst settle
            c0 = p.cpu_times()
            time.sleep(rest)
            c1 = p.cpu_times()
            cpu = (c1.user + c1.system) - (c0.user + c0.system)
            sp = psutil.Process(server.pid)
            print(f"operator at rest with {n} machines: RSS {p.memory_info().rss / 2**20:.0f} MiB, "
                  f"CPU {cpu / rest * 100:.2f}% of one core over {rest:.0f}s "
                  f"(API server RSS {sp.memory_info().rss / 2**20:.0f} MiB)")
        finally:
            if op is not None:
                stop(op)
            kill_agents(data)
            stop(server)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--machines", type=int, default=20)
    ap.add_argument("--rest-seconds", type=float, default=30.0)
    args = ap.parse_args()
    print(f"cores {os.cpu_count()}")
    bench_up(args.machines)
    bench_operator(args.machines, args.rest_seconds)


if __name__ == "__main__":
    main()
