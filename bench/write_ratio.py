"""Write throughput of the embedded API server against a bare aiohttp + SQLite insert loop, side by side.

Each round starts, one after the other on the same machine, the bare loop with `synchronous=FULL` (one fsync
per insert), the same loop with `synchronous=NORMAL` (no fsync at commit: the CPU-only bound) and
`kubenode apiserver` (durable group commit), each in its own process with a fresh data directory under the
system's temporary directory, and sends each the same load: `--clients` TLS connections creating
`--writes` ConfigMaps back to back (bench/loadgen.py's closed loop, the create phase of bench/apiserver.py).
It prints every run and, per round and as the median over the rounds, our server's throughput as a ratio of
each bare loop's. The order of the three rotates from round to round, so a slow minute on a shared machine
does not always hit the same one.

    python bench/write_ratio.py [--rounds 3] [--clients 50] [--writes 3000] [--warmup 300] [--op create|patch]
                                [--baseline WORKTREE] [--asyncio-too] [--bare-uvloop]

`--op patch` measures Lease renewals instead of creates: each client first creates its own Lease in
kube-node-lease, then the clients send merge PATCHes of `spec.renewTime` (what a node's agent sends every
10 s) back to back; the bare loops merge the patch into the object they keep in memory and UPSERT it.

`--baseline WORKTREE` adds `kubenode apiserver` from another source tree (a `git worktree add` of main, say:
the folder that holds its `src/`) to every round, so a change's before and after are measured side by side
too. `--asyncio-too` adds our server on asyncio's own event loop (`KUBENODE_EVENT_LOOP=asyncio`) beside the
default (uvloop), and `--bare-uvloop` the bare NORMAL loop on uvloop, to see what the event loop alone is
worth.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import psutil
from loadgen import MERGE_PATCH, Client, Figures, Request, closed_loop, load_average, spawn, stop, wait_for_file

from kubenode.apiserver.server import free_port

CM = "/api/v1/namespaces/default/configmaps"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
HERE = Path(__file__).resolve().parent
OURS = "kubenode apiserver"
BASELINE = "baseline"
OURS_ASYNCIO = "ours on asyncio"
BARE_UVLOOP = "bare NORMAL uvloop"
VARIANTS = ("bare FULL", "bare NORMAL", OURS)
ME = psutil.Process()


@contextlib.asynccontextmanager
async def server(variant: str, tmp: Path, baseline: Path | None) -> AsyncIterator[tuple[Client, psutil.Process]]:
    """A client of a freshly started `variant`, and its process (stopped on exit)."""
    port = free_port()
    data = tmp / "data"
    log = tmp / "server.log"
    env = None
    ours = variant in (OURS, BASELINE, OURS_ASYNCIO)
    if ours:
        cmd = [sys.executable, "-m", "kubenode.cli.main", "apiserver", "--data-dir", str(data), "--port", str(port)]
        ready = data / "kubeconfig"
        if variant == BASELINE and baseline is not None:  # its sources come first on the path
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [
                str(baseline / "src"), os.environ.get("PYTHONPATH", "")])))
        if variant == OURS_ASYNCIO:
            env = dict(os.environ, KUBENODE_EVENT_LOOP="asyncio")
    else:
        cmd = [sys.executable, str(HERE / "bare_loop.py"), "--data-dir", str(data), "--port", str(port),
               "--synchronous", variant.split()[1], *(["--uvloop"] if variant == BARE_UVLOOP else [])]
        ready = data / "ready"
    proc = spawn(cmd, log, env)
    try:
        await wait_for_file(ready, proc, log)
        token = (data / "pki" / "admin.token").read_text().strip() if ours else ""
        client = Client(f"https://127.0.0.1:{port}", data / "pki" / "ca.crt", token)
        try:
            yield client, psutil.Process(proc.pid)
        finally:
            await client.close()
    finally:
        stop(proc)


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


async def measure(variant: str, clients: int, writes: int, warmup: int,
                  baseline: Path | None, op: str = "create") -> tuple[Figures, float, float]:
    """The figures of the measured writes, and the server's and this client's CPU time per write (ms)."""
    with tempfile.TemporaryDirectory(prefix="kubenode-ratio-") as tmp:
        async with server(variant, Path(tmp), baseline) as (c, proc):
            def create(prefix: str) -> Request:
                async def one(_w: int, i: int) -> None:
                    await c.expect(201, "POST", CM, {"metadata": {"name": f"{prefix}{i}", "labels": {"b": "x"}},
                                                     "data": {"k": "v" * 200}})
                return one

            def renew(_prefix: str) -> Request:
                async def one(w: int, i: int) -> None:
                    await c.expect(200, "PATCH", f"{LEASES}/node-{w}", {"spec": {
                        "renewTime": f"2026-12-03T07:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1_000_000:06d}Z"}},
                        MERGE_PATCH)
                return one

            write = create
            if op == "patch":
                write = renew
                for w in range(clients):  # each client renews its own node's Lease
                    await c.expect(201, "POST", LEASES, {"metadata": {"name": f"node-{w}"}, "spec": {
                        "holderIdentity": f"node-{w}", "leaseDurationSeconds": 40,
                        "renewTime": "2026-12-03T07:00:00.000000Z"}})
            # Connections, TLS sessions, the server's caches and SQLite's pages warm up outside the measure.
            await closed_loop(write("warm"), clients, warmup)
            cpu0, mine0 = cpu_seconds(proc), cpu_seconds(ME)
            figures = await closed_loop(write("c"), clients, writes)
            return figures, (cpu_seconds(proc) - cpu0) / writes * 1000, (cpu_seconds(ME) - mine0) / writes * 1000


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--writes", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--op", choices=("create", "patch"), default="create",
                    help="ConfigMap creates, or merge PATCHes of each client's own Lease (spec.renewTime)")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="also run `kubenode apiserver` from this source tree (the folder holding src/, e.g. a git "
                         "worktree of main) in every round: before/after figures of a change, side by side")
    ap.add_argument("--asyncio-too", action="store_true",
                    help="also run our server on asyncio's event loop (KUBENODE_EVENT_LOOP=asyncio)")
    ap.add_argument("--bare-uvloop", action="store_true", help="also run the bare NORMAL loop on uvloop")
    args = ap.parse_args()
    variants: tuple[str, ...] = VARIANTS
    if args.baseline is not None:
        variants += (BASELINE,)
    if args.asyncio_too:
        variants += (OURS_ASYNCIO,)
    if args.bare_uvloop:
        variants += (BARE_UVLOOP,)
    what = "creates" if args.op == "create" else "Lease merge patches"
    print(f"cores {os.cpu_count()}, clients {args.clients}, {args.writes} {what} per run, load average "
          f"{load_average()}")
    ratios: dict[str, list[float]] = {v: [] for v in variants if v != OURS}
    runs: list[dict[str, object]] = []
    for r in range(args.rounds):
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        got: dict[str, Figures] = {}
        for variant in order:
            f, cpu_ms, client_ms = await measure(variant, args.clients, args.writes, args.warmup, args.baseline,
                                                 args.op)
            got[variant] = f
            print(f"round {r + 1}: {variant:<19} {f.line()}; CPU per write: server {cpu_ms:.2f} ms, client "
                  f"{client_ms:.2f} ms  (load {load_average()})")
            runs.append({"round": r + 1, "variant": variant, "op": args.op, "per_second": round(f.per_second, 1),
                         "p50_ms": round(f.p50_ms, 2), "p99_ms": round(f.p99_ms, 2), "cpu_ms": round(cpu_ms, 3),
                         "client_cpu_ms": round(client_ms, 3)})
        for other in ratios:
            ratios[other].append(got[OURS].per_second / got[other].per_second)
        print(f"round {r + 1}: " + ", ".join(f"ours / {v} = {got[OURS].per_second / got[v].per_second:.0%}"
                                             for v in ratios))
    print(f"median over {args.rounds} rounds: " + ", ".join(f"ours / {v} = {statistics.median(x):.0%}"
                                                           for v, x in ratios.items()))
    if args.json:
        print(orjson.dumps({"runs": runs, "ratios": ratios}).decode())


if __name__ == "__main__":
    asyncio.run(main())
