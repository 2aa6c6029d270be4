"""Tests for the JSON merge, JSON and strategic merge patches (kubenode.apiserver.patch)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubenode.apiserver.errors import StatusError
from kubenode.apiserver.patch import json_patch, merge_patch, strategic_merge_patch

NODE_HINTS: dict[str, tuple[str, str]] = {
    "metadata.finalizers": ("merge", ""),
    "metadata.ownerReferences": ("merge", "uid"),
    "spec.podCIDRs": ("merge", ""),
    "spec.taints": ("merge", "key"),
    "status.conditions": ("merge", "type"),
    "status.addresses": ("merge", "type"),
}
POD_HINTS: dict[str, tuple[str, str]] = {
    "spec.containers": ("merge", "name"),
    "spec.containers[].env": ("merge", "name"),
    "spec.strategy": ("retainKeys", ""),
}


def node() -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "n1", "labels": {"a": "1", "b": "2"}, "finalizers": ["x", "y"]},
        "spec": {"taints": [{"key": "k1", "effect": "NoSchedule"}, {"key": "k2", "effect": "NoExecute"}]},
        "status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady"},
            {"type": "MemoryPressure", "status": "False"},
        ]},
    }


# --------------------------------------------------------------------------- merge patch


@pytest.mark.parametrize(("target", "patch", "expected"), [
    ({"a": 1}, {"a": 2}, {"a": 2}),
    ({"a": 1, "b": 2}, {"a": None}, {"b": 2}),
    ({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}, {"a": {"c": 2, "d": 3}}),
    ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
    ({"a": 1}, {"b": {"c": None, "d": 1}}, {"a": 1, "b": {"d": 1}}),
    ({"a": 1}, ["x"], ["x"]),
    ({"a": "x"}, {"a": {"b": 1}}, {"a": {"b": 1}}),
    ({}, {"a": [{"b": None}]}, {"a": [{"b": None}]}),  # RFC 7386: lists are values, nulls inside stay
])
def test_merge_patch(target: Any, patch: Any, expected: Any) -> None:
    before = copy.deepcopy(target), copy.deepcopy(patch)
    assert merge_patch(target, patch) == expected
    assert (target, patch) == before


def test_merge_patch_result_shares_nothing() -> None:
    target = {"a": {"b": [1]}, "c": {"d": 1}}
    patch = {"e": {"f": [2]}}
    out = merge_patch(target, patch)
    out["a"]["b"].append(9)
    out["e"]["f"].append(9)
    assert target == {"a": {"b": [1]}, "c": {"d": 1}}
    assert patch == {"e": {"f": [2]}}


# --------------------------------------------------------------------------- JSON patch


@pytest.mark.parametrize(("ops", "expected"), [
    ([{"op": "add", "path": "/spec/x", "value": 1}], {"spec": {"a": [1, 2], "x": 1}}),
    ([{"op": "remove", "path": "/spec/a/0"}], {"spec": {"a": [2]}}),
    ([{"op": "replace", "path": "/spec/a", "value": []}], {"spec": {"a": []}}),
    ([{"op": "move", "from": "/spec/a", "path": "/b"}], {"spec": {}, "b": [1, 2]}),
    ([{"op": "copy", "from": "/spec/a", "path": "/b"}], {"spec": {"a": [1, 2]}, "b": [1, 2]}),
    ([{"op": "test", "path": "/spec/a/1", "value": 2}, {"op": "add", "path": "/spec/a/-", "value": 3}],
     {"spec": {"a": [1, 2, 3]}}),
    (None, {"spec": {"a": [1, 2]}}),
])
def test_json_patch(ops: Any, expected: Any) -> None:
    target = {"spec": {"a": [1, 2]}}
    assert json_patch(target, ops) == expected
    assert target == {"spec": {"a": [1, 2]}}


@pytest.mark.parametrize(("ops", "code", "reason", "message"), [
    ({"op": "add"}, 400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
    (["add"], 400, "BadRequest", "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
    ([{"op": "test", "path": "/spec/a/0", "value": 5}], 422, "Invalid",
     "the server rejected our request due to an error in our request"),
    ([{"op": "remove", "path": "/spec/missing"}], 422, "Invalid",
     "the server rejected our request due to an error in our request"),
    ([{"op": "add", "path": "/no/such/parent", "value": 1}], 422, "Invalid",
     "the server rejected our request due to an error in our request"),
    ([{"op": "frobnicate", "path": "/spec"}], 422, "Invalid",
     "the server rejected our request due to an error in our request"),
    ([{"op": "add", "path": "/x", "value": 1}] * 10001, 413, "RequestEntityTooLarge",
     "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"),
])
def test_json_patch_errors(ops: Any, code: int, reason: str, message: str) -> None:
    with pytest.raises(StatusError) as exc:
        json_patch({"spec": {"a": [1, 2]}}, ops)
    assert (exc.value.code, exc.value.reason, exc.value.message) == (code, reason, message)


def test_json_patch_does_not_alias_operation_values() -> None:
    ops = [{"op": "add", "path": "/x", "value": {"y": [1]}}]
    out = json_patch({}, ops)
    out["x"]["y"].append(2)
    assert ops[0]["value"] == {"y": [1]}


# --------------------------------------------------------------------------- strategic merge patch


@pytest.mark.parametrize(("name", "patch", "check"), [
    ("cordon", {"spec": {"unschedulable": True}},
     lambda o: o["spec"]["unschedulable"] is True and len(o["spec"]["taints"]) == 2),
    ("label", {"metadata": {"labels": {"c": "3"}}},
     lambda o: o["metadata"]["labels"] == {"a": "1", "b": "2", "c": "3"}),
    ("unlabel", {"metadata": {"labels": {"a": None}}}, lambda o: o["metadata"]["labels"] == {"b": "2"}),
    ("annotate", {"metadata": {"annotations": {"note": "x"}}},
     lambda o: o["metadata"]["annotations"] == {"note": "x"}),
    # kubectl taint: the new list order plus the added taint
    ("taint add", {"spec": {"$setElementOrder/taints": [{"key": "k1"}, {"key": "k2"}, {"key": "k3"}],
                            "taints": [{"key": "k3", "effect": "NoSchedule", "value": "v"}]}},
     lambda o: [t["key"] for t in o["spec"]["taints"]] == ["k1", "k2", "k3"]
     and o["spec"]["taints"][2] == {"key": "k3", "effect": "NoSchedule", "value": "v"}),
    ("taint remove", {"spec": {"$setElementOrder/taints": [{"key": "k2"}],
                               "taints": [{"$patch": "delete", "key": "k1"}]}},
     lambda o: o["spec"]["taints"] == [{"key": "k2", "effect": "NoExecute"}]),
    ("taints cleared", {"spec": {"taints": None}}, lambda o: "taints" not in o["spec"]),
    ("condition merged by type", {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
     lambda o: o["status"]["conditions"][0] == {"type": "Ready", "status": "False", "reason": "KubeletReady"}
     and len(o["status"]["conditions"]) == 2),
    ("condition added", {"status": {"conditions": [{"type": "KernelDeadlock", "status": "False"}]}},
     # kube's mergeSortedSlice puts a new patch item before the live-only ones
     lambda o: [c["type"] for c in o["status"]["conditions"]]
     == ["KernelDeadlock", "Ready", "MemoryPressure"]),
    ("reorder", {"status": {"$setElementOrder/conditions": [{"type": "MemoryPressure"}, {"type": "Ready"}]}},
     lambda o: [c["type"] for c in o["status"]["conditions"]] == ["MemoryPressure", "Ready"]),
    ("finalizer set union", {"metadata": {"finalizers": ["y", "z"]}},
     lambda o: o["metadata"]["finalizers"] == ["x", "y", "z"]),
    ("finalizer delete", {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}},
     lambda o: o["metadata"]["finalizers"] == ["y"]),
    ("finalizer order", {"metadata": {"$setElementOrder/finalizers": ["y", "x", "w"], "finalizers": ["w"]}},
     lambda o: o["metadata"]["finalizers"] == ["y", "x", "w"]),
    ("list replace directive", {"spec": {"taints": [{"$patch": "replace"}, {"key": "only", "effect": "E"}]}},
     lambda o: o["spec"]["taints"] == [{"key": "only", "effect": "E"}]),
    ("map replace directive", {"metadata": {"labels": {"$patch": "replace", "z": "9"}}},
     lambda o: o["metadata"]["labels"] == {"z": "9"}),
    ("map delete directive", {"metadata": {"labels": {"$patch": "delete"}}},
     lambda o: o["metadata"]["labels"] == {}),
    ("map merge directive", {"metadata": {"labels": {"$patch": "merge", "c": "3"}}},
     lambda o: o["metadata"]["labels"] == {"a": "1", "b": "2", "c": "3"}),
    ("atomic list without hint", {"status": {"images": [{"names": ["a"]}]}},
     lambda o: o["status"]["images"] == [{"names": ["a"]}]),
])
def test_strategic_merge_on_node(name: str, patch: dict[str, Any], check: Any) -> None:
    target = node()
    snapshot = copy.deepcopy(target), copy.deepcopy(patch)
    out = strategic_merge_patch(target, patch, NODE_HINTS)
    assert check(out), (name, out)
    assert (target, patch) == snapshot
    assert "$" not in repr(out)


@pytest.mark.parametrize(("target", "patch", "expected"), [
    # nested merge list inside a merge list item
    ({"spec": {"containers": [{"name": "a", "image": "i1", "env": [{"name": "X", "value": "1"}]}]}},
     {"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]}]}},
     {"spec": {"containers": [{"name": "a", "image": "i1",
                               "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "1"}]}]}}),
    # $retainKeys drops keys that are not listed
    ({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}},
     {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
     {"spec": {"strategy": {"type": "Recreate"}}}),
    # null inside a merged item deletes that key
    ({"spec": {"containers": [{"name": "a", "image": "i1", "command": ["x"]}]}},
     {"spec": {"containers": [{"name": "a", "command": None}]}},
     {"spec": {"containers": [{"name": "a", "image": "i1"}]}}),
    # a new item has its nulls and directives dropped
    ({"spec": {"containers": []}},
     {"spec": {"containers": [{"name": "b", "image": None, "env": [{"name": "E", "value": "v"}]}]}},
     {"spec": {"containers": [{"name": "b", "env": [{"name": "E", "value": "v"}]}]}}),
    # client-side apply of a ConfigMap: plain maps merge, last-applied annotation updates
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "annotations": {"x": "1"}},
      "data": {"a": "1", "b": "2"}},
     {"metadata": {"annotations": {"x": "2"}}, "data": {"a": None, "c": "3"}},
     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "annotations": {"x": "2"}},
      "data": {"b": "2", "c": "3"}}),
])
def test_strategic_merge_cases(target: Any, patch: Any, expected: Any) -> None:
    assert strategic_merge_patch(target, patch, POD_HINTS) == expected


@pytest.mark.parametrize(("patch", "message"), [
    (["x"], "json: cannot unmarshal array into Go value of type map[string]interface {}"),
    ({"spec": {"taints": [{"$patch": "delete"}]}}, "does not contain declared merge key: key"),
    ({"spec": {"taints": [{"effect": "x"}]}}, "does not contain declared merge key: key"),
    ({"spec": {"$patch": "bogus"}}, "unknown patch type: bogus"),
])
def test_strategic_merge_errors(patch: Any, message: str) -> None:
    with pytest.raises(StatusError) as exc:
        strategic_merge_patch(node(), patch, NODE_HINTS)
    assert exc.value.code == 400
    assert message in exc.value.message


# --------------------------------------------------------------------------- properties

_keys = st.sampled_from(["a", "b", "c", "d", "spec", "x"])
_scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=12,
)
_objects = st.dictionaries(_keys, _json, max_size=4)


@settings(max_examples=300, deadline=None)
@given(target=_objects, patch=_objects)
def test_strategic_without_hints_equals_merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> None:
    assert strategic_merge_patch(target, patch, {}) == merge_patch(target, patch)


@settings(max_examples=200, deadline=None)
@given(target=_objects, patch=_objects)
def test_merge_patch_is_idempotent(target: dict[str, Any], patch: dict[str, Any]) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once
