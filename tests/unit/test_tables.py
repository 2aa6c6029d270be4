"""Table rendering, JSONPath, ages and the built-in printer columns."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.apiserver import builtin_columns as bc
from kubenode.apiserver.errors import StatusError
from kubenode.apiserver.resources import PrinterColumn
from kubenode.apiserver.tables import (
    CREATION_TIMESTAMP_DESCRIPTION,
    NAME_DESCRIPTION,
    custom_resource_columns,
    human_duration,
    jsonpath_get,
    parse_timestamp,
    render_table,
)

NOW = parse_timestamp("2026-11-25T12:00:00Z")
M, H, D = 60, 3600, 86400


def ago(seconds: float) -> str:
    """An RFC3339 timestamp `seconds` before NOW."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - seconds))


# --- durations and timestamps ------------------------------------------------------------------

@pytest.mark.parametrize(("seconds", "expected"), [
    (-3, "<invalid>"), (-2, "<invalid>"), (-1.5, "0s"), (-1, "0s"), (0, "0s"), (0.9, "0s"), (1, "1s"),
    (45, "45s"), (119, "119s"), (120, "2m"), (123, "2m3s"), (599, "9m59s"), (600, "10m"), (12 * M, "12m"),
    (179 * M + 59, "179m"), (3 * H, "3h"), (3 * H + 4 * M, "3h4m"), (7 * H + 59 * M, "7h59m"), (8 * H, "8h"),
    (47 * H + 59 * M, "47h"), (2 * D, "2d"), (2 * D + 5 * H, "2d5h"), (7 * D + 23 * H, "7d23h"),
    (8 * D, "8d"), (400 * D, "400d"), (729 * D, "729d"), (730 * D, "2y"), (760 * D, "2y30d"),
    (8 * 365 * D - D, "7y364d"), (8 * 365 * D, "8y"), (100 * 365 * D, "100y"),
])
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


@pytest.mark.parametrize(("text", "epoch"), [
    ("1970-01-01T00:00:00Z", 0.0),
    ("2026-11-25T11:12:03Z", 1795605123.0),
    ("2026-11-25T11:12:03.5Z", 1795605123.5),
    ("2026-11-25T12:12:03+01:00", 1795605123.0),
    ("2026-11-25T11:12:03.123456Z", 1795605123.123456),
])
def test_parse_timestamp(text: str, epoch: float) -> None:
    assert parse_timestamp(text) == pytest.approx(epoch)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-11-25T11:12:03", "2026-13-01T00:00:00Z"])
def test_parse_timestamp_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


@given(st.integers(min_value=0, max_value=4_000_000_000))
def test_parse_timestamp_round_trips(epoch: int) -> None:
    assert parse_timestamp(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))) == epoch


# --- JSONPath ----------------------------------------------------------------------------------

DOC: dict[str, Any] = {
    "metadata": {"name": "n", "labels": {"kubernetes.io/arch": "amd64", "a.b": "dot", "app": "web"}},
    "spec": {"containers": [{"name": "c0", "image": "i0"}, {"name": "c1", "image": "i1"}], "replicas": 3},
    "status": {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True", "n": 1},
            {"type": "Synced", "status": "False", "n": 5},
        ],
        "empty": None,
    },
    "items": [{"name": "a"}, {"name": "b"}, {"other": 1}],
}


