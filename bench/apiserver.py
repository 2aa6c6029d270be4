"""Benchmark of the embedded API server, run as a real separate process.

Prints: create and patch throughput with N concurrent clients, p50/p99 write
latency, time to LIST 10,000 objects (JSON and Table), and watch events per
second delivered to 100 watchers.

    python bench/apiserver.py [--clients 50] [--writes 5000] [--objects 10000] [--watchers 100]
                              [--identity admin|rbac|certificate]

`--identity rbac` runs every request as a ServiceAccount that RBAC allows (a
ClusterRole bound to it, as the agents' and operators' roles are) instead of the
admin kubeconfig (`system:masters`, which skips authorization). With
`--identity certificate` the clients authenticate as the admin with a TLS client
certificate signed by the server's CA (as agents do) instead of a bearer token.

Uses only the project and aiohttp (the client and the closed and paced loops
are bench/loadgen.py's, shared with bench/admission.py and
bench/write_ratio.py); the server runs in its own process with a temporary
data directory, so client and server compete for the same cores, as they
would on a small machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.client_certificates

import orjson
from loadgen import MERGE_PATCH, Client, Figures, apiserver, closed_loop, load_average, paced

CM = "/api/v1/namespaces/default/configmaps"


def client_certificate(pki: Path) -> tuple[Path, Path]:
    """A client certificate for an admin identity, signed with the data dir's CA (certificate, key)."""
    from tests.client_certificates import client_certificate as signed

    return signed(pki, organization="system:masters", common_name="kubenode:bench", name="bench-client")


def writes(b: Client, clients: int, total: int, kind: str, prefix: str) -> Awaitable[Figures]:
    """Closed loop: `total` creates (or merge patches of the first 1,000) from `clients` connections."""
    async def create(_w: int, i: int) -> None:
        await b.expect(201, "POST", CM, {"metadata": {"name": f"{prefix}{i}", "labels": {"b": "x"}},
                                         "data": {"k": "v" * 200}})

    async def patch(_w: int, i: int) -> None:
        await b.expect(200, "PATCH", f"{CM}/{prefix}{i % 1000}", {"data": {"n": str(i)}}, MERGE_PATCH)

    return closed_loop(create if kind == "create" else patch, clients, total)


def paced_patches(b: Client, clients: int, rate: float, seconds: float) -> Awaitable[Figures]:
    """Open loop: `clients` connections together issue `rate` merge patches per second."""
    async def patch(w: int, i: int) -> None:
        await b.expect(200, "PATCH", f"{CM}/c{(w * 1000 + i) % 1000}", {"data": {"p": str(i)}}, MERGE_PATCH)

    return paced(patch, clients, rate, seconds)


async def fill(b: Client, n: int, clients: int = 50) -> None:
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            st, body = await b.call("POST", "/api/v1/namespaces/bench/configmaps",
                                    {"metadata": {"name": f"obj-{i:05d}", "labels": {"app": "bench"}},
                                     "data": {"k": "v" * 200}})
            if st != 201:
                raise RuntimeError(f"fill failed: {st} {body[:200]!r}")

    await asyncio.gather(*(worker() for _ in range(clients)))


async def list_time(b: Client, table: bool) -> tuple[float, int]:
    best = float("inf")
    count = 0
    for _ in range(5):
        headers = dict(b.headers)
        if table:
            headers["Accept"] = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        t0 = time.perf_counter()
        async with b.session.get(b.base + "/api/v1/namespaces/bench/configmaps", headers=headers) as r:
            data = await r.read()
        best = min(best, time.perf_counter() - t0)
        doc = orjson.loads(data)
        count = len(doc.get("items") or doc.get("rows") or [])
    return best, count


