"""The shared drain's named pod filters and its messages (pure parts)."""

from __future__ import annotations

from typing import Any

import pytest

from kubenode.drain import DEFAULT_FILTERS, DrainResult

Obj = dict[str, Any]


def pod(**kw: Any) -> Obj:
    meta = {"name": "p", "namespace": "default", **kw.pop("meta", {})}
    return {"metadata": meta, "status": kw.pop("status", {"phase": "Running"})}


@pytest.mark.parametrize(("p", "reason"), [
    (pod(), None),
    (pod(meta={"ownerReferences": [{"kind": "DaemonSet", "name": "ds"}]}), "DaemonSetPod"),
    (pod(meta={"ownerReferences": [{"kind": "ReplicaSet", "name": "rs"}]}), None),
    (pod(meta={"annotations": {"kubernetes.io/config.mirror": "x"}}), "MirrorPod"),
    (pod(status={"phase": "Succeeded"}), "FinishedPod"),
    (pod(status={"phase": "Failed"}), "FinishedPod"),
    (pod(status={"phase": "Pending"}), None),
])
def test_default_filters_name_why_a_pod_stays(p: Obj, reason: str | None) -> None:
    assert next((r for r in (f(p) for f in DEFAULT_FILTERS) if r), None) == reason


@pytest.mark.parametrize(("result", "done", "says"), [
    (DrainResult("n"), True, "node n drained"),
    (DrainResult("n", found=False), True, "not found"),
    (DrainResult("n", blocked=["default/a"]), False, "blocked by a disruption budget: default/a"),
    (DrainResult("n", evicted=["default/a"]), False, "waiting for 1 evicted pod(s) to go: default/a"),
    (DrainResult("n", terminating=["default/b"]), False, "default/b"),
    (DrainResult("n", skipped={"default/ds": "DaemonSetPod"}), True, "1 pod(s) left alone"),
])
def test_result_says_what_blocks_it(result: DrainResult, done: bool, says: str) -> None:
    assert result.done == done
    assert says in result.message()
