"""What ValidatingAdmissionPolicies cost on the write path, with the agents' identity.

Starts a real `kubenode apiserver` process, registers `--nodes` Nodes, then runs the paced loop of
bench/loadgen.py (open loop, `--rate` writes/s from `--clients` connections; bench/apiserver.py's paced
phase) as *agents*: every request is a Node status merge patch by `kubenode:agent:<node>` on its own Node (the admin
impersonates the agent, and adds `system:masters` only to get past authorization, so what is measured
is admission). Twice: without any policy, then with KubeNode's node-isolation policy (`kubenode
policies`) applied. Prints throughput and p50/p99 latency of both, and the in-process cost of one
policy evaluation.

    python bench/admission.py [--rate 1000] [--seconds 5] [--clients 50] [--nodes 200]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import time
from collections.abc import Awaitable
from typing import Any

from loadgen import MERGE_PATCH, Client, Figures, apiserver, load_average, paced

from kubenode.api.policies import all_policies

NODES = "/api/v1/nodes"
ADMISSION = "/apis/admissionregistration.k8s.io/v1"


AS_AGENT = (("Impersonate-Group", "kubenode:agents"), ("Impersonate-Group", "system:masters"))


def agent_status_writes(c: Client, clients: int, rate: float, seconds: float, nodes: int) -> Awaitable[Figures]:
    """Open loop: each request is an agent's merge patch of its own Node's status."""
    async def beat(w: int, i: int) -> None:
        node = f"n-{(w * 7919 + i) % nodes}"
        await c.expect(200, "PATCH", f"{NODES}/{node}/status", {"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": f"beat {i}"}]}}, MERGE_PATCH,
            extra_headers=(("Impersonate-User", f"kubenode:agent:{node}"), *AS_AGENT))

    return paced(beat, clients, rate, seconds)


def in_process_cost(n: int = 2000) -> tuple[float, float]:
    """CPU microseconds per PolicyAdmission.admit of an agent's Node status write (policy compiled and cached),
    without and with the managedFields the server keeps on every object written over HTTP."""
    from kubenode.apiserver.admission_policy import AdmissionRequest, PolicyAdmission
    from kubenode.apiserver.apply import track_update
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
    tracked = copy.deepcopy(node)
    track_update(None, tracked, manager="kubenode-agent", api_version="v1", schema=info.schema,
                 hints=info.smp_hints, now="2026-12-02T00:00:00Z")
    admission = PolicyAdmission(Store(), registry)  # type: ignore[arg-type]
    costs = []
    for obj in (node, tracked):
        req = AdmissionRequest(info=info, operation="UPDATE", name="n-1", namespace="", subresource="status",
                               obj=obj, old=obj,
                               user=User("kubenode:agent:n-1", ("kubenode:agents", "system:authenticated")))
        admission.admit(req)
        t0 = time.process_time()  # CPU time: a loaded machine's waits for a core do not count
        for _ in range(n):
            admission.admit(req)
        costs.append((time.process_time() - t0) / n * 1e6)
    return costs[0], costs[1]


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--nodes", type=int, default=200)
    args = ap.parse_args()
    plain, tracked = in_process_cost()
    print(f"in-process: one admit() of an agent's Node status write with the node-isolation policy: "
          f"{plain:.0f} us CPU ({tracked:.0f} us with the object's managedFields)")
    async with apiserver() as server:
        c = server.client()
        try:
            for i in range(args.nodes):
                await c.expect(201, "POST", NODES, {"metadata": {"name": f"n-{i}"}})
            print(f"load average {load_average()}")
            r = await agent_status_writes(c, args.clients, args.rate, args.seconds, args.nodes)
            print(f"before (no policy):   {r.ops} agent writes, {r.per_second:.0f}/s sustained at a target "
                  f"of {args.rate:.0f}/s; p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms; late {r.late}")
            for o in all_policies():
                plural = "validatingadmissionpolicies" if o["kind"].endswith("Policy") else \
                    "validatingadmissionpolicybindings"
                await c.expect(201, "POST", f"{ADMISSION}/{plural}", o)
            r = await agent_status_writes(c, args.clients, args.rate, args.seconds, args.nodes)
            print(f"after (node isolation): {r.ops} agent writes, {r.per_second:.0f}/s sustained at a "
                  f"target of {args.rate:.0f}/s; p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms; "
                  f"late {r.late}  (load average {load_average()})")
        finally:
            await c.close()

if __name__ == "__main__":
    asyncio.run(main())
