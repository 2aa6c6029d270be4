"""Tests for server-side apply and managedFields tracking (kubenode.apiserver.apply)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubenode.apiserver.apply import fieldset_of, server_side_apply, track_update
from kubenode.apiserver.errors import StatusError
from kubenode.apiserver.patch import merge_patch, strategic_merge_patch

from .hotpath_objects import NODE_HINTS, heartbeat_node, heartbeat_patch

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": {
            "replicas": {"type": "integer"},
            "image": {"type": "string"},
            "args": {"type": "array", "items": {"type": "string"}},
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "params": {"type": "object", "additionalProperties": {"type": "string"}},
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                      "x-kubernetes-list-map-keys": ["port", "protocol"],
                      "items": {"type": "object", "properties": {
                          "port": {"type": "integer"}, "protocol": {"type": "string"},
                          "name": {"type": "string"}}}},
        }},
        "status": {"type": "object", "properties": {
            "conditions": {"type": "array", "x-kubernetes-list-type": "map",
                           "x-kubernetes-list-map-keys": ["type"],
                           "items": {"type": "object", "properties": {
                               "type": {"type": "string"}, "status": {"type": "string"},
                               "reason": {"type": "string"}}}},
        }},
    },
}
V = "kubenode.io/v1alpha1"


def cfg(spec: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": V, "kind": "Thing", "metadata": {"name": "t", **meta}}
    if spec is not None:
        obj["spec"] = spec
    return obj


def apply(live: dict[str, Any] | None, applied: dict[str, Any], manager: str, *, force: bool = False,
          now: str = "2024-01-01T00:00:00Z", schema: dict[str, Any] | None = SCHEMA) -> dict[str, Any]:
    return server_side_apply(live, applied, manager=manager, force=force, api_version=V, schema=schema,
                             hints={}, now=now)


def managers(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e["fieldsV1"] for e in obj["metadata"].get("managedFields", [])}


# --------------------------------------------------------------------------- fieldset_of


@pytest.mark.parametrize(("obj", "schema", "hints", "expected"), [
    (cfg({"replicas": 1}, labels={"a": "1"}, uid="u", resourceVersion="3"), SCHEMA, {},
     {"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:replicas": {}}}),
    (cfg({"args": ["x", "y"]}), SCHEMA, {}, {"f:spec": {"f:args": {}}}),  # atomic list: one leaf
    (cfg({"tags": ["b", "a"]}), SCHEMA, {}, {"f:spec": {"f:tags": {'v:"b"': {}, 'v:"a"': {}}}}),
    (cfg({"ports": [{"protocol": "TCP", "port": 80, "name": "http"}]}), SCHEMA, {},
     {"f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {
         ".": {}, "f:port": {}, "f:protocol": {}, "f:name": {}}}}}),
    (cfg({"params": {"k": "v"}}), SCHEMA, {}, {"f:spec": {"f:params": {"f:k": {}}}}),
    (cfg({"free": {"nested": {"x": 1}}}), SCHEMA, {},  # undeclared: every map key is owned as a whole too
     {"f:spec": {"f:free": {".": {}, "f:nested": {".": {}, "f:x": {}}}}}),
    (cfg({"empty": {}}), None, {}, {"f:spec": {"f:empty": {}}}),
    (cfg(None, finalizers=["f1"]), None, {}, {"f:metadata": {"f:finalizers": {'v:"f1"': {}}}}),
    ({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
      "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}, None, NODE_HINTS,
     {"f:spec": {"f:taints": {'k:{"key":"k"}': {".": {}, "f:key": {}, "f:effect": {}}}}}),
    (cfg(None), SCHEMA, {}, {}),
])
def test_fieldset_of(obj: dict[str, Any], schema: Any, hints: Any, expected: dict[str, Any]) -> None:
    assert fieldset_of(obj, schema, hints) == expected


# --------------------------------------------------------------------------- conflicts


def test_conflict_on_replicas_has_kube_message() -> None:
    live = apply(None, cfg({"replicas": 1}), "alice")
    with pytest.raises(StatusError) as exc:
        apply(live, cfg({"replicas": 2}), "bob")
    err = exc.value
    assert (err.code, err.reason) == (409, "Conflict")
    assert err.message == 'Apply failed with 1 conflict: conflict with "alice": .spec.replicas'
    assert err.causes == [
        {"type": "FieldManagerConflict", "message": 'conflict with "alice"', "field": ".spec.replicas"}]


def test_several_conflicts_are_grouped_by_manager() -> None:
    live = apply(None, cfg({"replicas": 1}), "alice")
    live = apply(live, cfg({"image": "i1"}), "carol")
    with pytest.raises(StatusError) as exc:
        apply(live, cfg({"replicas": 2, "image": "i2"}), "bob")
    assert exc.value.message == (
        'Apply failed with 2 conflicts: conflicts with "alice":\n- .spec.replicas\n'
        'conflicts with "carol":\n- .spec.image')
    assert [c["field"] for c in exc.value.causes] == [".spec.replicas", ".spec.image"]


def test_conflict_with_an_update_manager_names_its_version() -> None:
    live = apply(None, cfg({"replicas": 1}), "alice")
    new = merge_patch(live, {"spec": {"replicas": 5}})
    track_update(live, new, manager="kubectl-edit", api_version=V, schema=SCHEMA, hints={}, now="T")
    with pytest.raises(StatusError) as exc:
        apply(new, cfg({"replicas": 1}), "alice")
    assert exc.value.message == (
        f'Apply failed with 1 conflict: conflict with "kubectl-edit" using {V}: .spec.replicas')


def test_conflict_on_keyed_item_path() -> None:
    live = apply(None, cfg({"ports": [{"port": 80, "protocol": "TCP", "name": "a"}]}), "alice")
    with pytest.raises(StatusError) as exc:
        apply(live, cfg({"ports": [{"port": 80, "protocol": "TCP", "name": "b"}]}), "bob")
    assert exc.value.causes[0]["field"] == '.spec.ports[port=80,protocol="TCP"].name'


def test_force_takes_ownership() -> None:
    live = apply(None, cfg({"replicas": 1, "image": "i"}), "alice")
    out = apply(live, cfg({"replicas": 2}), "bob", force=True)
    assert out["spec"] == {"replicas": 2, "image": "i"}
    assert managers(out) == {("alice", "Apply"): {"f:spec": {"f:image": {}}},
                             ("bob", "Apply"): {"f:spec": {"f:replicas": {}}}}


def test_same_value_is_shared_not_a_conflict() -> None:
    live = apply(None, cfg({"replicas": 1}), "alice")
    out = apply(live, cfg({"replicas": 1}), "bob")
    assert managers(out) == {("alice", "Apply"): {"f:spec": {"f:replicas": {}}},
                             ("bob", "Apply"): {"f:spec": {"f:replicas": {}}}}


# --------------------------------------------------------------------------- merge, prune, list kinds


@pytest.mark.parametrize(("first", "second", "expected_spec"), [
    # a field dropped from the configuration is removed
    ({"replicas": 1, "image": "i"}, {"replicas": 1}, {"replicas": 1}),
    # a keyed item dropped from the configuration is removed
    ({"ports": [{"port": 1, "protocol": "TCP"}, {"port": 2, "protocol": "TCP"}]},
     {"ports": [{"port": 2, "protocol": "TCP"}]}, {"ports": [{"port": 2, "protocol": "TCP"}]}),
    # set items dropped are removed
    ({"tags": ["a", "b"]}, {"tags": ["b"]}, {"tags": ["b"]}),
    # atomic lists are replaced whole
    ({"args": ["a", "b"]}, {"args": ["c"]}, {"args": ["c"]}),
    # dropping the whole map-typed field removes it
    ({"params": {"a": "1"}, "replicas": 1}, {"replicas": 1}, {"replicas": 1}),
])
def test_reapply_removes_what_was_dropped(first: dict[str, Any], second: dict[str, Any],
                                          expected_spec: dict[str, Any]) -> None:
    live = apply(None, cfg(first), "alice")
    out = apply(live, cfg(second), "alice")
    assert out["spec"] == expected_spec
    assert managers(out)[("alice", "Apply")] == fieldset_of(cfg(second), SCHEMA, {})


def test_dropped_field_owned_by_another_manager_stays() -> None:
    live = apply(None, cfg({"replicas": 1, "image": "i"}), "alice")
    live = apply(live, cfg({"image": "i"}), "bob")
    out = apply(live, cfg({"replicas": 1}), "alice")
    assert out["spec"] == {"replicas": 1, "image": "i"}
    assert managers(out)[("bob", "Apply")] == {"f:spec": {"f:image": {}}}


def test_conditions_merge_by_key_with_per_item_ownership() -> None:
    live = apply(None, {**cfg(None), "status": {"conditions": [{"type": "A", "status": "True"}]}}, "agent-a")
    out = apply(live, {**cfg(None), "status": {"conditions": [{"type": "B", "status": "False"}]}}, "agent-b")
    assert out["status"]["conditions"] == [{"type": "A", "status": "True"}, {"type": "B", "status": "False"}]
    m = managers(out)
    assert m[("agent-a", "Apply")] == {"f:status": {"f:conditions": {
        'k:{"type":"A"}': {".": {}, "f:status": {}, "f:type": {}}}}}
    assert m[("agent-b", "Apply")] == {"f:status": {"f:conditions": {
        'k:{"type":"B"}': {".": {}, "f:status": {}, "f:type": {}}}}}
    # agent-a updating its own item conflicts with nobody
    out2 = apply(out, {**cfg(None), "status": {"conditions": [{"type": "A", "status": "False"}]}}, "agent-a")
    assert out2["status"]["conditions"][0] == {"type": "A", "status": "False"}
    # but touching B's item does
    with pytest.raises(StatusError) as exc:
        apply(out2, {**cfg(None), "status": {"conditions": [{"type": "B", "status": "True"}]}}, "agent-a")
    assert exc.value.causes[0]["field"] == '.status.conditions[type="B"].status'


def test_set_list_unions_and_atomic_list_conflicts() -> None:
    live = apply(None, cfg({"tags": ["a"], "args": ["x"]}), "alice")
    out = apply(live, cfg({"tags": ["b"]}), "bob")
    assert out["spec"]["tags"] == ["a", "b"]
    with pytest.raises(StatusError) as exc:
        apply(out, cfg({"args": ["y"]}), "bob")
    assert exc.value.causes[0]["field"] == ".spec.args"


def test_merge_preserves_live_only_items_in_place() -> None:
    live = apply(None, cfg({"ports": [{"port": 1, "protocol": "TCP"}, {"port": 2, "protocol": "TCP"}]}), "a")
    out = apply(live, cfg({"ports": [{"port": 3, "protocol": "TCP"}, {"port": 1, "protocol": "TCP"}]}), "b")
    assert [p["port"] for p in out["spec"]["ports"]] == [3, 1, 2]


def test_builtin_node_with_hints() -> None:
    applied = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "labels": {"x": "1"}},
               "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}
    out = server_side_apply(None, applied, manager="m", force=False, api_version="v1", schema=None,
                            hints=NODE_HINTS, now="T")
    other = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
             "spec": {"taints": [{"key": "j", "effect": "NoExecute"}]}}
    out2 = server_side_apply(out, other, manager="o", force=False, api_version="v1", schema=None,
                             hints=NODE_HINTS, now="T")
    assert [t["key"] for t in out2["spec"]["taints"]] == ["k", "j"]


# --------------------------------------------------------------------------- lifecycle


def test_create_through_apply_has_one_entry() -> None:
    out = apply(None, cfg({"replicas": 1}, labels={"a": "b"}), "kubectl", now="T0")
    assert out["metadata"]["managedFields"] == [{
        "manager": "kubectl", "operation": "Apply", "apiVersion": V, "time": "T0", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:replicas": {}}}}]


def test_reapply_is_idempotent() -> None:
    config = cfg({"replicas": 1, "tags": ["a"], "ports": [{"port": 1, "protocol": "UDP"}]}, labels={"l": "v"})
    first = apply(None, config, "kubectl", now="T0")
    second = apply(first, config, "kubectl", now="T1")
    assert second == first  # nothing changed: not even the entry's time moves (as in kube)


def test_apply_does_not_mutate_inputs() -> None:
    live = apply(None, cfg({"replicas": 1, "image": "x"}), "alice")
    applied = cfg({"replicas": 1})
    snapshot = copy.deepcopy(live), copy.deepcopy(applied)
    out = apply(live, applied, "alice")
    out["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:zzz"] = {}
    assert (live, applied) == snapshot


def test_managed_fields_in_applied_config_is_rejected() -> None:
    with pytest.raises(StatusError) as exc:
        apply(None, cfg({}, managedFields=[]), "a")
    assert (exc.value.code, exc.value.message) == (400, "metadata.managedFields must be nil")


def test_untracked_object_is_owned_by_before_first_apply() -> None:
    live = cfg({"replicas": 3})
    with pytest.raises(StatusError) as exc:
        apply(live, cfg({"replicas": 1}), "kubectl")
    assert '"before-first-apply" using' in exc.value.message


# --------------------------------------------------------------------------- track_update


def update(old: dict[str, Any] | None, new: dict[str, Any], manager: str, now: str = "T9",
           subresource: str = "", hints: dict[str, tuple[str, str]] | None = None,
           schema: dict[str, Any] | None = SCHEMA) -> dict[str, Any]:
    track_update(old, new, manager=manager, api_version=V, subresource=subresource, schema=schema,
                 hints=hints or {}, now=now)
    return new


@pytest.mark.parametrize(("patch", "expected"), [
    # a merge patch moves ownership of the changed field
    ({"spec": {"replicas": 5}},
     {("kubectl", "Apply"): {"f:spec": {"f:image": {}}},
      ("editor", "Update"): {"f:spec": {"f:replicas": {}}}}),
    # added map: the new node is owned as a whole
    ({"spec": {"params": {"a": "1"}}},
     {("kubectl", "Apply"): {"f:spec": {"f:image": {}, "f:replicas": {}}},
      ("editor", "Update"): {"f:spec": {"f:params": {".": {}, "f:a": {}}}}}),
    # removal: nobody owns the removed field any more; empty entries disappear
    ({"spec": {"image": None, "replicas": None}}, {}),
    # unchanged values take nothing
    ({"spec": {"replicas": 1}}, {("kubectl", "Apply"): {"f:spec": {"f:image": {}, "f:replicas": {}}}}),
])
def test_update_tracking(patch: dict[str, Any], expected: dict[Any, Any]) -> None:
    live = apply(None, cfg({"replicas": 1, "image": "i"}), "kubectl")
    new = update(live, merge_patch(live, patch), "editor")
    assert managers(new) == expected


def test_update_on_create_and_merge_of_own_entry() -> None:
    obj = cfg({"replicas": 1})
    update(None, obj, "ctrl", now="T1")
    assert obj["metadata"]["managedFields"] == [{
        "manager": "ctrl", "operation": "Update", "apiVersion": V, "time": "T1", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {".": {}, "f:replicas": {}}}}]
    new = update(obj, merge_patch(obj, {"spec": {"image": "x"}}), "ctrl", now="T2")
    assert new["metadata"]["managedFields"][0]["fieldsV1"] == {
        "f:spec": {".": {}, "f:image": {}, "f:replicas": {}}}
    assert new["metadata"]["managedFields"][0]["time"] == "T2"


def test_status_conditions_update_per_item() -> None:
    conditions = [{"type": "A", "status": "True"}, {"type": "B", "status": "x"}]
    obj = {**cfg(None), "status": {"conditions": conditions}}
    update(None, obj, "agent", subresource="status")
    new = strategic_merge_patch(obj, {"status": {"conditions": [{"type": "B", "status": "y"}]}}, NODE_HINTS)
    update(obj, new, "healer", subresource="status")
    m = {(e["manager"], e.get("subresource")): e["fieldsV1"] for e in new["metadata"]["managedFields"]}
    assert m[("healer", "status")] == {"f:status": {"f:conditions": {'k:{"type":"B"}': {"f:status": {}}}}}
    assert 'k:{"type":"B"}' in m[("agent", "status")]["f:status"]["f:conditions"]
    assert m[("agent", "status")]["f:status"]["f:conditions"]['k:{"type":"B"}'] == {".": {}, "f:type": {}}


@pytest.mark.parametrize(("sent", "expected_managers"), [
    (None, {"kubectl", "editor"}),  # not sent: the stored entries are kept
    ([{}], {"editor"}),  # a single empty entry resets them
])
def test_update_managed_fields_sources(sent: Any, expected_managers: set[str]) -> None:
    live = apply(None, cfg({"replicas": 1, "image": "i"}), "kubectl")
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 2
    if sent is None:
        del new["metadata"]["managedFields"]
    else:
        new["metadata"]["managedFields"] = sent
    update(live, new, "editor")
    assert {e["manager"] for e in new["metadata"]["managedFields"]} == expected_managers


def test_update_without_manager_keeps_stored_entries() -> None:
    live = apply(None, cfg({"replicas": 1}), "kubectl")
    new = copy.deepcopy(live)
    del new["metadata"]["managedFields"]
    update(live, new, "")
    assert new["metadata"]["managedFields"] == live["metadata"]["managedFields"]
    bare = cfg({"replicas": 1})
    update(None, bare, "")
    assert "managedFields" not in bare["metadata"]


def test_update_managers_are_capped() -> None:
    obj = cfg({})
    update(None, obj, "m00", now="T00")
    for i in range(1, 13):
        new = merge_patch(obj, {"spec": {f"f{i}": i}})
        update(obj, new, f"m{i:02d}", now=f"T{i:02d}")
        obj = new
    names = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(names) == 10
    assert "ancient-changes" in names


def test_heartbeat_update_is_tracked() -> None:
    obj = heartbeat_node()
    update(None, obj, "kubelet", hints=NODE_HINTS, schema=None)
    new = strategic_merge_patch(obj, heartbeat_patch(), NODE_HINTS)
    tracked = copy.deepcopy(new)
    track_update(obj, tracked, manager="kubelet", api_version="v1", subresource="status", schema=None,
                 hints=NODE_HINTS, now="T")
    entry = next(e for e in tracked["metadata"]["managedFields"] if e["manager"] == "kubelet")
    assert entry["subresource"] == "status"
    # How fast: bench/hotpaths.py prints it (timings are not asserted in tests).


# --------------------------------------------------------------------------- properties

_names = st.sampled_from(["a", "b", "c"])
_specs = st.fixed_dictionaries({}, optional={
    "replicas": st.integers(0, 3),
    "image": st.sampled_from(["x", "y"]),
    # Empty granular lists claim nothing (kube too), which makes re-apply after pruning not converge.
    "tags": st.lists(_names, min_size=1, max_size=3, unique=True),
    "args": st.lists(_names, max_size=2),
    "params": st.dictionaries(_names, st.sampled_from(["1", "2"]), max_size=2),
    "ports": st.lists(st.fixed_dictionaries({"port": st.integers(1, 3), "protocol": st.just("TCP")},
                                            optional={"name": _names}),
                      min_size=1, max_size=3, unique_by=lambda p: p["port"]),
})


@settings(max_examples=150, deadline=None)
@given(first=_specs, second=_specs)
def test_reapply_converges(first: dict[str, Any], second: dict[str, Any]) -> None:
    """Applying a config twice changes nothing the second time, and the manager owns exactly the config."""
    live = apply(None, cfg(first), "m", now="T0")
    once = apply(live, cfg(second), "m", now="T1")
    twice = apply(once, cfg(second), "m", now="T2")
    assert twice == once
    want = fieldset_of(cfg(second), SCHEMA, {})
    assert managers(once).get(("m", "Apply"), {}) == want
    # A sole manager's object holds exactly what it applied.
    for key, value in second.items():
        assert once["spec"][key] == value