async def watch_rate(b: Client, watchers: int, events: int) -> dict[str, float]:
    _, body = await b.call("GET", CM, params={"limit": "1"})
    rv = orjson.loads(body)["metadata"]["resourceVersion"]
    ready = 0
    all_ready = asyncio.Event()
    got = [0] * watchers

    async def watcher(i: int) -> None:
        nonlocal ready
        async with b.session.get(b.base + CM, headers=b.headers,
                                 params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "600"}) as r:
            ready += 1
            if ready == watchers:
                all_ready.set()
            async for line in r.content:
                if line.strip():
                    got[i] += 1
                    if got[i] >= events:
                        return

    tasks = [asyncio.create_task(watcher(i)) for i in range(watchers)]
    await asyncio.wait_for(all_ready.wait(), 60)
    await asyncio.sleep(0.5)
    t0 = time.perf_counter()
    counter = iter(range(events))

    async def writer() -> None:
        for i in counter:
            await b.call("PATCH", f"{CM}/c{i % 1000}", {"data": {"w": str(i)}}, "application/merge-patch+json")

    await asyncio.gather(*(writer() for _ in range(20)))
    write_done = time.perf_counter() - t0
    await asyncio.wait_for(asyncio.gather(*tasks), 600)
    dt = time.perf_counter() - t0
    total = sum(got)
    return {"events": events, "watchers": watchers, "delivered": total, "seconds": dt,
            "delivered_per_second": total / dt, "write_seconds": write_done}


async def rbac_token(admin: Client) -> str:
    """A token of the ServiceAccount default/bench, bound by RBAC to what the benchmark does."""
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    calls: list[tuple[str, Any]] = [
        ("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "bench"}}),
        (f"{rbac}/clusterroles", {"metadata": {"name": "bench"}, "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "create", "patch"]},
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["create"]}]}),
        (f"{rbac}/clusterrolebindings", {"metadata": {"name": "bench"}, "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "bench"},
            "subjects": [{"kind": "ServiceAccount", "name": "bench", "namespace": "default"}]}),
    ]
    for path, body in calls:
        st, answer = await admin.call("POST", path, body)
        if st != 201:
            raise SystemExit(f"cannot set up the RBAC identity: {st} {answer[:200]!r}")
    st, answer = await admin.call("POST", "/api/v1/namespaces/default/serviceaccounts/bench/token", {"spec": {}})
    if st != 201:
        raise SystemExit(f"cannot mint the ServiceAccount token: {st} {answer[:200]!r}")
    return str(orjson.loads(answer)["status"]["token"])


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--writes", type=int, default=5000)
    ap.add_argument("--objects", type=int, default=10000)
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--watch-events", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=1000.0, help="target writes/s of the paced phase")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the paced phase")
    ap.add_argument("--identity", choices=("admin", "rbac", "certificate"), default="admin",
                    help="who sends the requests: the admin (bearer token), a ServiceAccount authorized by RBAC, "
                         "or the admin with a CA-signed client certificate")
    ap.add_argument("--wrap", default="", help='prefix for the server command, e.g. "py-spy record -o p.svg --"')
    args = ap.parse_args()
    async with apiserver(args.wrap) as server:
        cert = client_certificate(server.data / "pki") if args.identity == "certificate" else None
        b = server.client(cert=cert)
        if args.identity == "rbac":
            admin, b = b, server.client(token=await rbac_token(b))
            await admin.close()
        try:
            print(f"server pid {server.proc.pid}, cores {os.cpu_count()}, clients {args.clients}, "
                  f"identity {args.identity}, load average {load_average()}")
            r = await writes(b, args.clients, args.writes, "create", "c")
            print(f"create: {r.ops} objects in {r.seconds:.2f}s = {r.per_second:.0f} writes/s; "
                  f"latency p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms")
            r = await writes(b, args.clients, args.writes, "patch", "c")
            print(f"patch:  {r.ops} patches in {r.seconds:.2f}s = {r.per_second:.0f} writes/s; "
                  f"latency p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms")
            r = await paced_patches(b, args.clients, args.rate, args.seconds)
            print(f"paced:  {r.ops} patches at a target of {args.rate:.0f}/s from {args.clients} clients: "
                  f"{r.per_second:.0f} writes/s sustained; latency p50 {r.p50_ms:.1f} ms, "
                  f"p99 {r.p99_ms:.1f} ms; requests sent late: {r.late}")
            await b.call("POST", "/api/v1/namespaces", {"metadata": {"name": "bench"}})
            await fill(b, args.objects)
            for table in (False, True):
                t, n = await list_time(b, table)
                print(f"LIST {n} objects ({'Table' if table else 'JSON'}): {t * 1000:.0f} ms (best of 5)")
            w = await watch_rate(b, args.watchers, args.watch_events)
            print(f"watch: {w['events']} changes x {w['watchers']} watchers = {w['delivered']} events in "
                  f"{w['seconds']:.2f}s = {w['delivered_per_second']:.0f} events/s delivered "
                  f"(writes took {w['write_seconds']:.2f}s)")
        finally:
            await b.close()

if __name__ == "__main__":
    asyncio.run(main())