@pytest.mark.parametrize(("path", "expected"), [
    (".status.phase", ["Running"]),
    ("{.status.phase}", ["Running"]),
    ("{$.status.phase}", ["Running"]),
    ("status.phase", ["Running"]),
    (".spec.replicas", [3]),
    (".status.empty", [None]),
    (".status.missing", []),
    (".status.phase.deeper", []),
    (".spec.containers[0].name", ["c0"]),
    (".spec.containers[-1].name", ["c1"]),
    (".spec.containers[5].name", []),
    (".spec.containers[0:1].name", ["c0"]),
    (".spec.containers[*].image", ["i0", "i1"]),
    (".spec.containers[0,1].name", ["c0", "c1"]),
    (".items[*].name", ["a", "b"]),
    (".metadata.labels.app", ["web"]),
    (".metadata.labels['kubernetes.io/arch']", ["amd64"]),
    ('.metadata.labels["kubernetes.io/arch"]', ["amd64"]),
    (".metadata.labels['app','a.b']", ["web", "dot"]),
    (r".metadata.labels.a\.b", ["dot"]),
    ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
    (".status.conditions[?(@.type=='Synced')].status", ["False"]),
    ('.status.conditions[?(@.type != "Ready")].type', ["Synced"]),
    (".status.conditions[?(@.n > 2)].type", ["Synced"]),
    (".status.conditions[?(@.n<=1)].type", ["Ready"]),
    (".status.conditions[?(@.n)].type", ["Ready", "Synced"]),
    ('.status.conditions[?(@.n=="1")].type', []),
    (".items[?(@.other)].other", [1]),
    ("..name", ["n", "c0", "c1", "a", "b"]),
    ("{.metadata.name}{.status.phase}", ["n", "Running"]),
    (".spec.containers[0]", [{"name": "c0", "image": "i0"}]),
])
def test_jsonpath_get(path: str, expected: list[Any]) -> None:
    assert jsonpath_get(DOC, path) == expected


@pytest.mark.parametrize("path", [".a[", ".a[?(@.x=)]", ".a['x", ".a[x]", "{.a"])
def test_jsonpath_syntax_errors(path: str) -> None:
    with pytest.raises(ValueError):
        jsonpath_get(DOC, path)


# --- render_table ------------------------------------------------------------------------------

def _obj(name: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "creationTimestamp": ago(90)}, **extra}


def test_render_table_shape() -> None:
    table = render_table(bc.CONFIGMAP_COLUMNS, [_obj("a", data={"x": "1"})], now=NOW, resource_version="42",
                         continue_token="tok", remaining_item_count=7)
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "continue": "tok", "remainingItemCount": 7}
    assert table["columnDefinitions"][0] == {
        "name": "Name", "type": "string", "format": "name", "description": NAME_DESCRIPTION, "priority": 0,
    }
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert table["columnDefinitions"][2]["description"] == CREATION_TIMESTAMP_DESCRIPTION
    assert table["rows"] == [{
        "cells": ["a", 1, "90s"],
        "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": {"name": "a", "namespace": "default", "creationTimestamp": ago(90)}},
    }]


@pytest.mark.parametrize(("include", "expected"), [
    ("None", None),
    ("Metadata", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                  "metadata": {"name": "a", "namespace": "default", "creationTimestamp": ago(90)}}),
    ("", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
          "metadata": {"name": "a", "namespace": "default", "creationTimestamp": ago(90)}}),
    ("Object", _obj("a")),
])
def test_render_table_include_object(include: str, expected: Any) -> None:
    table = render_table(bc.CONFIGMAP_COLUMNS, [_obj("a")], now=NOW, include_object=include)
    assert table["rows"][0]["object"] == expected


def test_render_table_rejects_unknown_include_object() -> None:
    with pytest.raises(StatusError) as exc:
        render_table((), [], now=NOW, include_object="All")
    assert exc.value.code == 400
    assert exc.value.message == 'unrecognized includeObject value: "All"'


def test_render_table_without_column_definitions_and_empty_metadata() -> None:
    table = render_table(bc.LEASE_COLUMNS, [], now=NOW, with_column_definitions=False)
    assert table["columnDefinitions"] is None
    assert table["metadata"] == {}
    assert table["rows"] == []


