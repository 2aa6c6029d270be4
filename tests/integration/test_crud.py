"""CRUD, validation and object semantics against the in-process server."""

from __future__ import annotations

from typing import Any

import pytest

from kubenode.apiserver.server import RunningServer

from .crds import GADGET_CRD, WIDGET_CRD, widget
from .kube import Kube

W = "/apis/example.com/v1/namespaces/default/widgets"


async def make_crd(kube: Kube, crd: dict[str, Any] = WIDGET_CRD) -> dict[str, Any]:
    r = await kube.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert r.status == 201, r
    return r.json


async def test_version_and_health(kube: Kube) -> None:
    r = await kube.get("/version")
    assert r.status == 200 and r.json["major"] == "1" and r.json["minor"] == "32"
    assert (await kube.get("/healthz")).raw == b"ok"


async def test_unauthenticated_is_401_with_status(server: RunningServer) -> None:
    anon = Kube(server, token="")
    bad = Kube(server, token="not-a-real-token")
    try:
        for k in (anon, bad):
            r = await k.get("/api/v1/namespaces")
            assert r.status == 401
            assert r.json["kind"] == "Status" and r.json["reason"] == "Unauthorized"
        assert (await anon.get("/version")).status == 200
    finally:
        await anon.close()
        await bad.close()


async def test_system_namespaces_exist(kube: Kube) -> None:
    r = await kube.get("/api/v1/namespaces")
    names = {i["metadata"]["name"] for i in r.json["items"]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
    assert r.json["kind"] == "NamespaceList"


async def test_configmap_crud_and_errors(kube: Kube) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1", "labels": {"a": "b"}},
          "data": {"k": "v"}}
    r = await kube.post(base, cm)
    assert r.status == 201
    created = r.json
    assert created["metadata"]["uid"] and created["metadata"]["creationTimestamp"]
    rv1 = int(created["metadata"]["resourceVersion"])

    r = await kube.post(base, cm)
    assert r.status == 409 and r.json["reason"] == "AlreadyExists"
    assert r.json["message"] == 'configmaps "c1" already exists'

    r = await kube.get(base + "/nope")
    assert r.status == 404 and r.json["reason"] == "NotFound"
    assert r.json["details"] == {"name": "nope", "kind": "configmaps"}

    upd = dict(created, data={"k": "v2"})
    r = await kube.put(base + "/c1", upd)
    assert r.status == 200 and int(r.json["metadata"]["resourceVersion"]) > rv1

    r = await kube.put(base + "/c1", upd)  # stale resourceVersion
    assert r.status == 409 and r.json["reason"] == "Conflict"
    assert "the object has been modified" in r.json["message"]

    r = await kube.delete(base + "/c1")
    assert r.status == 200
    assert (await kube.get(base + "/c1")).status == 404


async def test_unknown_resource_and_malformed_body(kube: Kube) -> None:
    r = await kube.get("/api/v1/frobnicators")
    assert r.status == 404 and r.json["kind"] == "Status"
    r = await kube.get("/apis/nope.example.com/v1/things")
    assert r.status == 404 and r.json["kind"] == "Status"
    r = await kube.request("POST", "/api/v1/namespaces/default/configmaps", raw=b"{not json",
                           content_type="application/json")
    assert r.status == 400 and r.json["reason"] == "BadRequest"
    assert "not valid JSON" in r.json["message"]
    r = await kube.request("POST", "/api/v1/namespaces/default/configmaps", raw=b"a: [b",
                           content_type="application/yaml")
    assert r.status == 400 and "YAML" in r.json["message"]


async def test_body_over_3mib_is_413(kube: Kube) -> None:
    big = {"metadata": {"name": "big"}, "data": {"k": "x" * (3 * 1024 * 1024 + 10)}}
    r = await kube.post("/api/v1/namespaces/default/configmaps", big)
    assert r.status == 413 and r.json["kind"] == "Status"


async def test_metadata_validation_has_field_paths(kube: Kube) -> None:
    r = await kube.post("/api/v1/namespaces/default/configmaps",
                        {"metadata": {"name": "Bad_Name", "labels": {"bad key!": "v"}}})
    assert r.status == 422 and r.json["reason"] == "Invalid"
    fields = {c["field"] for c in r.json["details"]["causes"]}
    assert "metadata.name" in fields
    assert any(f.startswith("metadata.labels") for f in fields)


async def test_namespace_must_exist(kube: Kube) -> None:
    r = await kube.post("/api/v1/namespaces/ghost/configmaps", {"metadata": {"name": "x"}})
    assert r.status == 404 and r.json["message"] == 'namespaces "ghost" not found'


