"""Discovery, OpenAPI and Table output as kubectl requests them."""

from __future__ import annotations

from .crds import widget
from .kube import Kube
from .test_crud import W, make_crd

AGG_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
                "g=meta.k8s.io,application/json")


async def test_aggregated_discovery_content_type(kube: Kube) -> None:
    r = await kube.get("/apis", headers={"Accept": AGG_ACCEPT})
    assert r.headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    assert r.json["kind"] == "APIGroupDiscoveryList"
    groups = {g["metadata"]["name"] for g in r.json["items"]}
    assert {"coordination.k8s.io", "apiextensions.k8s.io"} <= groups
    r = await kube.get("/api", headers={"Accept": AGG_ACCEPT})
    core = r.json["items"][0]["versions"][0]["resources"]
    pods = next(x for x in core if x["resource"] == "pods")
    assert {s["subresource"] for s in pods["subresources"]} >= {"status", "eviction"}


async def test_legacy_discovery_and_crd_appears(kube: Kube) -> None:
    r = await kube.get("/api/v1")
    names = {x["name"] for x in r.json["resources"]}
    assert {"pods", "pods/eviction", "nodes", "namespaces", "events", "secrets", "configmaps"} <= names
    ev = next(x for x in r.json["resources"] if x["name"] == "pods/eviction")
    assert (ev["group"], ev["version"], ev["kind"]) == ("policy", "v1", "Eviction")
    assert (await kube.get("/apis/example.com/v1")).status == 404
    await make_crd(kube)
    r = await kube.get("/apis/example.com/v1")
    names = {x["name"] for x in r.json["resources"]}
    assert {"widgets", "widgets/status", "widgets/scale"} <= names
    r = await kube.get("/apis")
    assert "example.com" in {g["name"] for g in r.json["groups"]}


async def test_openapi_v3_lists_field_validation(kube: Kube) -> None:
    await make_crd(kube)
    idx = (await kube.get("/openapi/v3")).json
    url = idx["paths"]["apis/example.com/v1"]["serverRelativeURL"]
    doc = (await kube.get(url)).json
    patch_ops = [op["patch"] for path, op in doc["paths"].items() if "patch" in op and "{name}" in path]
    assert patch_ops
    params = {p["name"] for p in patch_ops[0].get("parameters", [])} | {
        p["name"] for path_item in doc["paths"].values() for p in path_item.get("parameters", [])}
    assert "fieldValidation" in params
    assert "application/strategic-merge-patch+json" not in patch_ops[0]["requestBody"]["content"]
    r = await kube.get("/openapi/v2")
    assert r.headers["Content-Type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


async def test_table_with_printer_columns(kube: Kube) -> None:
    await make_crd(kube)
    await kube.post(W, widget("t1", replicas=3))
    r = await kube.get(W, headers={"Accept": TABLE_ACCEPT})
    assert r.json["kind"] == "Table"
    cols = [c["name"] for c in r.json["columnDefinitions"]]
    assert cols == ["Name", "Replicas", "Phase", "Age"]
    row = r.json["rows"][0]
    assert row["cells"][0] == "t1" and row["cells"][1] == 3
    assert row["object"]["kind"] == "PartialObjectMetadata"
    r = await kube.get("/api/v1/namespaces", headers={"Accept": TABLE_ACCEPT})
    assert [c["name"] for c in r.json["columnDefinitions"]][:2] == ["Name", "Status"]
