"""Benchmark of the operator's per-object state metrics: scrape time at 10,000 and 50,000 machines.

Feeds realistic Machines (6 conditions, a phase), one MachineComponent per
machine and a Node per machine through the same informer handlers the
operator uses, then prints, per fleet size:

- the time per watch event (render one object's chunks),
- series and bytes of the exposition,
- the time to produce a scrape (every segment joined, as the operator does
  on each scrape: nothing joined is kept between scrapes) and its largest
  buffer (what a scrape holds at a time),
- the time of a whole scrape over HTTP on loopback (the operator's `/metrics`
  handler, aiohttp client reading the body), which is dominated by moving
  the bytes, not by rendering them.

    python bench/state_metrics.py [--sizes 10000,50000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import aiohttp
from aiohttp import web

from kubenode.metrics.state_metrics import (
    StateExposition,
    render_machine,
    render_machinecomponent,
    render_node,
)

CONDITIONS = ("InfrastructureReady", "AgentConnected", "NodeReady", "NodeSynced", "ComponentsReady", "Ready")


def machine(i: int, phase: str = "Running") -> dict[str, Any]:
    return {"metadata": {"name": f"machine-{i:06d}", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "ownerReferences": [{"kind": "MachineSet", "name": f"pool-{i % 20}"}]},
            "spec": {"providerRef": {"name": "local"}},
            "status": {"phase": phase, "providerID": f"local://machine-{i:06d}",
                       "nodeRef": {"name": f"machine-{i:06d}"},
                       "conditions": [{"type": t, "status": "True"} for t in CONDITIONS]}}


def component(i: int) -> dict[str, Any]:
    return {"metadata": {"name": f"node-exporter-machine-{i:06d}"},
            "spec": {"machineName": f"machine-{i:06d}", "component": "node-exporter", "version": "1.1.0",
                     "revision": "abc123"},
            "status": {"phase": "Running", "installedVersion": "1.1.0", "installedRevision": "abc123",
                       "healthy": True, "conditions": [{"type": "Installed", "status": "True"},
                                                       {"type": "Healthy", "status": "True"}]}}


def node(i: int) -> dict[str, Any]:
    return {"metadata": {"name": f"machine-{i:06d}"},
            "status": {"nodeInfo": {"kernelVersion": "6.1.0", "osImage": "Debian 12", "architecture": "amd64",
                                    "bootID": f"boot-{i}"},
                       "conditions": [{"type": t, "status": "False"} for t in
                                      ("KernelDeadlock", "ReadonlyFilesystem", "MemoryPressure", "DiskPressure",
                                       "PIDPressure")] + [{"type": "Ready", "status": "True"}]}}


async def http_scrapes(store: StateExposition, repeat: int) -> tuple[list[float], int]:
    from kubenode.runtime.manager import write_exposition

    async def handle(request: web.Request) -> web.StreamResponse:
        return await write_exposition(request, store.parts())

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    times, size = [], 0
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(repeat):
                t = time.perf_counter()
                async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    size = len(await resp.read())
                times.append(time.perf_counter() - t)
    finally:
        await runner.cleanup()
    return times, size


def ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1e3:8.2f} ms  max {max(samples) * 1e3:8.2f} ms"


def run(n: int, repeat: int) -> None:
    store = StateExposition()
    on_machine = store.handler("Machine", render_machine)
    on_component = store.handler("MachineComponent", render_machinecomponent)
    on_node = store.handler("Node", render_node)
    t0 = time.perf_counter()
    for i in range(n):
        on_machine(None, machine(i))
        on_component(None, component(i))
        on_node(None, node(i))
    load = time.perf_counter() - t0
    body = store.render()
    series = body.count(b"\n") - body.count(b"\n#")
    produce, largest = [], 0
    for r in range(repeat):
        for i in range(r, n, 100):  # 1% of the machines change phase between scrapes
            on_machine(machine(i), machine(i, "Draining" if r % 2 == 0 else "Running"))
        t = time.perf_counter()
        for part in store.parts():
            largest = max(largest, len(part))
        produce.append(time.perf_counter() - t)
    print(f"{n:>6} machines: {series:,} series, {len(body) / 1e6:.1f} MB; "
          f"{load / (3 * n) * 1e6:.1f} µs per watch event")
    print(f"        produce a scrape:          {ms(produce)}; largest buffer {largest / 1e3:.1f} kB")
    times, size = asyncio.run(http_scrapes(store, repeat))
    assert size == len(body)
    print(f"        whole HTTP scrape, loopback: {ms(times)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,50000")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    for n in (int(x) for x in args.sizes.split(",")):
        run(n, args.repeat)


if __name__ == "__main__":
    main()
