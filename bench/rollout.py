"""Benchmark of a MachineComponentSet rollout across 1,000 and 5,000 simulated machines.

Three processes, as in production: the embedded API server (`kubenode
apiserver`), the operator (the MachineComponentSet controllers on a Manager,
nothing else, so that every write we count is the rollout's), and this
process, which creates the Machines directly (status Running, no real agent)
and simulates their agents: one watch on all MachineComponents, and for each
component whose spec changed the status write a real agent makes when the
install is done — Running/healthy at the new revision. The install takes
zero time, and so does the real agent's write pattern for a quick install:
one final status, no Installing report (that comes only for installs still
running after 2 s, one more write per machine) and no Event (agents write
Events for failures only). One shared watch instead of one per machine keeps
the simulator light; the writes per machine are the agent's.

Per fleet size it prints the rollout time (template change → Completed),
API writes per machine (the server's global resourceVersion before and after:
every write, Events and status updates included; target <= 3), the operator's
CPU seconds and peak RSS and the API server's CPU seconds during the rollout, and finally the time ratio
between the two sizes next to the size ratio (must be no worse than linear).

Each size runs `--repeat` rollouts in a row (1.1.0, 1.2.0, ...: each a new
revision) and prints the medians, so one noisy run does not decide.

    python bench/rollout.py [--sizes 1000,5000] [--batches 1,5,10,50,100] [--repeat 3]   # batches may be 10%
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib
import psutil
from benchlib import (
    PeakRss,
    bounded,
    component_set,
    growth,
    install_crds_retrying,
    spawn,
    spawn_apiserver,
    terminate,
    wait_file,
    wait_phase,
)

from kubenode.api.constants import API_VERSION, FINALIZER_MACHINE_COMPONENT
from kubenode.client.client import KubeClient
from kubenode.componentset.resources import MACHINE_COMPONENT_SETS, MACHINE_COMPONENTS, MACHINES
from kubenode.gctune import tune_gc
from kubenode.runtime.informer import Informer

Obj = dict[str, Any]
QPS = 5000.0


def fast_client(kubeconfig: Path) -> KubeClient:
    return benchlib.fast_client(kubeconfig, QPS)


# --------------------------------------------------------------------------- operator process


async def run_operator(kubeconfig: Path) -> None:
    """The operator side: only the MachineComponentSet controllers, until SIGTERM."""
    from kubenode.componentset.wiring import add_componentset_controllers
    from kubenode.runtime.manager import Manager

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with fast_client(kubeconfig) as client:
        manager = Manager(client)
        add_componentset_controllers(manager, client, workers=2)
        await manager.start()
        print("operator ready", flush=True)
        await stop.wait()
        await manager.stop()


# --------------------------------------------------------------------------- simulated agents


class AgentSimulator:
    """Every machine's agent, reduced to its API contract, sharing one watch."""

    def __init__(self, client: KubeClient, workers: int = 64) -> None:
        self.client = client
        self.informer = Informer(client, MACHINE_COMPONENTS, page_size=5000)
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.pending: set[str] = set()
        self.workers = workers
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        def changed(old: Obj | None, new: Obj | None) -> None:
            if new is not None and new["metadata"]["name"] not in self.pending:
                self.pending.add(new["metadata"]["name"])
                self.queue.put_nowait(new["metadata"]["name"])

        self.informer.on_change(changed)
        self.informer.start()
        self.tasks = [asyncio.create_task(self._worker()) for _ in range(self.workers)]

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.informer.stop()

    async def _worker(self) -> None:
        while True:
            name = await self.queue.get()
            self.pending.discard(name)
            mc = self.informer.cache.get("", name)
            if mc is not None:
                await self._handle(mc)

    async def _handle(self, mc: Obj) -> None:
        meta, spec, st = mc["metadata"], mc["spec"], mc.get("status") or {}
        if meta.get("deletionTimestamp"):
            return
        if FINALIZER_MACHINE_COMPONENT not in (meta.get("finalizers") or []):
            await self.client.patch(MACHINE_COMPONENTS, meta["name"], {"metadata": {
                "finalizers": [*(meta.get("finalizers") or []), FINALIZER_MACHINE_COMPONENT]}})
            return
        gen = meta["generation"]
        if st.get("observedGeneration") == gen:
            return
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        await self.client.patch_status(MACHINE_COMPONENTS, meta["name"], {"status": {
            "phase": "Running", "healthy": True, "installedVersion": spec["version"],
            "installedRevision": spec["revision"], "observedGeneration": gen,
            "conditions": [{"type": "Healthy", "status": "True", "reason": "HealthCheckPassed", "message": "",
                            "lastTransitionTime": now}]}})


# --------------------------------------------------------------------------- one size


async def server_rv(client: KubeClient) -> int:
    _, rv = await client.list(MACHINE_COMPONENT_SETS, limit=1)
    return int(rv)


