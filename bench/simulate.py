"""Cost of `kubenode simulate` per hollow node, and what the API server makes of their steady load.

Starts the embedded API server (`kubenode apiserver`, its own process), runs
N hollow nodes in this process at the agent's real periods (Lease 10 s, Machine
heartbeat 60 s, full Node status 300 s: a kubelet's Lease and Node status
periods) and, after registration, measures over a window: this process's
CPU (% of a core, and per node), its RSS growth per node, the writes/s the
fleet made, the API server's CPU and how busy its event loop thread was, and
the client-side latency of every periodic write (p50/p99, and p99 by kind:
Kubernetes' mutating-call SLO is p99 < 1 s).

    python bench/simulate.py [--sizes 1000,5000] [--window 60] [--lease-seconds 10]
        [--heartbeat-seconds 60] [--status-seconds 300] [--concurrency 256]

The machine this runs on is shared and loaded: absolute figures are
pessimistic; compare sizes measured in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from benchlib import install_crds_retrying, spawn_apiserver, terminate, wait_file

from kubenode.agent.agent import DEFAULT_HEARTBEAT_SECONDS, DEFAULT_STATUS_SECONDS
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.gctune import tune_gc
from kubenode.simulator.hollow import Simulator, SimulatorSettings
from kubenode.simulator.profile import FleetShape


@dataclasses.dataclass(frozen=True)
class Periods:
    """The hollow fleet's periods (s): the real agent's by default."""

    lease: float = 10.0
    heartbeat: float = DEFAULT_HEARTBEAT_SECONDS
    status: float = DEFAULT_STATUS_SECONDS

    def writes_per_node(self) -> float:
        return 1 / self.lease + 1 / self.heartbeat + 1 / self.status


async def one_size(n: int, window: float, work: Path, periods: Periods, concurrency: int,
                   settle: float) -> dict[str, Any]:
    data = work / f"n{n}"
    server = spawn_apiserver(data, work / f"apiserver-{n}.log")
    try:
        await wait_file(data / "kubeconfig", server)
        config = dataclasses.replace(load_config(data / "kubeconfig"), qps=max(100.0, n / 2.5), burst=max(100, n),
                                     connection_limit=256)
        async with KubeClient(config) as client:
            await install_crds_retrying(client)
            me, srv = psutil.Process(), psutil.Process(server.pid)
            gc.collect()
            rss0 = me.memory_info().rss
            settings = SimulatorSettings(nodes=n, shape=FleetShape(seed=1), seed=1, lease_seconds=periods.lease,
                                         heartbeat_seconds=periods.heartbeat, status_seconds=periods.status,
                                         concurrency=concurrency)
            sim = Simulator(client, settings)
            t = time.monotonic()
            await sim.start()
            registered = time.monotonic() - t
            print(f"  {n} nodes registered in {registered:.1f}s", flush=True)
            await asyncio.sleep(settle)  # let the spread-out duties settle into their periods
            writes0 = sum(sim.stats.writes.values())
            cpu0, scpu0, lcpu0 = sum(me.cpu_times()[:2]), sum(srv.cpu_times()[:2]), main_thread_cpu(srv)
            sim.stats.clear_latencies()
            late0 = sim.stats.late
            t0 = time.monotonic()
            await asyncio.sleep(window)
            elapsed = time.monotonic() - t0
            cpu, scpu = sum(me.cpu_times()[:2]) - cpu0, sum(srv.cpu_times()[:2]) - scpu0
            lcpu = main_thread_cpu(srv) - lcpu0
            writes = sum(sim.stats.writes.values()) - writes0
            rss = me.memory_info().rss
            out = {"nodes": n, "register_s": registered, "cpu_pct": 100 * cpu / elapsed,
                   "cpu_ms_per_node_s": 1000 * cpu / elapsed / n, "rss_mib": rss / 2**20,
                   "rss_kib_per_node": (rss - rss0) / 1024 / n, "writes_per_s": writes / elapsed,
                   "server_cpu_pct": 100 * scpu / elapsed,
                   "server_loop_pct": 100 * lcpu / elapsed, "lease_p50_ms": 1000 * sim.stats.lease_percentile(50),
                   "lease_p99_ms": 1000 * sim.stats.lease_percentile(99),
                   "write_p50_ms": 1000 * sim.stats.percentile(50), "write_p99_ms": 1000 * sim.stats.percentile(99),
                   "heartbeat_p99_ms": 1000 * sim.stats.percentile(99, "heartbeat"),
                   "status_p99_ms": 1000 * sim.stats.percentile(99, "node-status"), "late": sim.stats.late - late0,
                   "errors": sum(sim.stats.errors.values()),
                   "writes_by_kind": dict(sim.stats.writes)}
            await sim.stop()
            return out
    finally:
        terminate(server, 30)


def main_thread_cpu(proc: psutil.Process) -> float:
    """CPU seconds of the process's main thread (the API server's event loop)."""
    for t in proc.threads():
        if t.id == proc.pid:
            return float(t.user_time + t.system_time)
    return 0.0


async def main(sizes: list[int], window: float, periods: Periods, concurrency: int, settle: float,
               as_json: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="kubenode-bench-simulate-") as tmp:
        for n in sizes:
            print(f"{n} hollow nodes, Lease {periods.lease:g} s, heartbeat {periods.heartbeat:g} s, "
                  f"status {periods.status:g} s; {window:.0f} s window:", flush=True)
            r = await one_size(n, window, Path(tmp), periods, concurrency, settle)
            print(f"  simulator CPU    {r['cpu_pct']:.1f} % of a core = {r['cpu_ms_per_node_s']:.3f} ms/s per node")
            print(f"  simulator RSS    {r['rss_mib']:.0f} MiB, +{r['rss_kib_per_node']:.1f} KiB per node")
            print(f"  writes           {r['writes_per_s']:.0f}/s (expected {n * periods.writes_per_node():.0f}/s)")
            print(f"  API server CPU   {r['server_cpu_pct']:.0f} % of a core, its event loop thread "
                  f"{r['server_loop_pct']:.0f} % (the rest of that thread's core is the headroom)")
            print(f"  mutating calls   p50 {r['write_p50_ms']:.0f} ms, p99 {r['write_p99_ms']:.0f} ms "
                  f"(SLO p99 < 1000 ms); by kind p99: Lease {r['lease_p99_ms']:.0f} ms, "
                  f"Machine heartbeat {r['heartbeat_p99_ms']:.0f} ms, Node status {r['status_p99_ms']:.0f} ms")
            print(f"  late duties {int(r['late'])}, errors {int(r['errors'])}", flush=True)
            if as_json:
                print(json.dumps(r), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--lease-seconds", type=float, default=10.0)
    parser.add_argument("--heartbeat-seconds", type=float, default=DEFAULT_HEARTBEAT_SECONDS)
    parser.add_argument("--status-seconds", type=float, default=DEFAULT_STATUS_SECONDS)
    parser.add_argument("--concurrency", type=int, default=256, help="the simulator's worker pool")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds between registration and the window")
    parser.add_argument("--json", action="store_true", help="also print each size's figures as one JSON line")
    args = parser.parse_args()
    tune_gc()
    asyncio.run(main([int(x) for x in args.sizes.split(",")], args.window,
                     Periods(args.lease_seconds, args.heartbeat_seconds, args.status_seconds), args.concurrency,
                     args.settle, args.json))