async def test_generate_name_and_dry_run(kube: Kube) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    r = await kube.post(base, {"metadata": {"generateName": "gen-"}})
    assert r.status == 201 and r.json["metadata"]["name"].startswith("gen-")
    assert len(r.json["metadata"]["name"]) == len("gen-") + 5
    r = await kube.post(base, {"metadata": {"name": "dry"}}, params={"dryRun": "All"})
    assert r.status == 201 and r.json["metadata"]["name"] == "dry"
    assert (await kube.get(base + "/dry")).status == 404


async def test_crd_is_established_and_served_at_once(kube: Kube) -> None:
    crd = await make_crd(kube)
    conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conds["Established"] == "True" and conds["NamesAccepted"] == "True"
    assert crd["status"]["acceptedNames"]["kind"] == "Widget"
    assert crd["status"]["storedVersions"] == ["v1"]
    r = await kube.post(W, widget("w1"))
    assert r.status == 201, r
    assert r.json["spec"]["replicas"] == 1  # defaulted
    assert r.json["metadata"]["generation"] == 1


async def test_invalid_crd_rejected_with_paths(kube: Kube) -> None:
    bad = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "things.example.com"},
           "spec": {"group": "example.com", "scope": "Sideways",
                    "names": {"plural": "things", "kind": "Thing"},
                    "versions": [{"name": "v1", "served": True, "storage": True}]}}
    r = await kube.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", bad)
    assert r.status == 422
    fields = {c["field"] for c in r.json["details"]["causes"]}
    assert "spec.scope" in fields
    assert "spec.versions[0].schema.openAPIV3Schema" in fields


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"size": "huge"}, "spec.size"),
        ({}, "spec.size"),
        ({"size": "small", "replicas": -1}, "spec.replicas"),
        ({"size": "small", "replicas": "three"}, "spec.replicas"),
        ({"size": "small", "tags": ["a", "a"]}, "spec.tags[1]"),
        ({"size": "small", "port": 1.5}, "spec.port"),
    ],
)
async def test_schema_validation_422_with_field_paths(kube: Kube, spec: dict[str, Any], field: str) -> None:
    await make_crd(kube)
    obj = widget("bad")
    obj["spec"] = spec
    r = await kube.post(W, obj)
    assert r.status == 422, r
    assert r.json["reason"] == "Invalid"
    assert field in {c["field"] for c in r.json["details"]["causes"]}, r.json


async def test_int_or_string_accepts_both(kube: Kube) -> None:
    await make_crd(kube)
    assert (await kube.post(W, widget("a", port=80))).status == 201
    assert (await kube.post(W, widget("b", port="http"))).status == 201


async def test_field_validation_strict_warn_ignore(kube: Kube) -> None:
    await make_crd(kube)
    obj = widget("s", bogus=1)
    r = await kube.post(W, obj, params={"fieldValidation": "Strict"})
    assert r.status == 400 and r.json["reason"] == "BadRequest"
    assert 'unknown field "spec.bogus"' in r.json["message"]
    r = await kube.post(W, obj, params={"fieldValidation": "Warn"})
    assert r.status == 201 and "bogus" not in r.json["spec"]
    assert 'unknown field \\"spec.bogus\\"' in r.headers.get("Warning", "") or "spec.bogus" in r.headers.get(
        "Warning", "")
    obj2 = widget("i", bogus=1, extra={"anything": {"goes": True}})
    r = await kube.post(W, obj2, params={"fieldValidation": "Ignore"})
    assert r.status == 201 and "bogus" not in r.json["spec"]
    assert r.json["spec"]["extra"] == {"anything": {"goes": True}}  # preserved


async def test_generation_and_status_subresource(kube: Kube) -> None:
    await make_crd(kube)
    r = await kube.post(W, widget("g", status={"phase": "ignored"}))
    w = r.json
    assert "status" not in w  # status is written only through /status
    r = await kube.patch(W + "/g", {"spec": {"replicas": 3}})
    assert r.json["metadata"]["generation"] == 2
    r = await kube.patch(W + "/g", {"metadata": {"labels": {"x": "y"}}})
    assert r.json["metadata"]["generation"] == 2  # metadata only
    r = await kube.patch(W + "/g/status", {"status": {"phase": "Ready", "observedGeneration": 2},
                                          "spec": {"replicas": 9}})
    assert r.status == 200
    assert r.json["status"]["phase"] == "Ready" and r.json["spec"]["replicas"] == 3
    assert r.json["metadata"]["generation"] == 2
    r = await kube.patch(W + "/g", {"status": {"phase": "Hacked"}})
    assert r.json["status"]["phase"] == "Ready"  # main endpoint ignores status


