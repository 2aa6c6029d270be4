"""The operator at fleet scale: 10,000 and 50,000 hollow machines on one `kubenode operator`.

Three kinds of process, as in production: the embedded API server
(`kubenode apiserver`), the whole operator (`kubenode operator`: every
controller, the real Defender, its informers and metrics) and this driver,
which runs the hollow fleet of `kubenode simulate` (src/kubenode/simulator:
Node, Lease, Machine and its heartbeat, component installs, remediation
actions; see docs/scale.md) and watches what the operator does. Per size:

- registration of the fleet (5 writes per node) and the operator's initial sync;
- operator RSS at rest and its peak over the run (target < 1 GiB at 50,000), and its CPU at rest
  while the fleet keeps heartbeating;
- informer memory per object (Node, Machine, MachineComponent): what a cache entry costs, measured
  with tracemalloc in this process on the very objects the server lists, stored as the operator's
  informers store them;
- a MachineComponentSet rollout in batches [1, 5, 10, 50, 100, 500, 1000, 1000, ...] (time, time per
  machine, and the ratio between sizes next to the size ratio: linear or not);
- remediation latency: `--faults` percent of the nodes report KernelDeadlock=True (the simulator's fault
  injection), a NodeRemedier asks for a RestartComponent, and the time from the fault to the
  RemedyOperationJob being Approved by the Defender (p50/p99/max; target p99 < 2 s at 10,000).

Honestly: the embedded server on a shared 2-core machine cannot carry 10,000 x (Lease + heartbeat) every
10 s (about 2,000 writes/s); the simulator's periods are therefore stretched with the fleet size
(`--lease-seconds auto`: N/30 s, at least 10 s; Machine heartbeat the same, Node status twice that; the
server's node grace period and the operator's agent grace four periods), which keeps the steady load near
75 writes/s, and the output says which periods were used. What the operator holds per object does not
depend on the periods.

    python bench/scale.py [--sizes 10000,50000] [--faults 1] [--rest 60] [--profile DIR]

`--profile DIR` also writes `py-spy dump` of the operator at rest and a `py-spy record` (speedscope)
of the rollout into DIR, when py-spy is installed. `--tracemalloc FILE` runs the operator under
tracemalloc and writes its live allocations by file and line to FILE.<size>.txt after the rollout
(SIGUSR2, controlplane/memtrim.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil
from benchlib import (
    PeakRss,
    component_set,
    cpu_seconds,
    fast_client,
    growth,
    install_crds_retrying,
    kubenode,
    percentile,
    spawn,
    spawn_apiserver,
    stop,
    terminate,
    wait_file,
    wait_phase,
)

from kubenode.api.constants import API_VERSION
from kubenode.apiserver.server import free_port
from kubenode.client.client import KubeClient
from kubenode.client.resources import NODES, Resource
from kubenode.componentset.controller import component_name
from kubenode.componentset.resources import MACHINE_COMPONENT_SETS, MACHINE_COMPONENTS, MACHINES
from kubenode.gctune import tune_gc
from kubenode.remedy.resources import NODE_REMEDIERS, REMEDY_JOBS
from kubenode.runtime.cache import Cache, compact
from kubenode.simulator.faults import parse_faults
from kubenode.simulator.hollow import Simulator, SimulatorSettings
from kubenode.simulator.profile import FleetShape

Obj = dict[str, Any]
DEFENDER_POLICIES = Resource("kubenode.io", "v1alpha1", "defenderpolicies", "DefenderPolicy", namespaced=False)
POOL = "simulated"
SAMPLE = 1000  # objects whose cache footprint tracemalloc measures
OPERATOR_QPS = 2000


def policy(n: int) -> Obj:
    """Budgets wide enough for the bench's fault wave (the Defender still reviews every job)."""
    return {"apiVersion": API_VERSION, "kind": "DefenderPolicy", "metadata": {"name": "scale"},
            "spec": {"rules": [
                {"name": "budget", "operations": ["Remediation"],
                 "budgets": [{"window": "10m", "limit": max(100, n // 10)}], "maxConcurrent": max(100, n // 10)},
                # settleSeconds 0: the storm guard's settle window holds each decision that long on purpose;
                # measured here is the machinery (condition -> job -> review), not the window.
                {"name": "storm", "operations": ["Remediation"], "maxUnhealthy": "30%", "settleSeconds": 0}]}}


REMEDIER: Obj = {
    "apiVersion": API_VERSION, "kind": "NodeRemedier", "metadata": {"name": "scale"},
    "spec": {"selector": {"matchLabels": {"kubenode.io/simulated": "true"}}, "rules": [{
        "name": "hung", "conditions": [{"type": "KernelDeadlock", "status": "True", "forSeconds": 0}],
        "actions": [{"type": "RestartComponent", "component": "node-problem-detector", "timeoutSeconds": 600}],
        "cooldownSeconds": 600, "maxAttempts": 1}]},
}


def periods(n: int, lease: str) -> tuple[float, float, float]:
    """(Lease, Machine heartbeat, Node status) periods in seconds for `n` hollow nodes."""
    p = max(10.0, n / 30) if lease == "auto" else float(lease)
    return p, p, 2 * p


def mib(b: float) -> str:
    return f"{b / 2**20:.0f} MiB"


# --------------------------------------------------------------------------- informer memory per object


async def cache_bytes_per_object(client: KubeClient, resource: Resource, names: list[str]) -> tuple[float, float]:
    """(bytes as the server sends them, bytes as the informers cache them) per object of `resource`.

    Measured with tracemalloc on the objects `names` (a sample, read with GET: what a Cache retains of each,
    its dicts, lists and strings); the second figure is the operator's: the informers' default transform
    (`kubenode.runtime.cache.compact`: no managedFields, repeated strings shared).
    """
    objs = [await client.get(resource, name) for name in names]
    texts = [orjson.dumps(o) for o in objs]
    del objs
    out = []
    for transform in (None, compact):
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            cache = Cache(transform)
            for text in texts:
                obj = orjson.loads(text)
                cache.upsert(obj if transform is None else transform(obj))
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        out.append(held / max(len(cache), 1))
        del cache
    return out[0], out[1]


# --------------------------------------------------------------------------- the operator


class Operator:
    """`kubenode operator` in its own process, with its health port to know when it has synced."""

    def __init__(self, kubeconfig: Path, log: Path, agent_grace: float, tracemalloc_dump: Path | None = None) -> None:
        self.port = free_port()
        env = None
        if tracemalloc_dump is not None:  # SIGUSR2 writes the operator's live allocations (controlplane/memtrim.py)
            env = {**os.environ, "PYTHONTRACEMALLOC": "1", "KUBENODE_TRACEMALLOC_DUMP": str(tracemalloc_dump)}
        self.proc = spawn(kubenode("operator", "--kubeconfig", str(kubeconfig), "--no-leader-elect",
                                   "--health-port", str(self.port), "--qps", str(OPERATOR_QPS),
                                   "--agent-grace-seconds", str(agent_grace)), log, env=env)
        self.ps = psutil.Process(self.proc.pid)

    async def wait_ready(self, within: float) -> float:
        t0 = time.monotonic()
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the operator exited with {self.proc.returncode}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(f"http://127.0.0.1:{self.port}/readyz") as r:
                        if r.status == 200:
                            return time.monotonic() - t0
                if time.monotonic() - t0 > within:
                    raise TimeoutError(f"the operator was not ready within {within:.0f}s")
                await asyncio.sleep(0.5)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def cpu(self) -> float:
        return cpu_seconds(self.ps)


class MemoryGuard:
    """Stops the run (SIGTERM to the API server, whose failure ends the size) when the machine runs low.

    A 50,000-node fleet holds many GiB in the embedded API server; on a shared machine without swap the
    bench must give up before the kernel's OOM killer picks a victim among other people's processes.
    """

    def __init__(self, server: subprocess.Popen[bytes], min_available_mib: float) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        self.min_available = min_available_mib * 2**20
        self.tripped = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            if psutil.virtual_memory().available < self.min_available and self.server.poll() is None:
                self.tripped = True
                print(f"  MEMORY GUARD: less than {self.min_available / 2**20:.0f} MiB available on the machine; "
                      "stopping the API server to end this size", flush=True)
                self.server.send_signal(signal.SIGTERM)
                if self.task is not None:  # the size's task: its `finally` stops every process
                    self.loop.call_soon_threadsafe(self.task.cancel)
                return

    def __enter__(self) -> MemoryGuard:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def py_spy_exe() -> str | None:
    """py-spy, if installed (on PATH or beside this interpreter)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return exe if Path(exe).exists() else None


def py_spy_dump(pid: int, out: Path) -> None:
    """`py-spy dump` of `pid` into `out` (a missing py-spy only prints a note)."""
    exe = py_spy_exe()
    if exe is None:
        print("  (py-spy is not installed: no profile)")
        return
    with open(out, "wb") as f:
        rc = subprocess.run([exe, "dump", "--pid", str(pid)], stdout=f, stderr=subprocess.STDOUT, timeout=60,
                            check=False).returncode
    print(f"  py-spy dump         -> {out}{'' if rc == 0 else f' (exit code {rc})'}")


def py_spy_record(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """Start `py-spy record` of `pid` (speedscope format) into `out`; stop it with :func:`py_spy_stop`."""
    exe = py_spy_exe()
    if exe is None:
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "speedscope", "-o", str(out),
                             "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def py_spy_stop(recorder: subprocess.Popen[bytes], out: Path) -> None:
    stop(recorder)  # SIGINT: py-spy writes the profile and exits
    print(f"  py-spy record       -> {out}")


# --------------------------------------------------------------------------- remediation latency


async def remediation_wave(client: KubeClient, sim: Simulator, percent: float, within: float) -> dict[str, float]:
    """Fault `percent` % of the nodes (KernelDeadlock=True); latency to each node's job being Approved."""
    _, rv = await client.list(REMEDY_JOBS, limit=1)
    approved: dict[str, float] = {}
    created: dict[str, float] = {}
    faulted: dict[str, float] = {}
    all_approved = asyncio.Event()

    async def watch() -> None:
        async for ev in client.watch(REMEDY_JOBS, resource_version=rv, timeout_seconds=int(within) + 30):
            job = ev.object
            node = (job.get("spec") or {}).get("nodeName")
            phase = (job.get("status") or {}).get("phase")
            if node in faulted and node not in created:
                created[node] = time.monotonic()
            # Approved, or already past it (the hollow agent may run it before this watch sees Approved).
            if node in faulted and node not in approved and phase in ("Approved", "Running", "Succeeded"):
                approved[node] = time.monotonic()
                if len(approved) == len(faulted):
                    all_approved.set()
                    return

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.5)  # the watch is open
    (fault,) = parse_faults(f"KernelDeadlock:{percent:g}%")
    t0 = time.monotonic()
    for name in sim.inject(fault):  # the simulator posts the victims' status at once (its next free worker)
        faulted[name] = t0
    try:
        await asyncio.wait_for(all_approved.wait(), within)
    except TimeoutError:
        pass
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    lat = [approved[n] - faulted[n] for n in approved]
    to_created = [created[n] - faulted[n] for n in approved]
    return {"faulted": len(faulted), "approved": len(approved), "p50": percentile(lat, 50),
            "p99": percentile(lat, 99), "max": max(lat, default=0.0), "created_p99": percentile(to_created, 99)}


# --------------------------------------------------------------------------- one size


async def one_size(n: int, args: argparse.Namespace, work: Path) -> dict[str, float]:
    lease, heartbeat, status = periods(n, args.lease_seconds)
    data = work / f"n{n}"
    server = spawn_apiserver(data, work / f"apiserver-{n}.log", "--node-grace-seconds", str(4 * lease))
    operator: Operator | None = None
    out: dict[str, float] = {"machines": n}
    print(f"{n} hollow machines: Lease {lease:.0f} s, Machine heartbeat {heartbeat:.0f} s, Node status "
          f"{status:.0f} s (expected {n * (1 / lease + 1 / heartbeat + 1 / status):.0f} writes/s; "
          f"a kubelet's Lease is 10 s), node and agent grace {4 * lease:.0f} s; load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    guard = MemoryGuard(server, args.min_available_mib).__enter__()
    server_peak = PeakRss(psutil.Process(server.pid), every=1.0).__enter__()
    try:
        kubeconfig = data / "kubeconfig"
        await wait_file(kubeconfig, server)
        async with fast_client(kubeconfig, connections=256) as client:
            await install_crds_retrying(client)
            await client.create(DEFENDER_POLICIES, policy(n))
            await client.create(NODE_REMEDIERS, REMEDIER)
            settings = SimulatorSettings(nodes=n, shape=FleetShape(pool=POOL, seed=1), seed=1,
                                         lease_seconds=lease, lease_duration=int(4 * lease),
                                         heartbeat_seconds=heartbeat, status_seconds=status)
            sim = Simulator(client, settings)
            t = time.monotonic()
            await sim.start()
            out["register_s"] = time.monotonic() - t
            print(f"  registration        {out['register_s']:.1f} s ({5 * n / out['register_s']:.0f} writes/s)",
                  flush=True)
            try:
                operator = Operator(kubeconfig, work / f"operator-{n}.log", 4 * heartbeat,
                                    args.tracemalloc.with_suffix(f".{n}.txt") if args.tracemalloc else None)
                print(f"  processes           apiserver pid {server.pid}, operator pid {operator.proc.pid}", flush=True)
                with PeakRss(operator.ps, every=0.5) as peak:
                    await measure(client, sim, operator, n, args, work, out, server.pid)
                out["peak_rss"] = max(peak.peak, out["end_rss"])
                print(f"  operator peak RSS   {mib(out['peak_rss'])} over the run (target < 1 GiB at 50,000)")
            finally:
                await sim.stop()
    finally:
        guard.__exit__()
        server_peak.__exit__()
        if operator is not None:
            terminate(operator.proc)
        terminate(server, 30)
    out["server_peak_rss"] = server_peak.peak
    print(f"  API server peak RSS {mib(server_peak.peak)} (its own process; issue 15 item 2)", flush=True)
    return out


async def measure(client: KubeClient, sim: Simulator, operator: Operator, n: int, args: argparse.Namespace,
                  work: Path, out: dict[str, float], server_pid: int) -> None:
    out["sync_s"] = await operator.wait_ready(args.timeout)
    deadline = time.monotonic() + args.timeout
    while ((await client.get(NODE_REMEDIERS, "scale")).get("status") or {}).get("matchedNodes") != n:
        if time.monotonic() > deadline:
            raise TimeoutError("the NodeRemedier never matched every node")
        await asyncio.sleep(0.5)
    print(f"  operator sync       {out['sync_s']:.1f} s to /readyz (every informer listed)", flush=True)
    await asyncio.sleep(args.settle)
    cpu0, t0 = operator.cpu(), time.monotonic()
    if args.profile:
        await asyncio.to_thread(py_spy_dump, operator.proc.pid, args.profile / f"dump-{n}.txt")
    await asyncio.sleep(max(0.0, args.rest - (time.monotonic() - t0)))
    out["rest_cpu_pct"] = 100 * (operator.cpu() - cpu0) / (time.monotonic() - t0)
    out["rest_rss"] = operator.rss()
    sample = [x.name for x in sim.nodes[:SAMPLE]]
    print(f"  operator at rest    RSS {mib(out['rest_rss'])} ({out['rest_rss'] / n / 1024:.1f} KiB per machine), "
          f"CPU {out['rest_cpu_pct']:.1f} % of a core over {args.rest:.0f} s (fleet heartbeating)", flush=True)

    for label, res in (("Node", NODES), ("Machine", MACHINES)):
        raw, per = await cache_bytes_per_object(client, res, sample)
        out[f"bytes_{label}"], out[f"raw_bytes_{label}"] = per, raw
        print(f"  informer memory     {label}: {per / 1024:.1f} KiB per object cached ({raw / 1024:.1f} KiB as "
              f"sent; {len(sample)} objects by tracemalloc)", flush=True)

    # --profile: both processes on the wave's path (the operator's creation and review, the server's writes).
    wave_profiles = [(pid, args.profile / f"remediation-{who}-{n}.speedscope.json")
                     for who, pid in (("operator", operator.proc.pid), ("apiserver", server_pid))] \
        if args.profile else []
    recorders = [(py_spy_record(pid, path), path) for pid, path in wave_profiles]
    wave = await remediation_wave(client, sim, args.faults, args.remedy_timeout)
    for rec, path in recorders:
        if rec is not None:
            await asyncio.to_thread(py_spy_stop, rec, path)
    out.update({f"remedy_{k}": v for k, v in wave.items()})
    print(f"  remediation         {int(wave['approved'])}/{int(wave['faulted'])} faulted nodes "
          f"({args.faults:g} %) Approved: p50 {wave['p50'] * 1000:.0f} ms, p99 {wave['p99'] * 1000:.0f} ms, "
          f"max {wave['max'] * 1000:.0f} ms (condition -> RemedyOperationJob Approved; target p99 < 2000 ms "
          f"at 10,000); to the job's creation p99 {wave['created_p99'] * 1000:.0f} ms", flush=True)

    batches: list[int] = list(args.batches)
    await client.create(MACHINE_COMPONENT_SETS, component_set({"kubenode.io/pool": POOL}, batches))
    t = time.monotonic()
    await wait_phase(client, "demo", "Completed", None, args.timeout, every=0.5)
    out["install_s"] = time.monotonic() - t
    print(f"  initial install     {out['install_s']:.1f} s (1.0.0 on every machine)", flush=True)
    profile = args.profile / f"rollout-{n}.speedscope.json" if args.profile else None
    recorder = py_spy_record(operator.proc.pid, profile) if profile else None
    cpu0, t = operator.cpu(), time.monotonic()
    await client.patch(MACHINE_COMPONENT_SETS, "demo", {"spec": {"template": {"version": "1.1.0"}}})
    done = await wait_phase(client, "demo", "Completed", None, args.timeout, every=0.5)
    out["rollout_s"] = time.monotonic() - t
    out["rollout_cpu"] = operator.cpu() - cpu0
    if recorder is not None and profile is not None:
        await asyncio.to_thread(py_spy_stop, recorder, profile)
    st = done["status"]
    out["batches"] = float(st.get("totalBatches") or 0)
    print(f"  rollout             {out['rollout_s']:.1f} s for 1.0.0 -> 1.1.0 in {int(out['batches'])} batches "
          f"{batches}... = {1000 * out['rollout_s'] / n:.2f} ms per machine; operator CPU {out['rollout_cpu']:.1f} s "
          f"({1000 * out['rollout_cpu'] / n:.2f} ms per machine); updated {st.get('updated')}/{n}", flush=True)
    components = [component_name("demo", name) for name in sample]
    raw, per = await cache_bytes_per_object(client, MACHINE_COMPONENTS, components)
    out["bytes_MachineComponent"], out["raw_bytes_MachineComponent"] = per, raw
    print(f"  informer memory     MachineComponent: {per / 1024:.1f} KiB per object cached ({raw / 1024:.1f} KiB "
          f"as sent; {len(components)} objects by tracemalloc)", flush=True)
    out["end_rss"] = operator.rss()
    print(f"  operator after      RSS {mib(out['end_rss'])} with {n} Nodes, Machines and MachineComponents "
          f"({out['end_rss'] / n / 1024:.1f} KiB per machine)", flush=True)
    # The operator's malloc trimmer (controlplane/memtrim.py) checks its RSS every 10 s: what stays after the burst.
    await asyncio.sleep(args.after_seconds)
    out["settled_rss"] = operator.rss()
    print(f"  operator settled    RSS {mib(out['settled_rss'])} {args.after_seconds:.0f} s after the rollout "
          f"({out['settled_rss'] / n / 1024:.1f} KiB per machine)", flush=True)
    # Three Prometheus scrapes, one after the other (the state metrics stream a segment at a time and keep
    # nothing joined; the peak sampler above sees the scrapes too).
    scrape_s = []
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            t = time.monotonic()
            async with http.get(f"http://127.0.0.1:{operator.port}/metrics") as r:
                size = 0
                async for chunk in r.content.iter_chunked(1 << 20):
                    size += len(chunk)
            scrape_s.append(time.monotonic() - t)
    await asyncio.sleep(2)
    out["scraped_rss"], out["scrape_bytes"], out["scrape_s"] = operator.rss(), size, max(scrape_s)
    print(f"  operator scraped    RSS {mib(out['scraped_rss'])} after three GET /metrics of {size / 2**20:.0f} MiB "
          f"each ({out['scraped_rss'] / n / 1024:.1f} KiB per machine; slowest scrape {max(scrape_s):.2f} s)",
          flush=True)
    if args.tracemalloc:
        dump = args.tracemalloc.with_suffix(f".{n}.txt")
        operator.proc.send_signal(signal.SIGUSR2)
        for _ in range(240):
            await asyncio.sleep(0.5)
            if dump.exists():
                break
        print(f"  tracemalloc         -> {dump} (the operator's live allocations by line)", flush=True)


async def main(args: argparse.Namespace) -> None:
    results = []
    with tempfile.TemporaryDirectory(prefix="kubenode-bench-scale-") as tmp:
        for n in args.sizes:
            results.append(await asyncio.wait_for(one_size(n, args, Path(tmp)), args.timeout * 4))
    print("RESULT", json.dumps(results))
    for a, b in itertools.pairwise(results):
        ratio, size, verdict = growth(a, b, "rollout_s", 1.1)
        print(f"rollout {int(b['machines'])} vs {int(a['machines'])} machines: time x{ratio:.2f} for x{size:g} "
              f"machines ({verdict}); operator CPU x{b['rollout_cpu'] / max(a['rollout_cpu'], 1e-9):.2f}; "
              f"RSS at rest x{b['rest_rss'] / a['rest_rss']:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,50000", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--batches", default="1,5,10,50,100,500,1000",
                        type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--faults", type=float, default=1.0, help="percent of the nodes faulted at once")
    parser.add_argument("--lease-seconds", default="auto", help="Lease period of the hollow nodes (auto: N/30 s)")
    parser.add_argument("--rest", type=float, default=60.0, help="seconds over which CPU at rest is measured")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds after the sync before measuring")
    parser.add_argument("--remedy-timeout", type=float, default=120.0)
    parser.add_argument("--after-seconds", type=float, default=15.0,
                        help="seconds after the rollout before the operator's RSS is sampled again")
    parser.add_argument("--timeout", type=float, default=1800.0, help="bound of each wait (sync, rollout)")
    parser.add_argument("--min-available-mib", type=float, default=3000.0,
                        help="stop a size when the machine has less memory available than this")
    parser.add_argument("--profile", type=Path, help="write py-spy profiles of the operator into this folder")
    parser.add_argument("--tracemalloc", type=Path,
                        help="run the operator under tracemalloc; after the rollout write its live allocations to "
                             "FILE.<size>.txt (slow: for profiling, not for figures)")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    tune_gc()
    asyncio.run(main(args))
