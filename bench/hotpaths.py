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
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.hotpath_objects import NODE_HINTS, heartbeat_node, heartbeat_patch, small_cr, small_cr_schema

from kubenode.apiserver import builtin_columns as bc
from kubenode.apiserver.apply import track_update
from kubenode.apiserver.patch import strategic_merge_patch
from kubenode.apiserver.schema import StructuralSchema
from kubenode.apiserver.tables import parse_timestamp, render_table


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
    schema, obj = small_cr_schema(), small_cr()
    ss = StructuralSchema(schema)
    assert ss.validate(obj) == []
    return best_per_call(lambda: ss.validate(obj), runs)


def heartbeat_tracking(runs: int) -> float:
    obj = heartbeat_node()
    track_update(None, obj, manager="kubelet", api_version="v1", subresource="", schema=None, hints=NODE_HINTS,
                 now="T9")
    new = strategic_merge_patch(obj, heartbeat_patch(), NODE_HINTS)
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