def test_render_table_events_keep_their_own_name_column() -> None:
    event = {"metadata": {"name": "e1", "namespace": "default"}, "type": "Normal", "reason": "Started",
             "involvedObject": {"kind": "Pod", "name": "web"}, "message": " hello \n",
             "firstTimestamp": ago(300), "lastTimestamp": ago(60), "count": 4,
             "source": {"component": "kubelet", "host": "n1"}}
    table = render_table(bc.EVENT_COLUMNS, [event], now=NOW)
    names = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert names == [("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1),
                     ("Source", 1), ("Message", 0), ("First Seen", 1), ("Count", 1), ("Name", 1)]
    assert table["rows"][0]["cells"] == ["60s", "Normal", "Started", "pod/web", "", "kubelet, n1", "hello",
                                         "5m", 4, "e1"]


@pytest.mark.parametrize(("event", "cells"), [
    ({"eventTime": ago(30), "involvedObject": {"kind": "Node"}, "reportingComponent": "ctl"},
     {"Last Seen": "30s", "First Seen": "30s", "Count": 1, "Object": "node", "Source": "ctl"}),
    ({"series": {"count": 9, "lastObservedTime": ago(10)}, "firstTimestamp": ago(100)},
     {"Last Seen": "10s", "First Seen": "100s", "Count": 9, "Source": "<unknown>"}),
    ({}, {"Last Seen": "<unknown>", "First Seen": "<unknown>", "Count": 1, "Object": ""}),
])
def test_event_cells(event: dict[str, Any], cells: dict[str, Any]) -> None:
    got = {c.name: c.cell(event, NOW) for c in bc.EVENT_COLUMNS if c.cell is not None}
    assert {k: got[k] for k in cells} == cells


# --- custom resource columns -------------------------------------------------------------------

def test_custom_resource_columns_default_age() -> None:
    (age,) = custom_resource_columns(None)
    assert (age.name, age.type, age.json_path) == ("Age", "date", ".metadata.creationTimestamp")
    assert custom_resource_columns([]) == (age,)
    table = render_table((age,), [_obj("x")], now=NOW)
    assert table["rows"][0]["cells"] == ["x", "90s"]
    assert table["columnDefinitions"][1]["type"] == "date"


CR: dict[str, Any] = {
    "metadata": {"name": "m1", "creationTimestamp": ago(3 * H + 4 * M)},
    "spec": {"replicas": 3, "ratio": 0.5, "paused": True, "big": 1234567.0, "sel": {"b": 1, "a": "<x>"},
             "list": ["a", 1], "when": "not-a-date", "zero": "0001-01-01T00:00:00Z"},
    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
}


@pytest.mark.parametrize(("col_type", "path", "cell"), [
    ("string", ".status.phase", "Running"),
    ("string", '.status.conditions[?(@.type=="Ready")].status', "True"),
    ("string", ".spec.replicas", "3"),
    ("string", ".spec.ratio", "0.5"),
    ("string", ".spec.big", "1.234567e+06"),
    ("string", ".spec.paused", "true"),
    ("string", ".spec.sel", '{"a":"\\u003cx\\u003e","b":1}'),
    ("string", ".spec.list", '["a",1]'),
    ("string", ".spec.missing", None),
    ("integer", ".spec.replicas", 3),
    ("integer", ".spec.ratio", 0),
    ("integer", ".spec.paused", None),
    ("integer", ".status.phase", None),
    ("number", ".spec.replicas", 3.0),
    ("number", ".spec.ratio", 0.5),
    ("boolean", ".spec.paused", True),
    ("boolean", ".spec.replicas", None),
    ("date", ".metadata.creationTimestamp", "3h4m"),
    ("date", ".spec.when", "<invalid>"),
    ("date", ".spec.zero", "<unknown>"),
    ("date", ".spec.replicas", None),
    ("date", ".spec.missing", None),
])
def test_custom_resource_cells(col_type: str, path: str, cell: Any) -> None:
    cols = custom_resource_columns([{"name": "C", "type": col_type, "jsonPath": path}])
    row = render_table(cols, [CR], now=NOW)["rows"][0]
    assert row["cells"] == ["m1", cell]
    assert type(row["cells"][1]) is type(cell)


def test_custom_resource_column_definitions() -> None:
    cols = custom_resource_columns([
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "priority": 1,
         "description": "desired", "format": "int32"},
    ])
    defs = render_table(cols, [], now=NOW)["columnDefinitions"]
    assert defs[1:] == [
        {"name": "Phase", "type": "string", "format": "",
         "description": "Custom resource definition column (in JSONPath format): .status.phase",
         "priority": 0},
        {"name": "Replicas", "type": "integer", "format": "int32", "description": "desired", "priority": 1},
    ]
    with pytest.raises(ValueError, match="unrecognized column definition"):
        custom_resource_columns([{"name": "Bad", "type": "string", "jsonPath": ".a["}])


