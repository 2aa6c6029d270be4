"""The node sync diff touches only what the Machine owns."""

from __future__ import annotations

from typing import Any

import pytest

from kubenode.apiserver.patch import merge_patch
from kubenode.machine.node_sync import OWNED_LABELS, OWNED_TAINTS, node_patch


def machine(labels: dict[str, str] | None = None, taints: list[dict[str, str]] | None = None,
            unschedulable: bool | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeLabels": labels or {}, "nodeTaints": taints or []}
    if unschedulable is not None:
        spec["unschedulable"] = unschedulable
    return {"metadata": {"name": "m1"}, "spec": spec}


def node(labels: dict[str, str] | None = None, taints: list[dict[str, str]] | None = None,
         owned_labels: str = "", owned_taints: str = "", unschedulable: bool = False) -> dict[str, Any]:
    ann = {}
    if owned_labels:
        ann[OWNED_LABELS] = owned_labels
    if owned_taints:
        ann[OWNED_TAINTS] = owned_taints
    return {"metadata": {"name": "m1", "resourceVersion": "7", "labels": labels or {}, "annotations": ann},
            "spec": {"taints": taints or [], "unschedulable": unschedulable}}


def converge(m: dict[str, Any], n: dict[str, Any]) -> dict[str, Any]:
    patch = node_patch(m, n)
    assert patch is not None
    assert patch["metadata"]["resourceVersion"] == "7"
    out = merge_patch(n, patch)
    again = dict(out, metadata=dict(out["metadata"], resourceVersion="7"))
    assert node_patch(m, again) is None  # converged: a second pass changes nothing
    return out


@pytest.mark.parametrize(
    ("m", "n", "labels", "taint_keys"),
    [
        # adds its labels, keeps the agent's
        (machine({"role": "gpu"}), node({"kubernetes.io/os": "linux"}),
         {"kubernetes.io/os": "linux", "role": "gpu", "kubenode.io/machine": "m1"}, []),
        # removes a label it owned, leaves a human's label alone
        (machine({}), node({"role": "gpu", "team": "x", "kubenode.io/machine": "m1"},
                           owned_labels="kubenode.io/machine,role"),
         {"team": "x", "kubenode.io/machine": "m1"}, []),
        # taints: adds its own, keeps the unreachable taint, drops a taint it no longer wants
        (machine(taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
         node({"kubenode.io/machine": "m1"},
              [{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
               {"key": "old", "effect": "NoExecute"}], owned_labels="kubenode.io/machine",
              owned_taints="old:NoExecute"),
         {"kubenode.io/machine": "m1"}, ["dedicated", "node.kubernetes.io/unreachable"]),
    ],
)
def test_sync(m: dict[str, Any], n: dict[str, Any], labels: dict[str, str], taint_keys: list[str]) -> None:
    out = converge(m, n)
    assert out["metadata"]["labels"] == labels
    assert sorted(t["key"] for t in out["spec"].get("taints") or []) == taint_keys


def test_in_sync_is_none() -> None:
    n = node({"kubenode.io/machine": "m1"}, owned_labels="kubenode.io/machine")
    assert node_patch(machine(), n) is None


def test_unschedulable_only_when_the_machine_says() -> None:
    n = node({"kubenode.io/machine": "m1"}, owned_labels="kubenode.io/machine", unschedulable=True)
    assert node_patch(machine(), n) is None  # a human cordon stays
    out = converge(machine(unschedulable=False), n)
    assert out["spec"]["unschedulable"] is False
