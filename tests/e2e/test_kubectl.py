"""The real kubectl v1.32 against a real `kubenode apiserver` process (default validation, no flags to help)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubenode.api.rbac import rbac_yaml

from ..integration.crds import widget
from .conftest import MANIFESTS, Cluster, LineReader

pytestmark = pytest.mark.e2e

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def row(r: Any, name: str) -> list[str]:
    """The table row whose first cell is `name`."""
    rows = [cells for cells in r.table() if cells and cells[0] == name]
    assert len(rows) == 1, f"expected one row named {name!r} in:\n{r.stdout}"
    return rows[0]


def ready_condition(generation: int, status: str = "True") -> dict[str, Any]:
    return {"type": "Ready", "status": status, "reason": "AllGood", "message": "widget is ready",
            "lastTransitionTime": now(), "observedGeneration": generation}


def status_patch(c: Cluster, kind_name: str, status: dict[str, Any], *extra: str) -> Any:
    return c.kubectl("patch", kind_name, *extra, "--subresource=status", "--type=merge",
                     "-p", json.dumps({"status": status}))


# ---------------------------------------------------------------------------------------------- basics
def test_version(cluster: Cluster) -> None:
    r = cluster.kubectl("version")
    assert re.search(r"^Server Version: v1\.32\.\d+", r.stdout, re.M), r.stdout
    v = yaml.safe_load(cluster.kubectl("version", "-o", "json").stdout)
    assert v["serverVersion"]["major"] == "1"
    assert v["serverVersion"]["minor"].startswith("32")
    assert v["clientVersion"]["minor"].startswith("32")


def test_api_resources_lists_builtins_and_crd(widget_crd: Cluster) -> None:
    r = widget_crd.kubectl("api-resources")
    assert r.table()[0] == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert row(r, "pods") == ["pods", "po", "v1", "true", "Pod"]
    assert row(r, "nodes") == ["nodes", "no", "v1", "false", "Node"]
    assert row(r, "namespaces") == ["namespaces", "ns", "v1", "false", "Namespace"]
    assert row(r, "configmaps") == ["configmaps", "cm", "v1", "true", "ConfigMap"]
    assert row(r, "events")[-1] == "Event"
    assert row(r, "leases")[1:] == ["coordination.k8s.io/v1", "true", "Lease"]
    assert row(r, "customresourcedefinitions")[1:] == ["crd,crds", "apiextensions.k8s.io/v1", "false",
                                                      "CustomResourceDefinition"]
    assert row(r, "widgets") == ["widgets", "wd", "example.com/v1", "true", "Widget"]
    names = widget_crd.kubectl("api-resources", "--api-group=example.com", "-o", "name").lines()
    assert names == ["widgets.example.com"]


def test_explain_uses_the_published_schemas(widget_crd: Cluster) -> None:
    r = widget_crd.kubectl("explain", "widget.spec")
    assert "KIND:       Widget" in r.stdout
    assert "Desired state of the widget." in r.stdout
    assert re.search(r"size\s+<string> -required-", r.stdout), r.stdout
    assert "How big the widget is." in r.stdout
    assert re.search(r"replicas\s+<integer>", r.stdout)
    r = widget_crd.kubectl("explain", "pod.spec.containers")
    assert "KIND:       Pod" in r.stdout
    assert "List of containers belonging to the pod." in r.stdout
    assert re.search(r"image\s+<string>", r.stdout)
    assert re.search(r"name\s+<string> -required-", r.stdout)


# ---------------------------------------------------------------------------------------------- apply
def test_apply_crd_again_is_unchanged(widget_crd: Cluster) -> None:
    from ..integration.crds import WIDGET_CRD

    r = widget_crd.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(WIDGET_CRD))
    assert r.stdout.strip() == "customresourcedefinition.apiextensions.k8s.io/widgets.example.com unchanged"
    r = widget_crd.kubectl("get", "crd", "widgets.example.com")
    assert r.table()[0] == ["NAME", "CREATED", "AT"]
    assert row(r, "widgets.example.com")


def test_apply_created_unchanged_configured(widget_crd: Cluster) -> None:
    c = widget_crd
    r = c.kubectl("apply", "-f", str(MANIFESTS / "widget-apply.yaml"))
    assert r.stdout.strip() == "widget.example.com/applied created"
    r = c.kubectl("apply", "-f", str(MANIFESTS / "widget-apply.yaml"))
    assert r.stdout.strip() == "widget.example.com/applied unchanged"
    obj = c.get_json("widget", "applied")
    assert obj["metadata"]["generation"] == 1
    assert obj["spec"] == {"size": "small", "replicas": 2, "tags": ["a", "b"]}
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]

    r = c.kubectl("apply", "-f", str(MANIFESTS / "widget-apply-changed.yaml"))
    assert r.stdout.strip() == "widget.example.com/applied configured"
    obj = c.get_json("widget", "applied")
    assert obj["spec"]["size"] == "large"
    assert obj["spec"]["replicas"] == 3
    assert obj["metadata"]["generation"] == 2
    r = c.kubectl("apply", "-f", str(MANIFESTS / "widget-apply-changed.yaml"))
    assert r.stdout.strip() == "widget.example.com/applied unchanged"


def test_apply_kind_list(widget_crd: Cluster) -> None:
    r = widget_crd.kubectl("apply", "-f", str(MANIFESTS / "list.yaml"))
    assert r.lines() == ["widget.example.com/listed created", "configmap/listed created"]
    r = widget_crd.kubectl("apply", "-f", str(MANIFESTS / "list.yaml"))
    assert r.lines() == ["widget.example.com/listed unchanged", "configmap/listed unchanged"]
    # The schema default (replicas: 1) was applied by the server.
    assert widget_crd.jsonpath("widget", "listed", path="{.spec}") == '{"replicas":1,"size":"large"}'
    assert widget_crd.jsonpath("configmap", "listed", path="{.data.colour}") == "blue"


def test_apply_rejects_unknown_field(widget_crd: Cluster) -> None:
    r = widget_crd.kubectl_fails("apply", "-f", str(MANIFESTS / "widget-unknown-field.yaml"))
    assert "Error from server (BadRequest)" in r.stderr, r
    assert 'unknown field "spec.colour"' in r.stderr, r
    r = widget_crd.kubectl_fails("get", "widget", "unknown-field")
    assert 'widgets.example.com "unknown-field" not found' in r.stderr


def test_apply_invalid_value_is_422_with_field_paths(widget_crd: Cluster) -> None:
    r = widget_crd.kubectl_fails("apply", "-v=6", "-f", str(MANIFESTS / "widget-invalid-value.yaml"))
    assert re.search(r"POST https://\S+/apis/example.com/v1/namespaces/default/widgets\S* 422 Unprocessable Entity",
                     r.stderr), r
    assert 'The Widget "invalid-value" is invalid' in r.stderr
    assert 'spec.size: Unsupported value: "huge": supported values: "small", "large"' in r.stderr
    assert "spec.replicas: Invalid value: -1" in r.stderr


def test_diff_and_server_dry_run(widget_crd: Cluster, tmp_path: Path) -> None:
    c = widget_crd
    w = widget("dry", replicas=2)
    c.apply_docs(w)
    changed = tmp_path / "dry.yaml"
    changed.write_text(yaml.safe_dump(widget("dry", replicas=8)))
    r = c._run(["diff", "-f", str(changed)])
    assert r.returncode == 1, r  # 1 = differences found
    assert re.search(r"^-  replicas: 2$", r.stdout, re.M), r.stdout
    assert re.search(r"^\+  replicas: 8$", r.stdout, re.M), r.stdout
    r = c.kubectl("apply", "--dry-run=server", "-f", str(changed))
    assert r.stdout.strip() == "widget.example.com/dry configured (server dry run)"
    assert c.jsonpath("widget", "dry", path="{.spec.replicas}/{.metadata.generation}") == "2/1"
    r = c.kubectl("diff", "-f", "-", stdin=yaml.safe_dump(w))
    assert r.stdout == ""


# ---------------------------------------------------------------------------------------------- get
@pytest.fixture(scope="module")
def get_ns(widget_crd: Cluster) -> str:
    c = widget_crd
    assert c.kubectl("create", "namespace", "get-tests").stdout.strip() == "namespace/get-tests created"
    front = widget("front", replicas=2)
    front["metadata"].update(namespace="get-tests", labels={"tier": "front", "env": "prod"})
    back = widget("back", "large", replicas=5)
    back["metadata"].update(namespace="get-tests", labels={"tier": "back", "env": "prod"})
    c.apply_docs(front, back)
    status_patch(c, "widget/front", {"phase": "Running"}, "-n", "get-tests")
    return "get-tests"


def test_get_shows_crd_printer_columns(widget_crd: Cluster, get_ns: str) -> None:
    r = widget_crd.kubectl("get", "widgets", "-n", get_ns)
    assert r.table()[0] == ["NAME", "REPLICAS", "PHASE", "AGE"]
    front = row(r, "front")
    assert front[1:3] == ["2", "Running"]
    assert re.fullmatch(r"\d+s", front[3]), front
    assert row(r, "back")[1] == "5"  # no phase yet: an empty cell
    assert len(row(r, "back")) == 3

    wide = widget_crd.kubectl("get", "wd", "-n", get_ns, "-o", "wide")
    assert wide.table()[0] == ["NAME", "REPLICAS", "PHASE", "AGE"]
    labels = widget_crd.kubectl("get", "wd", "-n", get_ns, "--show-labels")
    assert labels.table()[0] == ["NAME", "REPLICAS", "PHASE", "AGE", "LABELS"]
    assert row(labels, "front")[-1] == "env=prod,tier=front"

    by_name = widget_crd.kubectl("get", "widget.example.com/front", "-n", get_ns, "--no-headers")
    assert len(by_name.table()) == 1
    assert by_name.table()[0][:3] == ["front", "2", "Running"]


def test_get_label_selectors(widget_crd: Cluster, get_ns: str) -> None:
    def names(*selector: str) -> list[str]:
        return widget_crd.jsonpath("wd", "-n", get_ns, *selector, path="{.items[*].metadata.name}").split()

    assert names("-l", "tier=front") == ["front"]
    assert names("-l", "tier!=front") == ["back"]
    assert sorted(names("-l", "env=prod")) == ["back", "front"]
    assert names("-l", "tier in (back,middle)") == ["back"]
    assert names("-l", "env=prod,tier notin (back)") == ["front"]
    assert names("-l", "!tier") == []
    r = widget_crd.kubectl("get", "wd", "-n", get_ns, "-l", "tier=nowhere")
    assert r.stdout == ""
    assert "No resources found in get-tests namespace." in r.stderr


def test_get_output_formats(widget_crd: Cluster, get_ns: str) -> None:
    c = widget_crd
    doc = yaml.safe_load(c.kubectl("get", "wd", "front", "-n", get_ns, "-o", "yaml").stdout)
    assert doc["apiVersion"] == "example.com/v1"
    assert doc["kind"] == "Widget"
    assert doc["metadata"]["name"] == "front"
    assert doc["metadata"]["namespace"] == get_ns
    assert doc["spec"] == {"size": "small", "replicas": 2}
    assert doc["status"] == {"phase": "Running"}
    assert RFC3339.match(doc["metadata"]["creationTimestamp"])
    assert "managedFields" not in doc["metadata"]  # kubectl hides them: the server sent them as usual
    lst = yaml.safe_load(c.kubectl("get", "wd", "-n", get_ns, "-o", "yaml").stdout)
    assert lst["kind"] == "List"
    assert sorted(i["metadata"]["name"] for i in lst["items"]) == ["back", "front"]
    assert c.jsonpath("wd", "back", "-n", get_ns, path="{.spec.size}/{.spec.replicas}") == "large/5"
    out = c.jsonpath("wd", "-n", get_ns,
                     path='{range .items[*]}{.metadata.name}={.metadata.labels.tier}{"\\n"}{end}')
    assert sorted(out.split()) == ["back=back", "front=front"]
    r = c.kubectl("get", "wd", "-n", get_ns, "-o", "custom-columns=N:.metadata.name,S:.spec.size",
                  "--sort-by=.spec.replicas")
    assert r.table() == [["N", "S"], ["front", "small"], ["back", "large"]]
    r = c.kubectl("get", "wd", "-n", get_ns, "--chunk-size=1")  # limit=1 + continue
    assert [cells[0] for cells in r.table()] == ["NAME", "back", "front"]
    r = c.kubectl("get", "wd", "-n", get_ns, "-o", "name")
    assert sorted(r.lines()) == ["widget.example.com/back", "widget.example.com/front"]


# ---------------------------------------------------------------------------------------------- nodes
@pytest.fixture(scope="module")
def worker(cluster: Cluster) -> str:
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "worker-1", "labels": {"node-role.kubernetes.io/worker": "",
                                                        "kubernetes.io/hostname": "worker-1"}}}
    assert cluster.create_docs(node).stdout.strip() == "node/worker-1 created"
    status_patch(cluster, "node/worker-1", {
        "nodeInfo": {"kubeletVersion": "v1.32.4", "osImage": "Ubuntu 24.04", "kernelVersion": "6.8.0",
                     "containerRuntimeVersion": "containerd://1.7.20", "architecture": "amd64",
                     "operatingSystem": "linux"},
        "addresses": [{"type": "InternalIP", "address": "10.0.0.11"}],
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status", "lastHeartbeatTime": now(),
                        "lastTransitionTime": now()}],
    })
    return "worker-1"


def test_get_nodes_columns(cluster: Cluster, worker: str) -> None:
    r = cluster.kubectl("get", "nodes")
    assert r.table()[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    cells = row(r, worker)
    assert cells[1] == "Ready"
    assert cells[2] == "worker"
    assert re.fullmatch(r"\d+[sm]", cells[3])
    assert cells[4] == "v1.32.4"
    wide = cluster.kubectl("get", "nodes", "-o", "wide")
    assert wide.table()[0][:7] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP"]
    assert "10.0.0.11" in row(wide, worker)
    assert "Ubuntu 24.04" in wide.stdout
    assert "containerd://1.7.20" in wide.stdout


def test_taint_add_and_remove(cluster: Cluster, worker: str) -> None:
    r = cluster.kubectl("taint", "node", worker, "dedicated=gpu:NoSchedule")
    assert r.stdout.strip() == f"node/{worker} tainted"
    taints = cluster.get_json("node", worker)["spec"]["taints"]
    assert taints == [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
    r = cluster.kubectl_fails("taint", "node", worker, "dedicated=gpu:NoSchedule")
    assert "already has dedicated taint(s) with same effect(s) and --overwrite is false" in r.stderr
    r = cluster.kubectl("describe", "node", worker)
    assert re.search(r"^Taints:\s+dedicated=gpu:NoSchedule$", r.stdout, re.M), r.stdout
    r = cluster.kubectl("taint", "node", worker, "dedicated=gpu:NoSchedule-")
    assert r.stdout.strip() == f"node/{worker} untainted"
    assert not cluster.get_json("node", worker)["spec"].get("taints")
    r = cluster.kubectl("describe", "node", worker)
    assert re.search(r"^Taints:\s+<none>$", r.stdout, re.M), r.stdout


def test_cordon_uncordon(cluster: Cluster, worker: str) -> None:
    assert cluster.kubectl("cordon", worker).stdout.strip() == f"node/{worker} cordoned"
    assert row(cluster.kubectl("get", "nodes"), worker)[1] == "Ready,SchedulingDisabled"
    assert cluster.jsonpath("node", worker, path="{.spec.unschedulable}") == "true"
    assert cluster.kubectl("cordon", worker).stdout.strip() == f"node/{worker} already cordoned"
    assert cluster.kubectl("uncordon", worker).stdout.strip() == f"node/{worker} uncordoned"
    assert row(cluster.kubectl("get", "nodes"), worker)[1] == "Ready"
    assert cluster.jsonpath("node", worker, path="{.spec.unschedulable}") == ""


def test_drain_evicts_pods_through_eviction_api(cluster: Cluster) -> None:
    r = cluster.kubectl("apply", "-f", str(MANIFESTS / "drain-node.yaml"))
    assert r.lines() == ["node/drain-me created", "pod/web-1 created", "pod/web-2 created"]
    pods = cluster.kubectl("get", "pods", "-o", "wide", "--field-selector", "spec.nodeName=drain-me")
    assert pods.table()[0][:3] == ["NAME", "READY", "STATUS"]
    assert [cells[0] for cells in pods.table()[1:]] == ["web-1", "web-2"]
    assert all("drain-me" in cells for cells in pods.table()[1:])

    r = cluster.kubectl("drain", "drain-me", "--ignore-daemonsets", "--delete-emptydir-data", "--force",
                        "--timeout=30s", "-v=6")
    assert "node/drain-me cordoned" in r.stdout
    assert "pod/web-1 evicted" in r.stdout and "pod/web-2 evicted" in r.stdout
    assert r.lines()[-1] == "node/drain-me drained"
    for pod in ("web-1", "web-2"):
        assert re.search(rf"POST https://\S+/api/v1/namespaces/default/pods/{pod}/eviction 201 Created", r.stderr)
    r = cluster.kubectl("get", "pods", "--field-selector", "spec.nodeName=drain-me")
    assert r.stdout == ""
    assert "No resources found in default namespace." in r.stderr
    assert "SchedulingDisabled" in row(cluster.kubectl("get", "nodes"), "drain-me")[1]


# ---------------------------------------------------------------------------------------------- watch
def test_get_watch_prints_changes(widget_crd: Cluster) -> None:
    c = widget_crd
    c.apply_docs(widget("watched", replicas=1))
    proc = c.popen("get", "widgets", "-w")
    reader = LineReader(proc)
    try:
        header = reader.wait_for(lambda line: line.startswith("NAME"))
        assert header.split() == ["NAME", "REPLICAS", "PHASE", "AGE"]
        reader.wait_for(lambda line: line.split()[:2] == ["watched", "1"])
        assert c.kubectl("scale", "widget/watched", "--replicas=3").stdout.strip() == \
            "widget.example.com/watched scaled"
        reader.wait_for(lambda line: line.split()[:2] == ["watched", "3"])
        status_patch(c, "widget/watched", {"phase": "Running"})
        reader.wait_for(lambda line: line.split()[:3] == ["watched", "3", "Running"])
        c.apply_docs(widget("watched-late", replicas=7))
        reader.wait_for(lambda line: line.split()[:2] == ["watched-late", "7"])
    finally:
        reader.stop()
    assert proc.returncode is not None


def test_get_single_object_watch_with_event_types(widget_crd: Cluster) -> None:
    c = widget_crd
    c.apply_docs(widget("solo", replicas=1))
    reader = LineReader(c.popen("get", "widget", "solo", "-w", "--output-watch-events"))
    try:
        header = reader.wait_for(lambda line: line.startswith("EVENT"))
        assert header.split() == ["EVENT", "NAME", "REPLICAS", "PHASE", "AGE"]
        reader.wait_for(lambda line: line.split()[:3] == ["ADDED", "solo", "1"])
        c.kubectl("patch", "widget", "solo", "--type=merge", "-p", '{"spec":{"replicas":2}}')
        reader.wait_for(lambda line: line.split()[:3] == ["MODIFIED", "solo", "2"])
        c.apply_docs(widget("not-solo", replicas=9))  # filtered out by the name
        c.kubectl("delete", "widget", "solo", "--wait=false")
        reader.wait_for(lambda line: line.split()[:2] == ["DELETED", "solo"])
    finally:
        reader.stop()
    assert not any("not-solo" in line for line in reader.seen), reader.seen


# ---------------------------------------------------------------------------------------------- describe, events
def test_describe_shows_events(widget_crd: Cluster) -> None:
    c = widget_crd
    c.apply_docs(widget("described", replicas=2))
    r = c.kubectl("describe", "widget", "described")
    assert re.search(r"^Name:\s+described$", r.stdout, re.M)
    assert re.search(r"^Events:\s+<none>$", r.stdout, re.M), r.stdout
    uid = c.jsonpath("widget", "described", path="{.metadata.uid}")
    event = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "described.scaled", "namespace": "default"},
        "involvedObject": {"apiVersion": "example.com/v1", "kind": "Widget", "name": "described",
                           "namespace": "default", "uid": uid},
        "reason": "Scaled", "message": "scaled widget to 2 replicas", "type": "Normal",
        "source": {"component": "widget-controller"}, "count": 1,
        "firstTimestamp": now(), "lastTimestamp": now(),
    }
    assert c.create_docs(event).stdout.strip() == "event/described.scaled created"
    r = c.kubectl("describe", "widget", "described")
    events = r.stdout.split("Events:", 1)[1].splitlines()
    assert events[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert re.search(r"Normal\s+Scaled\s+\S+\s+widget-controller\s+scaled widget to 2 replicas", r.stdout), r.stdout
    assert re.search(r"^Spec:\n\s+Replicas:\s+2\n\s+Size:\s+small$", r.stdout, re.M), r.stdout

    r = c.kubectl("get", "events")
    assert r.table()[0] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert re.search(r"Normal\s+Scaled\s+widget/described\s+scaled widget to 2 replicas", r.stdout), r.stdout
    r = c.kubectl("get", "events", "--field-selector", "involvedObject.name=described", "-o", "name")
    assert r.lines() == ["event/described.scaled"]


# ---------------------------------------------------------------------------------------------- wait
def test_wait_for_condition_and_jsonpath(widget_crd: Cluster) -> None:
    c = widget_crd
    c.apply_docs(widget("waiter", replicas=1))
    c.kubectl("patch", "widget", "waiter", "--type=merge", "-p", '{"spec":{"replicas":2}}')
    assert c.jsonpath("widget", "waiter", path="{.metadata.generation}") == "2"

    # Ready, but observed for an older generation: not met.
    status_patch(c, "widget/waiter", {"conditions": [ready_condition(1)], "observedGeneration": 1})
    r = c._run(["wait", "widget/waiter", "--for=condition=Ready", "--timeout=1s"])
    assert r.returncode != 0
    assert "timed out waiting for the condition on widgets/waiter" in r.stderr, r

    proc = c.popen("wait", "widget/waiter", "--for=condition=Ready", "--timeout=30s")
    jp = c.popen("wait", "widget/waiter", "--for=jsonpath={.status.phase}=Running", "--timeout=30s")
    try:
        status_patch(c, "widget/waiter", {"conditions": [ready_condition(2)], "observedGeneration": 2,
                                          "phase": "Running"})
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert out.strip() == "widget.example.com/waiter condition met"
        out, _ = jp.communicate(timeout=30)
        assert jp.returncode == 0, out
        assert out.strip() == "widget.example.com/waiter condition met"
    finally:
        for p in (proc, jp):
            if p.poll() is None:
                p.kill()
                p.wait(10)
    r = c._run(["wait", "widget/waiter", "--for=condition=Ready=false", "--timeout=1s"])
    assert r.returncode != 0
    assert "timed out" in r.stderr


# ---------------------------------------------------------------------------------------------- patch, edit, scale
def test_patch_merge_json_status_and_strategic(widget_crd: Cluster) -> None:
    c = widget_crd
    c.apply_docs(widget("patched", replicas=1))
    r = c.kubectl("patch", "widget", "patched", "--type=merge", "-p", '{"spec":{"replicas":5}}')
    assert r.stdout.strip() == "widget.example.com/patched patched"
    r = c.kubectl("patch", "widget", "patched", "--type=json",
                  "-p", '[{"op":"replace","path":"/spec/size","value":"large"},'
                        '{"op":"add","path":"/spec/tags","value":["x"]}]')
    assert r.stdout.strip() == "widget.example.com/patched patched"
    obj = c.get_json("widget", "patched")
    assert obj["spec"] == {"size": "large", "replicas": 5, "tags": ["x"]}
    assert obj["metadata"]["generation"] == 3

    r = c.kubectl("patch", "widget", "patched", "--subresource=status", "--type=merge",
                  "-p", '{"status":{"phase":"Running","replicas":5}}')
    assert r.stdout.strip() == "widget.example.com/patched patched"
    # The main endpoint ignores status: a no-op patch.
    r = c.kubectl("patch", "widget", "patched", "--type=merge", "-p", '{"status":{"phase":"Hacked"}}')
    assert r.stdout.strip() == "widget.example.com/patched patched (no change)"
    obj = c.get_json("widget", "patched")
    assert obj["status"] == {"phase": "Running", "replicas": 5}
    assert obj["metadata"]["generation"] == 3  # status writes do not bump the generation

    # A JSON patch whose test op fails is a bare 422, worded exactly like kube's (unhelpful) answer.
    r = c.kubectl_fails("patch", "widget", "patched", "--type=json",
                        "-p", '[{"op":"test","path":"/spec/size","value":"small"}]')
    assert r.stderr.strip() == ("The request is invalid: "
                                "the server rejected our request due to an error in our request")

    # Validation applies to patches too.
    r = c.kubectl_fails("patch", "widget", "patched", "--type=merge", "-p", '{"spec":{"size":"medium"}}')
    assert 'spec.size: Unsupported value: "medium"' in r.stderr

    # Default (strategic) patch of a custom resource fails like on a real cluster.
    r = c.kubectl_fails("patch", "widget", "patched", "-p", '{"spec":{"replicas":6}}', "-v=6")
    assert "415 Unsupported Media Type" in r.stderr
    assert "the body of the request was in an unknown format" in r.stderr
    assert "application/merge-patch+json" in r.stderr
    assert c.jsonpath("widget", "patched", path="{.spec.replicas}") == "5"


def test_strategic_patch_on_builtin(cluster: Cluster) -> None:
    cluster.kubectl("create", "configmap", "smp", "--from-literal=a=1")
    r = cluster.kubectl("patch", "configmap", "smp", "-p", '{"data":{"b":"2"}}')
    assert r.stdout.strip() == "configmap/smp patched"
    assert cluster.get_json("configmap", "smp")["data"] == {"a": "1", "b": "2"}


def test_edit_with_scripted_editor(widget_crd: Cluster, tmp_path: Path) -> None:
    c = widget_crd
    c.apply_docs(widget("edited", replicas=1))
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys\n"
        "path = sys.argv[-1]\n"
        "text = open(path).read()\n"
        "assert 'size: small' in text, text\n"
        "text = text.replace('size: small', 'size: large').replace('replicas: 1', 'replicas: 6')\n"
        "open(path, 'w').write(text)\n")
    r = c.kubectl("edit", "widget", "edited", env={"EDITOR": f"{sys.executable} {script}"})
    assert r.stdout.strip() == "widget.example.com/edited edited"
    obj = c.get_json("widget", "edited", "--show-managed-fields")
    assert obj["spec"] == {"size": "large", "replicas": 6}
    assert obj["metadata"]["generation"] == 2
    managers = {m["manager"] for m in obj["metadata"].get("managedFields", [])}
    assert "kubectl-edit" in managers


def test_scale_subresource(widget_crd: Cluster) -> None:
    c = widget_crd
    c.apply_docs(widget("scaled", replicas=1))
    r = c.kubectl("scale", "widget/scaled", "--replicas=4")
    assert r.stdout.strip() == "widget.example.com/scaled scaled"
    assert c.jsonpath("widget", "scaled", path="{.spec.replicas}") == "4"
    scale = yaml.safe_load(c.kubectl("get", "--raw", "/apis/example.com/v1/namespaces/default/widgets/scaled/scale")
                           .stdout)
    assert scale["kind"] == "Scale"
    assert scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 4}
    r = c.kubectl_fails("scale", "widget/scaled", "--current-replicas=2", "--replicas=5")
    assert "Expected replicas to be 2, was 4" in r.stderr
    assert row(c.kubectl("get", "widget", "scaled"), "scaled")[1] == "4"


# ---------------------------------------------------------------------------------------------- delete
def test_delete_with_finalizer(widget_crd: Cluster) -> None:
    c = widget_crd
    w = widget("doomed")
    w["metadata"]["finalizers"] = ["example.com/hold"]
    c.apply_docs(w)
    r = c.kubectl("delete", "widget", "doomed", "--wait=false")
    assert r.stdout.strip() == 'widget.example.com "doomed" deleted'
    obj = c.get_json("widget", "doomed")
    assert RFC3339.match(obj["metadata"]["deletionTimestamp"])
    assert obj["metadata"]["finalizers"] == ["example.com/hold"]
    r = c.kubectl_fails("patch", "widget", "doomed", "--type=merge",
                        "-p", '{"metadata":{"finalizers":["example.com/hold","example.com/more"]}}')
    assert "no new finalizers can be added if the object is being deleted" in r.stderr
    waiter = c.popen("wait", "widget/doomed", "--for=delete", "--timeout=30s")
    try:
        r = c.kubectl("patch", "widget", "doomed", "--type=json",
                      "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
        assert r.stdout.strip() == "widget.example.com/doomed patched"
        out, _ = waiter.communicate(timeout=30)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait(10)
    assert waiter.returncode == 0, out
    assert out.strip() in ("widget.example.com/doomed condition met", "")  # "" when already gone at start
    r = c.kubectl_fails("get", "widget", "doomed")
    assert 'Error from server (NotFound): widgets.example.com "doomed" not found' in r.stderr

    c.apply_docs(widget("plain"))
    r = c.kubectl("delete", "widget", "plain", "--timeout=20s")
    assert r.stdout.strip() == 'widget.example.com "plain" deleted'
    assert "plain" not in c.jsonpath("widgets", path="{.items[*].metadata.name}").split()


# ---------------------------------------------------------------------------------------------- label, annotate
def test_label_and_annotate(widget_crd: Cluster) -> None:
    c = widget_crd
    c.apply_docs(widget("tagged"))
    assert c.kubectl("label", "widget", "tagged", "env=prod").stdout.strip() == "widget.example.com/tagged labeled"
    r = c.kubectl_fails("label", "widget", "tagged", "env=dev")
    assert "'env' already has a value (prod), and --overwrite is false" in r.stderr
    c.kubectl("label", "widget", "tagged", "env=dev", "--overwrite")
    assert c.jsonpath("widget", "-l", "env=dev", path="{.items[*].metadata.name}") == "tagged"
    assert c.kubectl("label", "widget", "tagged", "env-").stdout.strip() == "widget.example.com/tagged unlabeled"
    assert "labels" not in c.get_json("widget", "tagged")["metadata"]  # empty maps are omitted, as in kube

    r = c.kubectl("annotate", "widget", "tagged", "example.com/owner=team-a", "note=hello world")
    assert r.stdout.strip() == "widget.example.com/tagged annotated"
    ann = c.get_json("widget", "tagged")["metadata"]["annotations"]
    assert ann["example.com/owner"] == "team-a"
    assert ann["note"] == "hello world"
    c.kubectl("annotate", "widget", "tagged", "note-")
    assert "note" not in c.get_json("widget", "tagged")["metadata"]["annotations"]
    assert c.jsonpath("widget", "tagged", path="{.metadata.generation}") == "1"


# ---------------------------------------------------------------------------------------------- create
def test_create_namespace_configmap_secret(cluster: Cluster) -> None:
    c = cluster
    assert c.kubectl("create", "namespace", "team-a").stdout.strip() == "namespace/team-a created"
    r = c.kubectl_fails("create", "namespace", "team-a")
    assert 'Error from server (AlreadyExists): namespaces "team-a" already exists' in r.stderr
    assert row(c.kubectl("get", "ns"), "team-a")[1] == "Active"

    r = c.kubectl("create", "configmap", "settings", "-n", "team-a", "--from-literal=mode=fast",
                  "--from-literal=level=3")
    assert r.stdout.strip() == "configmap/settings created"
    assert c.get_json("configmap", "settings", "-n", "team-a")["data"] == {"mode": "fast", "level": "3"}
    assert row(c.kubectl("get", "cm", "-n", "team-a"), "settings")[1] == "2"

    r = c.kubectl("create", "secret", "generic", "creds", "-n", "team-a", "--from-literal=user=admin",
                  "--from-literal=password=s3cr3t")
    assert r.stdout.strip() == "secret/creds created"
    data = c.get_json("secret", "creds", "-n", "team-a")["data"]
    assert {k: base64.b64decode(v).decode() for k, v in data.items()} == {"user": "admin", "password": "s3cr3t"}
    sec = c.kubectl("get", "secret", "-n", "team-a")
    assert sec.table()[0] == ["NAME", "TYPE", "DATA", "AGE"]
    assert row(sec, "creds")[1:3] == ["Opaque", "2"]

    r = c.kubectl("create", "serviceaccount", "robot", "-n", "team-a")
    assert r.stdout.strip() == "serviceaccount/robot created"
    assert c.jsonpath("sa", "robot", "-n", "team-a", path="{.metadata.name}") == "robot"


# ---------------------------------------------------------------------------------------------- server-side apply
def test_server_side_apply_and_conflicts(widget_crd: Cluster) -> None:
    c = widget_crd
    w = widget("ssa", replicas=1)
    r = c.apply_docs(w, extra=("--server-side",))
    assert r.stdout.strip() == "widget.example.com/ssa serverside-applied"
    r = c.apply_docs(w, extra=("--server-side",))
    assert r.stdout.strip() == "widget.example.com/ssa serverside-applied"
    assert c.jsonpath("widget", "ssa", path="{.metadata.generation}") == "1"

    other = widget("ssa", replicas=7)
    r = c._run(["apply", "--server-side", "--field-manager=other", "-f", "-"], stdin=yaml.safe_dump(other))
    assert r.returncode != 0
    assert "Apply failed with 1 conflict" in r.stderr, r
    assert 'conflict with "kubectl": .spec.replicas' in r.stderr
    assert c.jsonpath("widget", "ssa", path="{.spec.replicas}") == "1"

    r = c.apply_docs(other, extra=("--server-side", "--field-manager=other", "--force-conflicts"))
    assert r.stdout.strip() == "widget.example.com/ssa serverside-applied"
    obj = c.kubectl("get", "widget", "ssa", "-o", "yaml", "--show-managed-fields")
    doc = yaml.safe_load(obj.stdout)
    assert doc["spec"]["replicas"] == 7
    owners = {m["manager"]: m["fieldsV1"] for m in doc["metadata"]["managedFields"]}
    assert "f:replicas" in owners["other"]["f:spec"]
    assert "f:replicas" not in owners["kubectl"]["f:spec"]
    assert "f:size" in owners["kubectl"]["f:spec"]


# ---------------------------------------------------------------------------------------------- auth can-i / whoami
def test_auth_can_i_and_whoami(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    assert c.kubectl("auth", "can-i", "create", "configmaps").stdout.strip() == "yes"
    assert c.kubectl("auth", "can-i", "delete", "nodes", "--all-namespaces").stdout.strip() == "yes"
    who = c.kubectl("auth", "whoami", "-o", "json")
    info = json.loads(who.stdout)["status"]["userInfo"]
    assert info["username"] == "kubenode:admin" and "system:masters" in info["groups"]
    listed = c.kubectl("auth", "can-i", "--list")
    assert listed.table()[1][0] == "*.*"

    # a ServiceAccount's token: unbound, RBAC allows it only discovery and self reviews (kube's bootstrap roles);
    # the answers say so, with exit code 1
    c.kubectl("create", "namespace", "auth-e2e")
    c.kubectl("create", "serviceaccount", "nobody", "-n", "auth-e2e")
    token = c.kubectl("create", "token", "nobody", "-n", "auth-e2e").stdout.strip()
    as_sa = ("--token", token)
    r = c._run([*as_sa, "auth", "can-i", "create", "configmaps", "-n", "auth-e2e"])
    assert (r.returncode, r.stdout.strip()) == (1, "no - no rule allows it"), r  # kubectl prints the reason
    r = c._run([*as_sa, "get", "configmaps", "-n", "auth-e2e"])
    assert r.returncode != 0 and "Forbidden" in r.stderr  # what can-i predicted
    assert c.kubectl(*as_sa, "auth", "can-i", "get", "/api").stdout.strip() == "yes"
    r = c._run([*as_sa, "auth", "can-i", "get", "/metrics"])
    assert r.returncode == 1 and r.stdout.startswith("no - no rule allows it"), r
    who = json.loads(c.kubectl(*as_sa, "auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert who["username"] == "system:serviceaccount:auth-e2e:nobody"
    listed = c.kubectl(*as_sa, "auth", "can-i", "--list", "-n", "auth-e2e")
    assert "selfsubjectaccessreviews.authorization.k8s.io" in listed.stdout
    # the list comes from RBAC and is complete: kubectl warns of nothing
    assert "incomplete" not in (listed.stderr + listed.stdout).lower()
    assert "/apis/*" in listed.stdout and "[get]" in listed.stdout  # system:discovery
    # reviews are answered, not stored
    r = c._run(["get", "selfsubjectaccessreviews"])
    assert r.returncode != 0 and "MethodNotAllowed" in r.stderr, r

    # `--as`: an admin asks (and acts) as someone else — here a host agent (its certificate's CN and O). RBAC
    # (what can-i reports, as on a real cluster) gives agents the kinds they need; *which* node's objects they
    # may write is the node-isolation admission policy's business, which can-i does not evaluate.
    agent = "kubenode:agent:m1"
    as_agent = ["--as", agent, "--as-group", "kubenode:agents"]
    shipped = tmp_path / "rbac.yaml"
    shipped.write_text(rbac_yaml())  # what `kubenode rbac` prints; `kubenode apiserver` alone installs none
    c.kubectl("apply", "-f", str(shipped))
    assert c.kubectl("auth", "can-i", "patch", "nodes/m1", *as_agent).stdout.strip() == "yes"
    r = c._run(["auth", "can-i", "delete", "nodes/m1", *as_agent])
    assert r.returncode == 1 and r.stdout.startswith("no"), r
    r = c._run(["get", "secrets", "-n", "auth-e2e", *as_agent])
    assert r.returncode != 0 and f'User "{agent}" cannot list resource "secrets"' in r.stderr, r
    who = json.loads(c.kubectl("auth", "whoami", "--as", "jane", "--as-group", "sre", "-o", "json").stdout)
    assert who["status"]["userInfo"] == {"username": "jane", "groups": ["sre", "system:authenticated"]}
    r = c._run([*as_sa, "get", "configmaps", "-n", "auth-e2e", "--as", "kubenode:admin"])
    assert r.returncode != 0 and "cannot impersonate" in r.stderr, r  # only admins may impersonate

    # `--duration` is honoured (and bounded as in kube); without it the token lives as long as its account
    issued = json.loads(c.kubectl("create", "token", "nobody", "-n", "auth-e2e", "--duration=15m", "-o",
                                  "json").stdout)
    expires = dt.datetime.strptime(issued["status"]["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.UTC)
    assert abs((expires - dt.datetime.now(dt.UTC)).total_seconds() - 900) < 60
    assert c.kubectl("--token", issued["status"]["token"], "auth", "whoami").returncode == 0
    r = c._run(["create", "token", "nobody", "-n", "auth-e2e", "--duration=1m"])
    assert r.returncode != 0 and "spec.expirationSeconds" in r.stderr and "10 minutes" in r.stderr, r