# --- built-in columns --------------------------------------------------------------------------

def cells(columns: tuple[PrinterColumn, ...], obj: dict[str, Any]) -> dict[str, Any]:
    return {c.name: c.cell(obj, NOW) for c in columns if c.cell is not None}


def _node(conditions: list[dict[str, str]] | None = None, labels: dict[str, str] | None = None,
          **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "n1", "labels": labels or {}, "creationTimestamp": ago(2 * D + 5 * H)},
            "spec": spec, "status": {"conditions": conditions or []}}


@pytest.mark.parametrize(("node", "status", "roles"), [
    (_node([{"type": "Ready", "status": "True"}]), "Ready", "<none>"),
    (_node([{"type": "Ready", "status": "False"}]), "NotReady", "<none>"),
    (_node([{"type": "Ready", "status": "Unknown"}]), "NotReady", "<none>"),
    (_node([{"type": "MemoryPressure", "status": "False"}]), "Unknown", "<none>"),
    (_node([{"type": "Ready", "status": "True"}], unschedulable=True), "Ready,SchedulingDisabled", "<none>"),
    (_node(unschedulable=True), "Unknown,SchedulingDisabled", "<none>"),
    (_node(labels={"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "x"}),
     "Unknown", "control-plane,worker"),
    (_node(labels={"kubernetes.io/role": "master", "node-role.kubernetes.io/": ""}), "Unknown", "master"),
    (_node(labels={"kubernetes.io/role": ""}), "Unknown", "<none>"),
])
def test_node_status_and_roles(node: dict[str, Any], status: str, roles: str) -> None:
    got = cells(bc.NODE_COLUMNS, node)
    assert (got["Status"], got["Roles"], got["Age"]) == (status, roles, "2d5h")


def test_node_wide_columns() -> None:
    node = _node()
    node["status"]["nodeInfo"] = {"kubeletVersion": "v1.32.0", "osImage": "Ubuntu", "kernelVersion": "6.1",
                                  "containerRuntimeVersion": "containerd://1.7"}
    node["status"]["addresses"] = [{"type": "Hostname", "address": "h"},
                                   {"type": "InternalIP", "address": "10.0.0.1"},
                                   {"type": "InternalIP", "address": "10.0.0.2"}]
    got = cells(bc.NODE_COLUMNS, node)
    assert [got[k] for k in ("Version", "Internal-IP", "External-IP", "OS-Image", "Kernel-Version",
                             "Container-Runtime")] == ["v1.32.0", "10.0.0.1", "<none>", "Ubuntu", "6.1",
                                                       "containerd://1.7"]
    bare = cells(bc.NODE_COLUMNS, {"metadata": {"name": "x"}})
    assert [bare[k] for k in ("Version", "OS-Image", "Kernel-Version", "Container-Runtime", "Age")] == [
        "", "<unknown>", "<unknown>", "<unknown>", "<unknown>"]
    assert [c.priority for c in bc.NODE_COLUMNS] == [0, 0, 0, 0, 1, 1, 1, 1, 1]


def _cs(name: str = "c", ready: bool = False, restarts: int = 0, **state: Any) -> dict[str, Any]:
    return {"name": name, "ready": ready, "restartCount": restarts, "state": state}


RUNNING = {"running": {"startedAt": ago(100)}}


@pytest.mark.parametrize(("pod", "ready", "status", "restarts"), [
    ({"spec": {"containers": [{}]}, "status": {"phase": "Running", "containerStatuses": [
        _cs(ready=True, **RUNNING)]}}, "1/1", "Running", "0"),
    ({"spec": {"containers": [{}, {}]}, "status": {"phase": "Pending", "containerStatuses": [
        _cs("a", waiting={"reason": "ContainerCreating"}),
        _cs("b", waiting={"reason": "ContainerCreating"})]}},
     "0/2", "ContainerCreating", "0"),
    ({"spec": {"containers": [{}]}, "status": {"phase": "Running", "containerStatuses": [
        dict(_cs(restarts=5, waiting={"reason": "CrashLoopBackOff"}),
             lastState={"terminated": {"finishedAt": ago(150), "exitCode": 1}})]}},
     "0/1", "CrashLoopBackOff", "5 (2m30s ago)"),
    ({"spec": {"containers": [{}]}, "status": {"phase": "Succeeded", "containerStatuses": [
        _cs(terminated={"reason": "Completed", "exitCode": 0})]}}, "0/1", "Completed", "0"),
    ({"spec": {"containers": [{}]}, "status": {"phase": "Failed", "containerStatuses": [
        _cs(terminated={"exitCode": 2})]}}, "0/1", "ExitCode:2", "0"),
    ({"spec": {"containers": [{}]}, "status": {"phase": "Failed", "containerStatuses": [
        _cs(terminated={"exitCode": 137, "signal": 9})]}}, "0/1", "Signal:9", "0"),
    ({"spec": {"containers": [{}], "initContainers": [{"name": "i"}]}, "status": {
        "phase": "Pending", "initContainerStatuses": [_cs("i", **RUNNING)],
        "containerStatuses": [_cs(waiting={"reason": "PodInitializing"})]}}, "0/1", "Init:0/1", "0"),
    ({"spec": {"containers": [{}], "initContainers": [{"name": "i"}]}, "status": {
        "phase": "Pending",
        "initContainerStatuses": [_cs("i", restarts=2, waiting={"reason": "ImagePullBackOff"})],
    }}, "0/1", "Init:ImagePullBackOff", "2"),
    ({"spec": {"containers": [{}], "initContainers": [{"name": "i"}]}, "status": {
        "phase": "Pending", "initContainerStatuses": [_cs("i", terminated={"exitCode": 3})]}},
     "0/1", "Init:ExitCode:3", "0"),
    ({"spec": {"containers": [{}], "initContainers": [{"name": "i"}]}, "status": {
        "phase": "Pending",
        "initContainerStatuses": [_cs("i", terminated={"exitCode": 1, "reason": "Error"})]}},
     "0/1", "Init:Error", "0"),
    ({"spec": {"containers": [{}], "initContainers": [{"name": "side", "restartPolicy": "Always"}]},
      "status": {"phase": "Running",
                 "conditions": [{"type": "Initialized", "status": "True"}],
                 "initContainerStatuses": [dict(_cs("side", ready=True, **RUNNING), started=True)],
                 "containerStatuses": [_cs(ready=True, **RUNNING)]}}, "2/2", "Running", "0"),
    ({"spec": {"containers": [{}, {}]}, "status": {
        "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [
            _cs("a", ready=True, **RUNNING), _cs("b", terminated={"reason": "Completed", "exitCode": 0})]}},
     "1/2", "Running", "0"),
    ({"spec": {"containers": [{}, {}]}, "status": {
        "phase": "Running", "containerStatuses": [
            _cs("a", ready=True, **RUNNING), _cs("b", terminated={"reason": "Completed", "exitCode": 0})]}},
     "1/2", "NotReady", "0"),
    ({"metadata": {"deletionTimestamp": ago(1)}, "spec": {"containers": [{}]},
      "status": {"phase": "Running", "containerStatuses": [_cs(ready=True, **RUNNING)]}},
     "1/1", "Terminating", "0"),
    ({"metadata": {"deletionTimestamp": ago(1)}, "spec": {"containers": [{}]},
      "status": {"phase": "Succeeded"}}, "0/1", "Succeeded", "0"),
    ({"metadata": {"deletionTimestamp": ago(1)}, "spec": {"containers": [{}]},
      "status": {"phase": "Running", "reason": "NodeLost"}}, "0/1", "Unknown", "0"),
    ({"spec": {"containers": [{}]}, "status": {"phase": "Failed", "reason": "Evicted"}},
     "0/1", "Evicted", "0"),
    ({"spec": {"containers": [{}]}, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}},
     "0/1", "SchedulingGated", "0"),
    ({}, "0/0", "", "0"),
])
def test_pod_ready_status_restarts(pod: dict[str, Any], ready: str, status: str, restarts: str) -> None:
    got = cells(bc.POD_COLUMNS, pod)
    assert (got["Ready"], got["Status"], got["Restarts"]) == (ready, status, restarts)