async def test_scale_subresource(kube: Kube) -> None:
    await make_crd(kube)
    await kube.post(W, widget("sc", replicas=2))
    r = await kube.get(W + "/sc/scale")
    assert r.status == 200 and r.json["kind"] == "Scale" and r.json["apiVersion"] == "autoscaling/v1"
    assert r.json["spec"]["replicas"] == 2
    scale = r.json
    scale["spec"]["replicas"] = 5
    r = await kube.put(W + "/sc/scale", scale)
    assert r.status == 200 and r.json["spec"]["replicas"] == 5
    assert (await kube.get(W + "/sc")).json["spec"]["replicas"] == 5
    r = await kube.patch(W + "/sc/scale", {"spec": {"replicas": 1}})
    assert r.json["spec"]["replicas"] == 1


async def test_finalizers_hold_deletion(kube: Kube) -> None:
    await make_crd(kube)
    obj = widget("f")
    obj["metadata"]["finalizers"] = ["example.com/hold"]
    await kube.post(W, obj)
    r = await kube.delete(W + "/f")
    assert r.status == 200  # kube: 200 with the object while finalizers remain (202 only for orphanDependents=false)
    assert r.json["metadata"]["deletionTimestamp"]
    r = await kube.get(W + "/f")
    assert r.status == 200 and r.json["metadata"]["deletionTimestamp"]
    r = await kube.patch(W + "/f", {"metadata": {"finalizers": ["example.com/hold", "example.com/new"]}})
    assert r.status == 422 and "no new finalizers" in r.json["message"]
    r = await kube.patch(W + "/f", {"metadata": {"finalizers": None}})
    assert r.status == 200
    assert (await kube.get(W + "/f")).status == 404


async def test_list_paging_and_selectors(kube: Kube) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    for i in range(7):
        await kube.post(base, {"metadata": {"name": f"cm{i}", "labels": {"tier": "a" if i % 2 else "b",
                                                                          "n": str(i)}}})
    r = await kube.get(base, params={"limit": "3"})
    assert len(r.json["items"]) == 3 and r.json["metadata"]["continue"]
    assert r.json["metadata"]["remainingItemCount"] == 4
    names = [i["metadata"]["name"] for i in r.json["items"]]
    cont = r.json["metadata"]["continue"]
    while cont:
        r = await kube.get(base, params={"limit": "3", "continue": cont})
        names += [i["metadata"]["name"] for i in r.json["items"]]
        cont = r.json["metadata"].get("continue", "")
    assert names == [f"cm{i}" for i in range(7)]
    r = await kube.get(base, params={"labelSelector": "tier=a"})
    assert {i["metadata"]["name"] for i in r.json["items"]} == {"cm1", "cm3", "cm5"}
    r = await kube.get(base, params={"labelSelector": "tier in (a),n notin (1,3)"})
    assert {i["metadata"]["name"] for i in r.json["items"]} == {"cm5"}
    r = await kube.get(base, params={"labelSelector": "!n"})
    assert r.json["items"] == []
    r = await kube.get(base, params={"fieldSelector": "metadata.name=cm4"})
    assert [i["metadata"]["name"] for i in r.json["items"]] == ["cm4"]
    r = await kube.get(base, params={"labelSelector": "tier in (a"})
    assert r.status == 400 and r.json["reason"] == "BadRequest"
    r = await kube.get(base, params={"fieldSelector": "data.k=v"})
    assert r.status == 400 and "field label not supported" in r.json["message"]


async def _all_pages(kube: Kube, base: str, cont: str) -> list[Any]:
    items: list[Any] = []
    while cont:
        r = await kube.get(base, params={"limit": "2", "continue": cont})
        assert r.status == 200, r.json
        items += r.json["items"]
        cont = r.json["metadata"].get("continue", "")
    return items


async def test_paged_list_is_a_consistent_snapshot(kube: Kube, server: RunningServer) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    for i in range(6):
        await kube.post(base, {"metadata": {"name": f"cm{i}"}, "data": {"v": "1"}})
    r = await kube.get(base, params={"limit": "2"})
    first_rv, cont = r.json["metadata"]["resourceVersion"], r.json["metadata"]["continue"]
    names = [i["metadata"]["name"] for i in r.json["items"]]
    # between the pages: an object created, one changed, one deleted, all after the first page's key
    await kube.post(base, {"metadata": {"name": "cm3a"}})
    await kube.patch(base + "/cm4", {"data": {"v": "2"}})
    await kube.delete(base + "/cm5")
    rest = await _all_pages(kube, base, cont)
    # every page is the list as it was at the first page's resourceVersion, as etcd serves kube's pages
    assert names + [i["metadata"]["name"] for i in rest] == [f"cm{i}" for i in range(6)]
    assert next(i for i in rest if i["metadata"]["name"] == "cm4")["data"] == {"v": "1"}
    r = await kube.get(base, params={"limit": "2", "continue": cont})
    assert r.json["metadata"]["resourceVersion"] == first_rv
    # a token is good only for the list that issued it
    r = await kube.get("/api/v1/namespaces/kube-system/configmaps", params={"limit": "2", "continue": cont})
    assert r.status == 410 and r.json["reason"] == "Expired"
    # an expired snapshot: 410 Expired, and a token that continues from the current state (kube after compaction)
    server.api.api.snapshots.ttl = 0.0
    r = await kube.get(base, params={"limit": "2", "continue": cont})
    assert r.status == 410 and r.json["reason"] == "Expired" and "too old" in r.json["message"]
    rest = await _all_pages(kube, base, r.json["metadata"]["continue"])
    assert [i["metadata"]["name"] for i in rest] == ["cm2", "cm3", "cm3a", "cm4"]
    r = await kube.get(base, params={"limit": "2", "continue": "not-a-token"})
    assert r.status == 400 and "continue key is not valid" in r.json["message"]


