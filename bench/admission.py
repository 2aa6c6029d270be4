"""What ValidatingAdmissionPolicies cost on the write path, with the agents' identity.

Starts a real `kubenode apiserver` process, registers `--nodes` Nodes, then runs the paced phase of
bench/apiserver.py (open loop, `--rate` writes/s from `--clients` connections) as *agents*: every
request is a Node status merge patch by `kubenode:agent:<node>` on its own Node (the admin
impersonates the agent, and adds `system:masters` only to get past authorization, so what is measured
is admission). Twice: without any policy, then with KubeNode's node-isolation policy (`kubenode
policies`) applied. Prints throughput and p50/p99 latency of both, and the in-process cost of one
policy evaluation.

    python bench/admission.py [--rate 1000] [--seconds 5] [--clients 50] [--nodes 200]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from kubenode.api.policies import all_policies
from kubenode.apiserver.security import client_ssl_context
from kubenode.apiserver.server import free_port

NODES = "/api/v1/nodes"
ADMISSION = "/apis/admissionregistration.k8s.io/v1"


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


class Client:
    def __init__(self, base: str, token: str, ca: Path) -> None:
        self.base = base
        self.token = token
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, ssl=client_ssl_context(ca)))

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                   "Content-Type": "application/json"}
        async with self.session.request(method, self.base + path, data=orjson.dumps(body), headers=headers) as r:
            return r.status, await r.read()

    async def call_as_agent(self, path: str, body: Any, node: str) -> tuple[int, bytes]:
        headers = [("Authorization", f"Bearer {self.token}"), ("Accept", "application/json"),
                   ("Content-Type", "application/merge-patch+json"), ("Impersonate-User", f"kubenode:agent:{node}"),
                   ("Impersonate-Group", "kubenode:agents"), ("Impersonate-Group", "system:masters")]
        async with self.session.request("PATCH", self.base + path, data=orjson.dumps(body),
                                        headers=headers) as r:  # type: ignore[arg-type]
            return r.status, await r.read()


async def paced(c: Client, clients: int, rate: float, seconds: float, nodes: int) -> dict[str, float]:
    lat: list[float] = []
    late = 0
    interval = clients / rate
    start = time.perf_counter() + 0.1

    async def worker(w: int) -> None:
        nonlocal late
        i = 0
        while True:
            due = start + (i + w / clients) * interval
            if due - start > seconds:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late += 1
            node = f"n-{(w * 7919 + i) % nodes}"
            t0 = time.perf_counter()
            st, body = await c.call_as_agent(f"{NODES}/{node}/status", {"status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": f"beat {i}"}]}}, node)
            if st != 200:
                raise RuntimeError(f"agent status patch failed: {st} {body[:300]!r}")
            lat.append(time.perf_counter() - t0)
            i += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(clients)))
    dt = time.perf_counter() - t0
    return {"ops": len(lat), "per_second": len(lat) / dt, "p50_ms": pct(lat, 50) * 1000,
            "p99_ms": pct(lat, 99) * 1000, "late": late}


def in_process_cost(n: int = 2000) -> float:
    """Microseconds per PolicyAdmission.admit of an agent's Node status write (policy compiled and cached)."""
    from kubenode.apiserver.admission_policy import AdmissionRequest, PolicyAdmission
    from kubenode.apiserver.builtins import BUILTIN_RESOURCES
    from kubenode.apiserver.registry import Registry
    from kubenode.apiserver.security import User

    objs = {f"admissionregistration.k8s.io/{'validatingadmissionpolicies' if o['kind'].endswith('Policy') else 'validatingadmissionpolicybindings'}//{o['metadata']['name']}":  # noqa: E501
            dict(o, metadata=dict(o["metadata"], resourceVersion="1")) for o in all_policies()}

    class Store:
        def get(self, key: str) -> Any:
            return objs.get(key)

        def items(self, resource: str) -> Any:
            return [(k, v) for k, v in objs.items() if k.startswith(resource + "/")]

    registry = Registry(BUILTIN_RESOURCES)
    info = registry.lookup("", "v1", "nodes")
    assert info is not None
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n-1", "labels": {"kubernetes.io/hostname": "n-1", "kubernetes.io/os": "linux"}},
            "status": {"conditions": [{"type": f"T{i}", "status": "True", "reason": "R", "message": "m" * 40}
                                      for i in range(8)]}}
    req = AdmissionRequest(info=info, operation="UPDATE", name="n-1", namespace="", subresource="status", obj=node,
                           old=node, user=User("kubenode:agent:n-1", ("kubenode:agents", "system:authenticated")))
    admission = PolicyAdmission(Store(), registry)  # type: ignore[arg-type]
    admission.admit(req)
    t0 = time.perf_counter()
    for _ in range(n):
        admission.admit(req)
    return (time.perf_counter() - t0) / n * 1e6


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--nodes", type=int, default=200)
    args = ap.parse_args()
    print(f"in-process: one admit() of an agent's Node status write with the node-isolation policy: "
          f"{in_process_cost():.0f} us")
    with tempfile.TemporaryDirectory(prefix="kubenode-bench-") as tmp:
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "kubenode.cli.main", "apiserver", "--data-dir", tmp,  # noqa: ASYNC220
                                 "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not (Path(tmp) / "kubeconfig").exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("server did not start")
                await asyncio.sleep(0.1)
            c = Client(f"https://127.0.0.1:{port}", (Path(tmp) / "pki" / "admin.token").read_text().strip(),
                       Path(tmp) / "pki" / "ca.crt")
            try:
                for i in range(args.nodes):
                    st, body = await c.call("POST", NODES, {"metadata": {"name": f"n-{i}"}})
                    assert st == 201, body
                r = await paced(c, args.clients, args.rate, args.seconds, args.nodes)
                print(f"before (no policy):   {r['ops']} agent writes, {r['per_second']:.0f}/s sustained at a target "
                      f"of {args.rate:.0f}/s; p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms; late {r['late']}")
                for o in all_policies():
                    plural = "validatingadmissionpolicies" if o["kind"].endswith("Policy") else \
                        "validatingadmissionpolicybindings"
                    st, body = await c.call("POST", f"{ADMISSION}/{plural}", o)
                    assert st == 201, body
                r = await paced(c, args.clients, args.rate, args.seconds, args.nodes)
                print(f"after (node isolation): {r['ops']} agent writes, {r['per_second']:.0f}/s sustained at a "
                      f"target of {args.rate:.0f}/s; p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms; "
                      f"late {r['late']}")
            finally:
                await c.session.close()
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)


if __name__ == "__main__":
    asyncio.run(main())
