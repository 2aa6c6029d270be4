"""Timings of three API-server hot paths, printed (moved here from unit tests, which assert no timings).

* structural-schema validation of a small MachineComponentSet-like custom
  resource (target: well under 100 µs per object);
* managedFields tracking of a Node heartbeat status update (target: well
  under 100 µs per update);
* a Table (`kubectl get pods`) of 10,000 pods (target: well under 1 s; ~0.12 s
  on a slow CI core).

    python bench/hotpaths.py [--runs 300]
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

from kubenode.apiserver import builtin_columns as bc
from kubenode.apiserver.apply import track_update
from kubenode.apiserver.patch import strategic_merge_patch
from kubenode.apiserver.schema import StructuralSchema
from kubenode.apiserver.tables import parse_timestamp, render_table

Obj = dict[str, Any]

NODE_HINTS: dict[str, tuple[str, str]] = {
    "metadata.finalizers": ("merge", ""),
    "spec.taints": ("merge", "key"),
    "status.conditions": ("merge", "type"),
}


def _root(spec_props: Obj) -> Obj:
    return {"type": "object", "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": spec_props},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}


def _obj(spec: Any) -> Obj:
    return {"apiVersion": "x.io/v1", "kind": "X", "metadata": {"name": "a"}, "spec": spec}


def best_per_call(fn: Any, runs: int, rounds: int = 5) -> float:
    """The best of `rounds` averages over `runs` calls, in seconds."""
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(runs):
            fn()
        best = min(best, (time.perf_counter() - t) / runs)
    return best


def schema_validation(runs: int) -> float:
    schema = _root(
        {
            "component": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": "^[a-z0-9-]+$"},
            "paused": {"type": "boolean"},
            "selector": {
                "type": "object",
                "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}},
            },
            "template": {
                "type": "object",
                "properties": {
                    "version": {"type": "string"},
                    "run": {
                        "type": "object",
                        "properties": {
                            "command": {"type": "array", "items": {"type": "string"}},
                            "env": {
                                "type": "array",
                                "x-kubernetes-list-type": "map",
                                "x-kubernetes-list-map-keys": ["name"],
                                "items": {
                                    "type": "object",
                                    "required": ["name"],
                                    "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
                                },
                            },
                        },
                    },
                    "healthCheck": {
                        "type": "object",
                        "properties": {
                            k: {"type": "integer", "minimum": 0}
                            for k in ("period", "timeout", "failures", "delay")
                        },
                    },
                    "files": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                        },
                    },
                    "disruption": {"type": "string", "enum": ["None", "Restart", "Drain", "Reboot"]},
                },
            },
            "batches": {"type": "array", "items": {"x-kubernetes-int-or-string": True}},
        }
    )
    obj = _obj(
        {
            "component": "kubelet",
            "paused": False,
            "selector": {"matchLabels": {"a": "b", "c": "d"}},
            "template": {
                "version": "1.1.0",
                "run": {
                    "command": ["bin/x", "--flag"],
                    "env": [{"name": "K", "value": "V"}, {"name": "L", "value": "W"}],
                },
                "healthCheck": {"period": 5, "timeout": 5, "failures": 3, "delay": 0},
                "files": [{"path": "etc/x.conf", "content": "x" * 400}],
                "disruption": "None",
            },
            "batches": [1, 5, "10%"],
        }
    )
    ss = StructuralSchema(schema)
    assert ss.validate(obj) == []
    return best_per_call(lambda: ss.validate(obj), runs)


def heartbeat_tracking(runs: int) -> float:
    conditions = [{"type": t, "status": "False", "reason": "Fine", "message": "all good " * 5,
                   "lastHeartbeatTime": "2024-01-01T00:00:00Z", "lastTransitionTime": "2024-01-01T00:00:00Z"}
                  for t in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "KernelDeadlock")]
    obj = {"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": "n", "labels": {f"l{i}": "v" * 10 for i in range(10)}},
           "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}], "podCIDR": "10.0.0.0/24"},
           "status": {"conditions": conditions, "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                      "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "x" * 40}}}
    track_update(None, obj, manager="kubelet", api_version="v1", subresource="", schema=None, hints=NODE_HINTS,
                 now="T9")
    patch = {"status": {"conditions": [{"type": "Ready", "lastHeartbeatTime": "2024-01-01T00:00:10Z"}]}}
    new = strategic_merge_patch(obj, patch, NODE_HINTS)
    copies = [copy.deepcopy(new) for _ in range(runs)]
    it = iter(copies)
    return best_per_call(lambda: track_update(obj, next(it), manager="kubelet", api_version="v1",
                                              subresource="status", schema=None, hints=NODE_HINTS, now="T"),
                         runs, rounds=1)


def pod_table(pods: int = 10000) -> float:
    """Seconds to render the Table of `pods` Running pods (best of 3)."""
    now = parse_timestamp("2026-11-25T12:00:00Z")

    def ago(seconds: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - seconds))

    items = [{
        "metadata": {"name": f"p{i}", "namespace": "default", "creationTimestamp": ago(i)},
        "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}],
                   "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0,
                                          "state": {"running": {"startedAt": ago(100)}}}]},
    } for i in range(pods)]
    render_table(bc.POD_COLUMNS, items[:10], now=now)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        table = render_table(bc.POD_COLUMNS, items, now=now)
        best = min(best, time.perf_counter() - start)
        assert len(table["rows"]) == pods
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args()
    print(f"schema validation of a small CR:     {schema_validation(args.runs) * 1e6:7.1f} µs per object "
          "(target < 100 µs)")
    print(f"managedFields of a Node heartbeat:   {heartbeat_tracking(args.runs) * 1e6:7.1f} µs per update "
          "(target < 100 µs)")
    print(f"Table of 10,000 pods:                {pod_table() * 1e3:7.1f} ms (target < 1000 ms)")


if __name__ == "__main__":
    main()