def test_pod_wide_columns() -> None:
    pod = {"metadata": {"name": "p", "creationTimestamp": ago(45)},
           "spec": {"nodeName": "n1", "readinessGates": [{"conditionType": "x"}, {"conditionType": "y"}]},
           "status": {"podIPs": [{"ip": "10.1.0.5"}], "conditions": [{"type": "x", "status": "True"}]}}
    got = cells(bc.POD_COLUMNS, pod)
    assert [got[k] for k in ("Age", "IP", "Node", "Nominated Node", "Readiness Gates")] == [
        "45s", "10.1.0.5", "n1", "<none>", "1/2"]
    bare = cells(bc.POD_COLUMNS, {"metadata": {"name": "p"}})
    assert [bare[k] for k in ("IP", "Node", "Readiness Gates")] == ["<none>", "<none>", "<none>"]


@pytest.mark.parametrize(("columns", "obj", "expected"), [
    (bc.NAMESPACE_COLUMNS, {"metadata": {"creationTimestamp": ago(400 * D)}, "status": {"phase": "Active"}},
     {"Status": "Active", "Age": "400d"}),
    (bc.NAMESPACE_COLUMNS, {"metadata": {"deletionTimestamp": ago(1)}, "status": {"phase": "Terminating"}},
     {"Status": "Terminating", "Age": "<unknown>"}),
    (bc.LEASE_COLUMNS, {"metadata": {"creationTimestamp": ago(12 * M)}, "spec": {"holderIdentity": "n1"}},
     {"Holder": "n1", "Age": "12m"}),
    (bc.LEASE_COLUMNS, {"spec": {}}, {"Holder": ""}),
    (bc.SECRET_COLUMNS, {"type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}},
     {"Type": "kubernetes.io/tls", "Data": 2}),
    (bc.SECRET_COLUMNS, {"data": {"a": ""}, "stringData": {"a": "x", "b": "y"}},
     {"Type": "Opaque", "Data": 2}),
    (bc.CONFIGMAP_COLUMNS, {"data": {"a": "1"}, "binaryData": {"b": "AA=="}}, {"Data": 2}),
    (bc.CONFIGMAP_COLUMNS, {}, {"Data": 0}),
    (bc.CRD_COLUMNS, {"metadata": {"creationTimestamp": "2026-11-25T12:12:03+01:00"}},
     {"Created At": "2026-11-25T11:12:03Z"}),
    (bc.CRD_COLUMNS, {"metadata": {}}, {"Created At": "0001-01-01T00:00:00Z"}),
])
def test_simple_builtin_cells(columns: tuple[PrinterColumn, ...], obj: dict[str, Any],
                              expected: dict[str, Any]) -> None:
    got = cells(columns, obj)
    assert {k: got[k] for k in expected} == expected


def test_builtin_column_types() -> None:
    assert [(c.name, c.type) for c in bc.CRD_COLUMNS] == [("Created At", "date")]
    for columns in (bc.NAMESPACE_COLUMNS, bc.NODE_COLUMNS, bc.POD_COLUMNS, bc.EVENT_COLUMNS,
                    bc.LEASE_COLUMNS, bc.SECRET_COLUMNS, bc.CONFIGMAP_COLUMNS):
        assert all(c.cell is not None and c.type == "string" and c.description for c in columns)
        assert sum(c.format == "name" for c in columns) == (1 if columns is bc.EVENT_COLUMNS else 0)


# --- performance -------------------------------------------------------------------------------

def test_render_10000_pods() -> None:
    """Every row of a large list is rendered, the last one right (its timing: `bench/hotpaths.py`)."""
    pods = [{
        "metadata": {"name": f"p{i}", "namespace": "default", "creationTimestamp": ago(i)},
        "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}],
                   "containerStatuses": [_cs(ready=True, **RUNNING)]},
    } for i in range(10000)]
    table = render_table(bc.POD_COLUMNS, pods, now=NOW)
    assert len(table["rows"]) == 10000
    assert table["rows"][9999]["cells"][:5] == ["p9999", "1/1", "Running", "0", "166m"]
