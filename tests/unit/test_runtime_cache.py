"""The informer cache and client-side label selectors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubenode.runtime.cache import Cache, _Strings, _Subtrees, compact, object_key
from kubenode.runtime.labels import compile_selector


def obj(name: str, ns: str = "", rv: str = "1", **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "resourceVersion": rv, "labels": labels}
    if ns:
        meta["namespace"] = ns
    return {"metadata": meta}


@pytest.mark.parametrize(("selector", "labels", "match"), [
    (None, {}, True),
    ("", {"a": "1"}, True),
    ("a=1", {"a": "1"}, True),
    ("a==1", {"a": "2"}, False),
    ("a!=1", {}, True),
    ("a!=1", {"a": "1"}, False),
    ("a", {"a": ""}, True),
    ("!a", {"a": "x"}, False),
    ("!a", {"b": "x"}, True),
    ("env in (prod, staging)", {"env": "prod"}, True),
    ("env in (prod,staging)", {"env": "dev"}, False),
    ("env notin (prod)", {}, True),
    ("env notin (prod)", {"env": "prod"}, False),
    ("a=1,env in (x,y),!z", {"a": "1", "env": "y"}, True),
    ("a=1,env in (x,y),!z", {"a": "1", "env": "y", "z": "1"}, False),
    ("kubenode.io/machine=m1", {"kubenode.io/machine": "m1"}, True),
    ({"a": "1", "b": "2"}, {"a": "1", "b": "2", "c": "3"}, True),
    ({"a": "1", "b": "2"}, {"a": "1"}, False),
])
def test_label_selectors(selector: Any, labels: dict[str, str], match: bool) -> None:
    assert compile_selector(selector)(labels) is match


def test_invalid_selector() -> None:
    with pytest.raises(ValueError, match="unable to parse requirement"):
        compile_selector("a in b")


def test_get_list_namespaces_and_keys() -> None:
    c = Cache()
    c.upsert(obj("a", "ns1", app="x"))
    c.upsert(obj("b", "ns2", app="y"))
    c.upsert(obj("node1"))
    assert object_key(obj("a", "ns1")) == "ns1/a" and object_key(obj("n")) == "n"
    assert (c.get("ns1", "a") or {})["metadata"]["name"] == "a"
    assert c.get("", "node1") is not None and c.get("ns1", "b") is None
    assert {o["metadata"]["name"] for o in c.list()} == {"a", "b", "node1"}
    assert [o["metadata"]["name"] for o in c.list("ns2")] == ["b"]
    assert [o["metadata"]["name"] for o in c.list(label_selector="app=x")] == ["a"]
    assert c.list("ns1", label_selector={"app": "y"}) == []
    c.delete(obj("b", "ns2"))
    assert c.list("ns2") == [] and len(c) == 2


def test_indexes_follow_updates_and_deletes() -> None:
    c = Cache()
    c.upsert(obj("a", "ns", app="x"))
    c.add_index("app", lambda o: [o["metadata"]["labels"].get("app", "")])  # existing objects are indexed
    c.upsert(obj("b", "ns", app="x"))
    assert sorted(o["metadata"]["name"] for o in c.by_index("app", "x")) == ["a", "b"]
    c.upsert(obj("a", "ns", rv="2", app="y"))
    assert [o["metadata"]["name"] for o in c.by_index("app", "x")] == ["b"]
    assert [o["metadata"]["name"] for o in c.by_index("app", "y")] == ["a"]
    c.delete(obj("b", "ns"))
    assert c.by_index("app", "x") == []
    with pytest.raises(KeyError):
        c.by_index("nope", "x")
    with pytest.raises(ValueError, match="already exists"):
        c.add_index("app", lambda o: [])


def test_replace_reports_only_real_changes() -> None:
    c = Cache()
    c.upsert(obj("same", "ns", rv="1"))
    c.upsert(obj("changed", "ns", rv="1"))
    c.upsert(obj("gone", "ns", rv="1"))
    changes = c.replace([obj("same", "ns", rv="1"), obj("changed", "ns", rv="5"), obj("new", "ns", rv="6")])
    summary = {((o or {}).get("metadata", {}).get("name"), (n or {}).get("metadata", {}).get("name"))
               for o, n in changes}
    assert summary == {("changed", "changed"), (None, "new"), ("gone", None)}
    assert len(changes) == 3
    assert sorted(c.keys()) == ["ns/changed", "ns/new", "ns/same"]


@pytest.mark.parametrize(
    ("cached_rv", "written_rv", "stored"),
    [
        (None, "5", True),  # not cached yet: remember our write
        ("5", "6", True),  # ours is newer
        ("7", "6", False),  # the watch already brought something newer: keep it
        ("6", "6", False),
        ("abc", "6", False),  # opaque versions: leave it to the watch
    ],
)
def test_remember_never_replaces_a_newer_version(cached_rv: str | None, written_rv: str, stored: bool) -> None:
    c = Cache()
    if cached_rv is not None:
        c.upsert({"metadata": {"name": "x", "resourceVersion": cached_rv}, "v": "cached"})
    assert c.remember({"metadata": {"name": "x", "resourceVersion": written_rv}, "v": "written"}) is stored
    got = c.get("", "x")
    assert got is not None
    assert got["v"] == ("written" if stored else "cached")


# --------------------------------------------------------------------------- compact (the informers' transform)

SERVED = {
    "apiVersion": "v1", "kind": "Node",
    "metadata": {"name": "n1", "uid": "6c1f", "resourceVersion": "41", "labels": {"zone": "a"},
                 "managedFields": [{"manager": "agent", "operation": "Update", "fieldsV1": {"f:status": {}}}]},
    "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                               "lastTransitionTime": "2026-12-02T20:00:00Z"}], "images": [], "capacity": {"cpu": "4"}},
}


def _copy(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def test_compact_drops_managed_fields_and_keeps_everything_else() -> None:
    served = _copy(SERVED)
    out = compact(served)
    assert served == SERVED  # the input is not changed
    expected = _copy(SERVED)
    del expected["metadata"]["managedFields"]
    assert out == expected
    assert compact({"metadata": {"name": "x"}}) == {"metadata": {"name": "x"}}
    assert compact({"kind": "Status"}) == {"kind": "Status"}  # no metadata at all


def test_compact_shares_repeated_strings_but_not_unique_values() -> None:
    a, b = compact(_copy(SERVED)), compact(_copy(SERVED))
    key_a = next(k for k in a["status"] if k == "conditions")
    key_b = next(k for k in b["status"] if k == "conditions")
    assert key_a is key_b  # one copy of a field name
    assert a["status"]["conditions"][0]["reason"] is b["status"]["conditions"][0]["reason"]
    assert a["metadata"]["labels"]["zone"] is b["metadata"]["labels"]["zone"]
    # Second-resolution timestamps repeat (a batch stamped in one second): shared.
    assert a["status"]["conditions"][0]["lastTransitionTime"] is b["status"]["conditions"][0]["lastTransitionTime"]
    # Unique per object or per write: not worth a table entry.
    assert a["metadata"]["uid"] is not b["metadata"]["uid"]
    assert a["metadata"]["resourceVersion"] is not b["metadata"]["resourceVersion"]
    long_a, long_b = compact(_copy({"m": "x" * 100})), compact(_copy({"m": "x" * 100}))
    assert long_a == long_b and long_a["m"] is not long_b["m"]  # long strings stay as they are


def test_the_shared_string_table_is_bounded() -> None:
    strings = _Strings(limit=3)
    for s in ("a", "b", "c", "d"):
        strings.share(s)
    assert len(strings.table) == 1  # full at "d": started afresh
    same = "".join(["d"])
    assert strings.share(same) == "d"


def test_remember_stores_the_written_object_compacted() -> None:
    cache = Cache(compact)
    assert cache.remember(_copy(SERVED))
    stored = cache.get("", "n1")
    assert stored is not None and "managedFields" not in stored["metadata"]


def _node(name: str, beat: str, ready: object = "True") -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": f"uid-{name}"},
            "status": {"capacity": {"cpu": "8", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": beat}],
                       "addresses": [{"type": "Hostname", "address": name}],
                       "nodeInfo": {"bootID": f"boot-{name}", "kernelVersion": "6.1"}}}


@pytest.mark.parametrize(("a", "b", "path", "shared"), [
    (_node("a", "t1"), _node("b", "t1"), ("capacity",), True),  # the same shape
    (_node("a", "t1"), _node("b", "t1"), ("conditions",), True),  # the same second: the whole list
    (_node("a", "t1"), _node("b", "t2"), ("conditions",), False),  # another heartbeat second
    (_node("a", "t1"), _node("b", "t1"), ("addresses",), False),  # the node's own name inside
    (_node("a", "t1"), _node("b", "t1"), ("nodeInfo",), False),  # a bootID is never shared
    (_node("a", "t1", ready=True), _node("b", "t1", ready=1), ("conditions",), False),  # True is not 1
])
def test_compact_shares_equal_status_subtrees(a: dict[str, Any], b: dict[str, Any], path: tuple[str, ...],
                                              shared: bool) -> None:
    ca, cb = compact(_copy(a)), compact(_copy(b))
    va, vb = ca["status"], cb["status"]
    for p in path:
        va, vb = va[p], vb[p]
    assert (va is vb) == shared
    assert ca == a and cb == b  # the values are unchanged either way
    assert ca["status"] is not cb["status"]  # an object's status dict is its own


def test_the_shared_subtree_table_is_bounded() -> None:
    table = _Subtrees(limit=2)
    for i in range(3):
        table.share(("d", "k", str(i)), {"k": str(i)})
    assert len(table.table) == 1  # full at the third: started afresh
