"""Table-driven tests of the MachineSet planner."""

from __future__ import annotations

from typing import Any

import pytest

from kubenode.machine.machineset_planner import plan_machineset


def m(name: str, created: str = "2026-01-01T00:00:00Z", *, annotated: bool = False, failed: bool = False,
      deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{name}", "creationTimestamp": created}
    if annotated:
        meta["annotations"] = {"kubenode.io/delete-machine": ""}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-02T00:00:00Z"
    status = {"phase": "Failed"} if failed else {"phase": "Running"}
    return {"metadata": meta, "status": status}


T1, T2, T3 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"


@pytest.mark.parametrize(
    ("replicas", "policy", "machines", "create", "delete"),
    [
        (3, "Random", [], 3, []),
        (3, "Random", [m("a"), m("b"), m("c")], 0, []),
        (5, "Oldest", [m("a"), m("b")], 3, []),
        (1, "Oldest", [m("a", T2), m("b", T1), m("c", T3)], 0, ["b", "a"]),
        (1, "Newest", [m("a", T2), m("b", T1), m("c", T3)], 0, ["c", "a"]),
        (2, "Newest", [m("a", T2), m("b", T1, annotated=True), m("c", T3)], 0, ["b"]),
        (2, "Oldest", [m("a", T1), m("b", T2, failed=True), m("c", T3)], 0, ["b"]),
        (1, "Oldest", [m("a", T1), m("b", T2, failed=True), m("c", T3, annotated=True)], 0, ["c", "b"]),
        # machines already being deleted do not count
        (2, "Random", [m("a"), m("b", deleting=True)], 1, []),
        (0, "Random", [m("a", deleting=True)], 0, []),
    ],
)
def test_plan(replicas: int, policy: str, machines: list[dict[str, Any]], create: int, delete: list[str]) -> None:
    plan = plan_machineset(replicas, policy, machines)
    assert plan.create == create
    assert plan.delete == delete


def test_random_is_stable_and_spreads() -> None:
    machines = [m(f"m{i}") for i in range(20)]
    first = plan_machineset(10, "Random", machines).delete
    assert first == plan_machineset(10, "Random", list(reversed(machines))).delete
    assert len(first) == 10
    assert first != [f"m{i}" for i in range(10)]
