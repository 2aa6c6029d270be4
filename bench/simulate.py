"""Cost of `kubenode simulate` per hollow node, and what the API server makes of their steady load.

Starts the embedded API server (`kubenode apiserver`, its own process), runs
N hollow nodes in this process at the real periods (Lease 10 s, Machine
heartbeat 10 s, Node status 60 s) and, after registration, measures over a
window: this process's CPU (% of a core, and per node), its RSS growth per
node, the writes/s the fleet made, the API server's CPU, and the client-side
latency of Lease renewals (p50/p99: Kubernetes' mutating-call SLO is p99 < 1 s).

    python bench/simulate.py [--sizes 1000,5000] [--window 60]

The machine this runs on is shared and loaded: absolute figures are
pessimistic; compare sizes measured in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import tempfile
import time
from pathlib import Path

import psutil
from benchlib import install_crds_retrying, spawn_apiserver, terminate, wait_file

from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.gctune import tune_gc
from kubenode.simulator.hollow import Simulator, SimulatorSettings
from kubenode.simulator.profile import FleetShape


async def one_size(n: int, window: float, work: Path) -> dict[str, float]:
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
            sim = Simulator(client, SimulatorSettings(nodes=n, shape=FleetShape(seed=1), seed=1))
            t = time.monotonic()
            await sim.start()
            registered = time.monotonic() - t
            print(f"  {n} nodes registered in {registered:.1f}s", flush=True)
            await asyncio.sleep(15)  # let the spread-out duties settle into their periods
            writes0 = sum(sim.stats.writes.values())
            cpu0, scpu0 = sum(me.cpu_times()[:2]), sum(srv.cpu_times()[:2])
            sim.stats.lease_latencies.clear()
            late0 = sim.stats.late
            t0 = time.monotonic()
            await asyncio.sleep(window)
            elapsed = time.monotonic() - t0
            cpu, scpu = sum(me.cpu_times()[:2]) - cpu0, sum(srv.cpu_times()[:2]) - scpu0
            writes = sum(sim.stats.writes.values()) - writes0
            rss = me.memory_info().rss
            out = {"nodes": n, "register_s": registered, "cpu_pct": 100 * cpu / elapsed,
                   "cpu_ms_per_node_s": 1000 * cpu / elapsed / n, "rss_mib": rss / 2**20,
                   "rss_kib_per_node": (rss - rss0) / 1024 / n, "writes_per_s": writes / elapsed,
                   "server_cpu_pct": 100 * scpu / elapsed, "lease_p50_ms": 1000 * sim.stats.lease_percentile(50),
                   "lease_p99_ms": 1000 * sim.stats.lease_percentile(99), "late": sim.stats.late - late0,
                   "errors": sum(sim.stats.errors.values())}
            await sim.stop()
            return out
    finally:
        terminate(server, 30)


async def main(sizes: list[int], window: float) -> None:
    with tempfile.TemporaryDirectory(prefix="kubenode-bench-simulate-") as tmp:
        for n in sizes:
            print(f"{n} hollow nodes, Lease 10 s, heartbeat 10 s, status 60 s; {window:.0f} s window:", flush=True)
            r = await one_size(n, window, Path(tmp))
            print(f"  simulator CPU    {r['cpu_pct']:.1f} % of a core = {r['cpu_ms_per_node_s']:.3f} ms/s per node")
            print(f"  simulator RSS    {r['rss_mib']:.0f} MiB, +{r['rss_kib_per_node']:.1f} KiB per node")
            print(f"  writes           {r['writes_per_s']:.0f}/s (expected {n * (0.1 + 0.1 + 1 / 60):.0f}/s)")
            print(f"  API server CPU   {r['server_cpu_pct']:.0f} % of a core")
            print(f"  Lease renewal    p50 {r['lease_p50_ms']:.0f} ms, p99 {r['lease_p99_ms']:.0f} ms "
                  f"(SLO p99 < 1000 ms); late duties {int(r['late'])}, errors {int(r['errors'])}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--window", type=float, default=60.0)
    args = parser.parse_args()
    tune_gc()
    asyncio.run(main([int(x) for x in args.sizes.split(",")], args.window))