async def one_rollout(client: KubeClient, proc: psutil.Process, server_proc: psutil.Process, n: int,
                      version: str) -> dict[str, float]:
    """Roll the set to `version` and measure it."""
    me = psutil.Process()
    cpu0 = sum(proc.cpu_times()[:2])
    server_cpu0 = sum(server_proc.cpu_times()[:2])
    sim_cpu0 = sum(me.cpu_times()[:2])
    rv0 = await server_rv(client)
    with PeakRss(proc) as rss:
        t0 = time.monotonic()
        await client.patch(MACHINE_COMPONENT_SETS, "demo", {"spec": {"template": {"version": version}}})
        # observedGeneration == generation in wait_phase: the old Completed status does not count
        done = await wait_phase(client, "demo", "Completed", None, 1800)
        elapsed = time.monotonic() - t0
        cpu = sum(proc.cpu_times()[:2]) - cpu0
        server_cpu = sum(server_proc.cpu_times()[:2]) - server_cpu0
        sim_cpu = sum(me.cpu_times()[:2]) - sim_cpu0
    rv1 = await server_rv(client)
    st = done["status"]
    assert st["ready"] == n and st["updated"] == n, st
    return {"machines": n, "seconds": elapsed, "writes": rv1 - rv0, "writes_per_machine": (rv1 - rv0) / n,
            "operator_cpu": cpu, "server_cpu": server_cpu, "agents_cpu": sim_cpu,
            "operator_peak_rss_mb": rss.peak / 2**20,
            "batches": float(st["totalBatches"])}


async def run_size(n: int, batches: list[int | str], work: Path, repeat: int) -> dict[str, float]:
    data = work / f"n{n}"
    server = spawn_apiserver(data, work / f"apiserver-{n}.log")
    operator: subprocess.Popen[bytes] | None = None
    try:
        kubeconfig = data / "kubeconfig"
        await wait_file(kubeconfig, server)
        async with fast_client(kubeconfig) as client:
            await install_crds_retrying(client)
            await client.create(MACHINES, {"apiVersion": API_VERSION, "kind": "Machine",  # warm the CRD
                                           "metadata": {"name": "warmup"}, "spec": {"providerRef": {"name": "x"}}})
            await client.delete(MACHINES, "warmup")
            t = time.monotonic()

            async def machine(i: int) -> None:
                name = f"m{i:05d}"
                await client.create(MACHINES, {"apiVersion": API_VERSION, "kind": "Machine",
                                               "metadata": {"name": name, "labels": {"pool": "bench"}},
                                               "spec": {"providerRef": {"name": "bench"}}})
                await client.patch_status(MACHINES, name, {"status": {"phase": "Running"}})

            await bounded([machine(i) for i in range(n)])
            print(f"  {n} machines created in {time.monotonic() - t:.1f}s", flush=True)
            sim = AgentSimulator(client)
            sim.start()
            try:
                operator = spawn([sys.executable, __file__, "--operator", str(kubeconfig)], work / f"operator-{n}.log")
                await client.create(MACHINE_COMPONENT_SETS, component_set({"pool": "bench"}, batches))
                t = time.monotonic()
                await wait_phase(client, "demo", "Completed", None, 600)
                print(f"  initial install of 1.0.0 on {n} machines: {time.monotonic() - t:.1f}s", flush=True)

                proc = psutil.Process(operator.pid)
                server_proc = psutil.Process(server.pid)
                runs = []
                for r in range(repeat):
                    runs.append(await one_rollout(client, proc, server_proc, n, f"1.{r + 1}.0"))
                    print(f"  rollout {r + 1}/{repeat}: {runs[-1]['seconds']:.1f}s", flush=True)
                out = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
                out["operator_peak_rss_mb"] = max(x["operator_peak_rss_mb"] for x in runs)
                return out
            finally:
                await sim.stop()
    finally:
        if operator is not None:
            terminate(operator)
        terminate(server)


async def main(sizes: list[int], batches: list[int | str], repeat: int) -> None:
    results = []
    with tempfile.TemporaryDirectory(prefix="kubenode-bench-rollout-") as tmp:
        for n in sizes:
            print(f"{repeat} rollout(s) 1.0.0 -> 1.1.0 -> ... across {n} machines, batches {batches} (last repeats), "
                  "no soak; medians:", flush=True)
            r = await run_size(n, batches, Path(tmp), repeat)
            results.append(r)
            print(f"  total time        {r['seconds']:.1f} s ({int(r['batches'])} batches)")
            print(f"  API writes        {int(r['writes'])} = {r['writes_per_machine']:.2f} per machine (target <= 3)")
            print(f"  operator CPU      {r['operator_cpu']:.1f} s")
            print(f"  API server CPU    {r['server_cpu']:.1f} s")
            print(f"  simulated agents  {r['agents_cpu']:.1f} s CPU (this process)")
            print(f"  operator peak RSS {r['operator_peak_rss_mb']:.0f} MiB", flush=True)
    for a, b in itertools.pairwise(results):
        time_ratio, size_ratio, verdict = growth(a, b, "seconds", 1.05)
        print(f"{int(b['machines'])} vs {int(a['machines'])} machines: time x{time_ratio:.2f} for x{size_ratio:g} "
              f"machines ({verdict}); operator CPU x{b['operator_cpu'] / max(a['operator_cpu'], 1e-9):.2f}, "
              f"all CPU x{all_cpu(b) / max(all_cpu(a), 1e-9):.2f}; "
              f"writes/machine {a['writes_per_machine']:.2f} -> {b['writes_per_machine']:.2f}")


def all_cpu(r: dict[str, float]) -> float:
    return r["operator_cpu"] + r["server_cpu"] + r["agents_cpu"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--batches", default="1,5,10,50,100")
    parser.add_argument("--repeat", type=int, default=3, help="rollouts per size (to new versions); medians")
    parser.add_argument("--operator", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    tune_gc()  # as `kubenode operator` and `kubenode agent` do (the simulator stands in for the agents)
    if args.operator is not None:
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        asyncio.run(run_operator(args.operator))
    else:
        sizes = [int(x) for x in args.sizes.split(",")]
        asyncio.run(main(sizes, [x if x.endswith("%") else int(x) for x in args.batches.split(",")], args.repeat))
