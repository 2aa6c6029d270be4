"""Patch flavours and server-side apply over HTTP."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from kubenode.apiserver.server import RunningServer

from .crds import widget
from .kube import Kube
from .test_crud import W, make_crd

NODES = "/api/v1/nodes"


async def make_node(kube: Kube, name: str = "n1") -> None:
    r = await kube.post(NODES, {"metadata": {"name": name, "labels": {"kubernetes.io/os": "linux"}}})
    assert r.status == 201, r


async def test_merge_and_json_patch(kube: Kube) -> None:
    await make_crd(kube)
    await kube.post(W, widget("p", tags=["a"]))
    r = await kube.patch(W + "/p", {"spec": {"size": "large"}})
    assert r.status == 200 and r.json["spec"]["size"] == "large"
    ops = [{"op": "test", "path": "/spec/size", "value": "large"},
           {"op": "add", "path": "/spec/tags/-", "value": "b"}]
    r = await kube.patch(W + "/p", ops, content_type="application/json-patch+json")
    assert r.status == 200 and r.json["spec"]["tags"] == ["a", "b"]
    r = await kube.patch(W + "/p", [{"op": "test", "path": "/spec/size", "value": "small"}],
                         content_type="application/json-patch+json")
    assert r.status == 422
    r = await kube.patch(W + "/p", {"op": "nonsense"}, content_type="application/json-patch+json")
    assert r.status in (400, 422) and r.json["kind"] == "Status"
    # validation applies to patched objects too
    r = await kube.patch(W + "/p", {"spec": {"size": "tiny"}})
    assert r.status == 422 and r.json["details"]["causes"][0]["field"] == "spec.size"


async def test_strategic_merge_on_custom_resource_is_415(kube: Kube) -> None:
    await make_crd(kube)
    await kube.post(W, widget("s"))
    r = await kube.patch(W + "/s", {"spec": {"size": "large"}},
                         content_type="application/strategic-merge-patch+json")
    assert r.status == 415 and r.json["reason"] == "UnsupportedMediaType"
    assert "application/merge-patch+json" in r.json["message"]


async def test_strategic_merge_taints_and_cordon(kube: Kube) -> None:
    await make_node(kube)
    smp = "application/strategic-merge-patch+json"
    r = await kube.patch(NODES + "/n1", {"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}},
                         content_type=smp)
    assert r.status == 200, r
    r = await kube.patch(NODES + "/n1", {"spec": {"taints": [{"key": "b", "value": "1", "effect": "NoExecute"}]}},
                         content_type=smp)
    # merged by key, not replaced (patch items first, as kube orders them without $setElementOrder)
    assert sorted(t["key"] for t in r.json["spec"]["taints"]) == ["a", "b"]
    r = await kube.patch(NODES + "/n1", {"spec": {"taints": [{"key": "a", "$patch": "delete"}]}},
                         content_type=smp)
    assert [t["key"] for t in r.json["spec"]["taints"]] == ["b"]
    r = await kube.patch(NODES + "/n1", {"spec": {"unschedulable": True}}, content_type=smp)
    assert r.json["spec"]["unschedulable"] is True


async def test_server_side_apply_conflicts_and_force(kube: Kube) -> None:
    await make_crd(kube)
    apply = "application/apply-patch+yaml"
    body = widget("ssa", replicas=2)
    r = await kube.patch(W + "/ssa", body, content_type=apply, params={"fieldManager": "alice"})
    assert r.status == 201, r
    managers = {m["manager"]: m for m in r.json["metadata"]["managedFields"]}
    assert managers["alice"]["operation"] == "Apply"
    assert "f:replicas" in managers["alice"]["fieldsV1"]["f:spec"]

    r = await kube.patch(W + "/ssa", widget("ssa", replicas=5), content_type=apply,
                         params={"fieldManager": "bob"})
    assert r.status == 409 and r.json["reason"] == "Conflict"
    assert 'conflict with "alice"' in r.json["message"] and ".spec.replicas" in r.json["message"]

    r = await kube.patch(W + "/ssa", widget("ssa", replicas=5), content_type=apply,
                         params={"fieldManager": "bob", "force": "true"})
    assert r.status == 200 and r.json["spec"]["replicas"] == 5
    # re-applying alice's config without replicas leaves bob's value alone
    r = await kube.patch(W + "/ssa", {"apiVersion": "example.com/v1", "kind": "Widget",
                                      "metadata": {"name": "ssa"}, "spec": {"size": "small"}},
                         content_type=apply, params={"fieldManager": "alice"})
    assert r.status == 200 and r.json["spec"]["replicas"] == 5


async def test_apply_requires_field_manager(kube: Kube) -> None:
    await make_crd(kube)
    r = await kube.patch(W + "/x", widget("x"), content_type="application/apply-patch+yaml",
                         headers={"User-Agent": ""})
    assert r.status in (201, 400)


@pytest.mark.parametrize(
    ("path", "patch", "content_type"),
    [
        # what hollow nodes send: a strategic merge of nodes/status, by several managers in turn
        ("/api/v1/nodes/n1/status", {"status": {"conditions": [{"type": "Ready", "status": "True",
                                                                "lastHeartbeatTime": "2026-12-03T07:00:01Z"}]}},
         "application/strategic-merge-patch+json"),
        ("/api/v1/nodes/n1", {"metadata": {"labels": {"zone": "b"}}, "spec": {"taints": [
            {"key": "k", "effect": "NoSchedule"}]}}, "application/strategic-merge-patch+json"),
        ("/api/v1/nodes/n1", {"metadata": {"labels": {"zone": "c"}}}, "application/merge-patch+json"),
        ("/api/v1/nodes/n1/status", {"status": {"capacity": {"cpu": "9"}}}, "application/merge-patch+json"),
    ],
)
async def test_patches_never_edit_the_stored_object_they_start_from(
        server: RunningServer, kube: Kube, path: str, patch: dict[str, Any], content_type: str) -> None:
    """A patch's result shares no structure that is edited later with the stored object it started from:
    the stored object (what watchers were sent, what informers hold) stays exactly as it was."""
    await make_node(kube)
    status = {"status": {"capacity": {"cpu": "8"}, "conditions": [
        {"type": t, "status": "False", "lastHeartbeatTime": "2026-12-03T07:00:00Z"}
        for t in ("Ready", "DiskPressure")]}}
    for manager in ("kubelet", "npd"):
        r = await kube.request("PATCH", f"/api/v1/nodes/n1/status?fieldManager={manager}", status,
                               content_type="application/strategic-merge-patch+json")
        assert r.status == 200, r
        status["status"]["conditions"][1]["status"] = "True"
    stored = server.store.get("/nodes//n1")
    assert stored is not None
    before = orjson.loads(orjson.dumps(stored))
    for manager in ("kubelet", "npd", "other"):
        sep = "&" if "?" in path else "?"
        r = await kube.request("PATCH", f"{path}{sep}fieldManager={manager}", patch, content_type=content_type)
        assert r.status == 200, r
        assert orjson.loads(orjson.dumps(stored)) == before
        stored = server.store.get("/nodes//n1")
        assert stored is not None
        before = orjson.loads(orjson.dumps(stored))