async def test_pod_and_event_field_selectors(kube: Kube) -> None:
    for name, node in (("p1", "n1"), ("p2", "n2"), ("p3", "n1")):
        r = await kube.post("/api/v1/namespaces/default/pods", {
            "metadata": {"name": name}, "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]}})
        assert r.status == 201, r
    r = await kube.get("/api/v1/pods", params={"fieldSelector": "spec.nodeName=n1"})
    assert {i["metadata"]["name"] for i in r.json["items"]} == {"p1", "p3"}
    ev = {"metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "p1", "namespace": "default",
                                                         "uid": "u1"}, "reason": "Test", "message": "m",
          "type": "Normal"}
    assert (await kube.post("/api/v1/namespaces/default/events", ev)).status == 201
    r = await kube.get("/api/v1/namespaces/default/events",
                       params={"fieldSelector": "involvedObject.uid=u1,involvedObject.name=p1"})
    assert [i["metadata"]["name"] for i in r.json["items"]] == ["e1"]


async def test_cluster_scoped_custom_resource(kube: Kube) -> None:
    await make_crd(kube, GADGET_CRD)
    r = await kube.post("/apis/example.com/v1/gadgets", {"apiVersion": "example.com/v1", "kind": "Gadget",
                                                         "metadata": {"name": "g1"}, "anything": [1, 2]})
    assert r.status == 201 and r.json["anything"] == [1, 2]
    r = await kube.get("/apis/example.com/v1/gadgets/g1")
    assert r.status == 200


async def test_secret_string_data_is_folded(kube: Kube) -> None:
    r = await kube.post("/api/v1/namespaces/default/secrets",
                        {"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}})
    assert r.status == 201
    assert r.json["data"] == {"password": "aHVudGVyMg=="} and r.json["type"] == "Opaque"
    assert "stringData" not in r.json


async def test_delete_collection(kube: Kube) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    for i in range(3):
        await kube.post(base, {"metadata": {"name": f"d{i}", "labels": {"del": "yes" if i else "no"}}})
    r = await kube.delete(base, params={"labelSelector": "del=yes"})
    assert r.status == 200
    left = {i["metadata"]["name"] for i in (await kube.get(base)).json["items"]}
    assert left == {"d0"}


async def test_token_request_for_service_account(kube: Kube, server: RunningServer) -> None:
    sa = "/api/v1/namespaces/default/serviceaccounts"
    assert (await kube.post(sa, {"metadata": {"name": "robot"}})).status == 201
    r = await kube.post(sa + "/robot/token", {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                              "spec": {"audiences": []}})
    assert r.status == 201, r
    token = r.json["status"]["token"]
    robot = Kube(server, token=token)
    try:
        # authenticated, but no rule allows a service account anything: 403 with a clear message
        r = await robot.get("/api/v1/namespaces/default/configmaps")
        assert r.status == 403 and r.json["reason"] == "Forbidden"
        assert 'User "system:serviceaccount:default:robot" cannot list resource "configmaps"' in r.json["message"]
        assert (await kube.delete(sa + "/robot")).status == 200
        r = await robot.get("/api/v1/namespaces/default/configmaps")
        assert r.status == 401  # the token died with its service account
    finally:
        await robot.close()
    r = await kube.post(sa + "/ghost/token", {"kind": "TokenRequest"})
    assert r.status == 404
    assert (await kube.post(sa, {"metadata": {"name": "robot2"}})).status == 201
    for spec, field in (([], "spec"), ({"expirationSeconds": 60}, "spec.expirationSeconds"),
                        ({"expirationSeconds": "1h"}, "spec.expirationSeconds")):
        r = await kube.post(sa + "/robot2/token", {"kind": "TokenRequest", "spec": spec})
        assert r.status == 422 and r.json["details"]["causes"][0]["field"] == field, r.json
