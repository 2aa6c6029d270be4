"""Benchmark of the Remedy Operator: 1,000 nodes, a condition flips on 1% of them.

Prints the latency from the condition being written to the RemedyOperationJob
being Approved (created, reviewed by the Defender, verdict recorded) and to
Running (a simulated agent picks it up, as the real agent's executor does),
p50/p99/max, and the operator's CPU seconds during the burst and while idle.

    python bench/remedy.py [--nodes 1000] [--percent 1] [--rounds 3]

Three processes, as in production: the embedded API server (`kubenode
apiserver`), the operator (the real Remedy controllers and the real Defender
with a DefenderPolicy of budgets, maxConcurrent and a storm guard, in a
child process whose CPU time is measured), and this driver, which writes
the Nodes, flips conditions, watches the jobs and plays the agents.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from kubenode.apiserver.server import free_port
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import NODES
from kubenode.controlplane.up import install_crds
from kubenode.remedy.resources import NODE_REMEDIERS, REMEDY_JOBS

Obj = dict[str, Any]
POLICY = {
    "apiVersion": "kubenode.io/v1alpha1", "kind": "DefenderPolicy", "metadata": {"name": "bench"},
    "spec": {"rules": [
        {"name": "budget", "operations": ["Remediation"], "budgets": [{"window": "1m", "limit": 1000}],
         "maxConcurrent": 500},
        # settleSeconds 0: the storm guard's settle window (default 5 s) holds every decision that long on
        # purpose; this bench measures the machinery (condition -> job -> review -> agent), not the window.
        {"name": "storm", "operations": ["Remediation"], "maxUnhealthy": "30%", "settleSeconds": 0},
    ]},
}
REMEDIER = {
    "apiVersion": "kubenode.io/v1alpha1", "kind": "NodeRemedier", "metadata": {"name": "bench"},
    "spec": {"selector": {}, "rules": [{
        "name": "hung", "conditions": [{"type": "KernelDeadlock", "status": "True", "forSeconds": 0}],
        "actions": [{"type": "RestartComponent", "component": "node-problem-detector", "timeoutSeconds": 600}],
        "cooldownSeconds": 600, "maxAttempts": 1}]},
}


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def deadlock(status: str) -> list[Obj]:
    return [{"type": "KernelDeadlock", "status": status, "reason": "TaskHung" if status == "True" else
             "KernelHasNoDeadlock", "message": "bench", "lastTransitionTime": now_rfc3339()},
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "",
             "lastTransitionTime": now_rfc3339()}]


# --------------------------------------------------------------------------- the operator process


def operator_main(kubeconfig: str) -> None:
    """The operator: the real Remedy controllers and the real Defender on one Manager."""
    from kubenode.client.resources import NODES as NODES_RES
    from kubenode.defender.wiring import build_defender
    from kubenode.remedy import RemedySettings, add_remedy_controllers
    from kubenode.runtime.manager import Manager

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with KubeClient(load_config(Path(kubeconfig))) as client:
            manager = Manager(client)
            defender = build_defender(manager, client, manager.informers.informer(NODES_RES), "bench")
            add_remedy_controllers(manager, client, defender, RemedySettings(), "bench")
            await manager.start()
            await stop.wait()
            await manager.stop()

    asyncio.run(run())


# --------------------------------------------------------------------------- the driver


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


async def wait_ready(kubeconfig: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"apiserver exited with {proc.returncode}")
        try:
            async with KubeClient(load_config(kubeconfig)) as c:
                await c.list(NODES, limit=1)
            return
        except Exception:  # not up yet (no kubeconfig, connection refused)
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("apiserver did not come up")


async def bench(args: argparse.Namespace, server: subprocess.Popen[bytes], kubeconfig: Path) -> None:
    operator: multiprocessing.process.BaseProcess | None = None
    try:
        await wait_ready(kubeconfig, server)
        async with KubeClient(load_config(kubeconfig)) as client:
            await install_crds(client)
            names = [f"node-{i:05d}" for i in range(args.nodes)]
            sem = asyncio.Semaphore(50)

            async def make(name: str) -> None:
                async with sem:
                    await client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {
                        "name": name, "labels": {"kubenode.io/machine": name}}})
                    await client.patch(NODES, name, {"status": {"conditions": deadlock("False")}},
                                       subresource="status", patch_type="strategic")

            t0 = time.monotonic()
            await asyncio.gather(*(make(n) for n in names))
            print(f"created {args.nodes} nodes in {time.monotonic() - t0:.1f}s")
            await client.create(_res("defenderpolicies", "DefenderPolicy"), POLICY)
            await client.create(NODE_REMEDIERS, REMEDIER)

            operator = multiprocessing.get_context("spawn").Process(target=operator_main, args=(str(kubeconfig),))
            operator.start()
            op = psutil.Process(operator.pid)
            deadline = time.monotonic() + 60
            while True:
                nr = await client.get(NODE_REMEDIERS, "bench")
                if (nr.get("status") or {}).get("matchedNodes") == args.nodes:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit("operator did not sync")
                await asyncio.sleep(0.2)
            await asyncio.sleep(2)
            cpu0 = sum(op.cpu_times()[:2])
            await asyncio.sleep(5)
            idle_cpu = (sum(op.cpu_times()[:2]) - cpu0) / 5
            print(f"operator idle: {idle_cpu * 1000:.1f} ms CPU per second "
                  f"(RSS {op.memory_info().rss / 2**20:.0f} MiB)")

            approved: list[float] = []
            running: list[float] = []
            bursts: list[float] = []
            rng = random.Random(7)
            remaining = list(names)
            for round_ in range(args.rounds):
                flip = rng.sample(remaining, max(1, args.nodes * args.percent // 100))
                remaining = [n for n in remaining if n not in flip]
                a, r, cpu = await burst(client, flip, op)
                approved += a
                running += r
                bursts.append(cpu)
                print(f"round {round_ + 1}: {len(flip)} nodes, approved p50 {pct(a, 50) * 1000:.0f} ms "
                      f"p99 {pct(a, 99) * 1000:.0f} ms, running p99 {pct(r, 99) * 1000:.0f} ms, "
                      f"operator CPU {cpu:.3f}s")
            print(f"\nRESULT nodes={args.nodes} flipped={len(approved)} ({args.percent}% x {args.rounds} rounds), "
                  "real Defender with a DefenderPolicy (budget, maxConcurrent, storm guard)")
            print(f"  condition -> job Approved: p50 {pct(approved, 50) * 1000:.0f} ms, "
                  f"p99 {pct(approved, 99) * 1000:.0f} ms, max {max(approved) * 1000:.0f} ms (target p99 < 2000 ms)")
            print(f"  condition -> job Running:  p50 {pct(running, 50) * 1000:.0f} ms, "
                  f"p99 {pct(running, 99) * 1000:.0f} ms, max {max(running) * 1000:.0f} ms")
            print(f"  operator CPU per burst: {sum(bursts) / len(bursts):.3f}s (until every job ran); "
                  f"idle {idle_cpu * 1000:.1f} ms/s; peak RSS {op.memory_info().rss / 2**20:.0f} MiB")
    finally:
        if operator is not None and operator.pid:
            os.kill(operator.pid, signal.SIGTERM)
            await asyncio.to_thread(operator.join, 30)


def _res(plural: str, kind: str) -> Any:
    from kubenode.client.resources import Resource

    return Resource("kubenode.io", "v1alpha1", plural, kind, namespaced=False)


async def burst(client: KubeClient, flip: list[str], op: psutil.Process) -> tuple[list[float], list[float], float]:
    """Flip `flip`, play the agents, return (to-Approved, to-Running latencies, operator CPU seconds)."""
    flipped_at: dict[str, float] = {}
    approved: dict[str, float] = {}
    running: dict[str, float] = {}
    _, rv = await client.list(REMEDY_JOBS, limit=1)
    done = asyncio.Event()

    async def watch() -> None:
        async for ev in client.watch(REMEDY_JOBS, resource_version=rv, timeout_seconds=120):
            job = ev.object
            node = (job.get("spec") or {}).get("nodeName")
            phase = (job.get("status") or {}).get("phase")
            if node not in flipped_at:
                continue
            t = time.monotonic()
            if phase == "Approved" and node not in approved:
                approved[node] = t
                # The agent's part: move it to Running (with the resourceVersion it read).
                asyncio.get_running_loop().create_task(client.patch(
                    REMEDY_JOBS, job["metadata"]["name"],
                    {"metadata": {"resourceVersion": job["metadata"]["resourceVersion"]},
                     "status": {"phase": "Running", "startTime": now_rfc3339()}}, subresource="status"))
            elif phase == "Running" and node not in running:
                approved.setdefault(node, t)
                running[node] = t
                if len(running) == len(flip):
                    done.set()
                    return

    watcher = asyncio.create_task(watch())
    cpu0 = sum(op.cpu_times()[:2])

    async def one(name: str) -> None:
        flipped_at[name] = time.monotonic()
        await client.patch(NODES, name, {"status": {"conditions": deadlock("True")}}, subresource="status",
                           patch_type="strategic")

    await asyncio.gather(*(one(n) for n in flip))
    try:
        await asyncio.wait_for(done.wait(), 60)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    cpu = sum(op.cpu_times()[:2]) - cpu0
    return ([approved[n] - flipped_at[n] for n in flip], [running[n] - flipped_at[n] for n in flip], cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--percent", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubenode-bench-remedy-") as tmp, \
            open(Path(tmp) / "apiserver.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "kubenode.cli.main", "apiserver", "--data-dir",
                                   str(Path(tmp) / "db"), "--port", str(free_port())], stdout=log, stderr=log)
        try:
            asyncio.run(bench(args, server, Path(tmp) / "db" / "kubeconfig"))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)


if __name__ == "__main__":
    main()
