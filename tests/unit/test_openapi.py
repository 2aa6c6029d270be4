"""OpenAPI v3 index and documents: what kubectl apply, client-side apply and explain rely on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from kubenode.apiserver.builtins import BUILTIN_RESOURCES
from kubenode.apiserver.openapi import (
    OPENAPI_V2_CONTENT_TYPE,
    OPENAPI_V2_STUB,
    document_path,
    group_versions,
    openapi_v3_document,
    openapi_v3_index,
    schema_name,
)
from kubenode.apiserver.resources import Obj, ResourceInfo, ScaleSpec

CRONTAB = ResourceInfo(
    group="stable.example.com", version="v1", kind="CronTab", plural="crontabs", singular="crontab",
    namespaced=True, short_names=("ct",), status_subresource=True,
    scale=ScaleSpec(".spec.replicas", ".status.replicas"),
    schema={"type": "object", "description": "A cron tab.", "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
        "spec": {"type": "object", "description": "The spec.", "properties": {
            "cronSpec": {"type": "string", "description": "When."},
            "replicas": {"type": "integer"},
        }},
    }},
)
MACHINE = ResourceInfo(
    group="kubenode.io", version="v1alpha1", kind="Machine", plural="machines", singular="machine",
    namespaced=False, status_subresource=True,
)
ALL = (*BUILTIN_RESOURCES, CRONTAB, MACHINE)
HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def _operations(doc: Obj) -> Iterator[tuple[str, str, Obj]]:
    for path, item in doc["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _schema_for_gvk(doc: Obj, group: str, version: str, kind: str) -> Obj:
    """What kubectl explain does: find the component schema tagged with the GVK."""
    wanted = {"group": group, "version": version, "kind": kind}
    matches = [s for s in doc["components"]["schemas"].values()
               if wanted in s.get("x-kubernetes-group-version-kind", [])]
    assert len(matches) == 1
    return matches[0]


def _deref(doc: Obj, node: Obj) -> Obj:
    while True:
        if "$ref" in node:
            node = doc["components"]["schemas"][node["$ref"].removeprefix("#/components/schemas/")]
        elif "allOf" in node and len(node["allOf"]) == 1:
            node = node["allOf"][0]
        else:
            return node


def test_v2_stub() -> None:
    assert OPENAPI_V2_CONTENT_TYPE == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    assert bytes([0x0A, 0x03, 0x32, 0x2E, 0x30]) == OPENAPI_V2_STUB


@pytest.mark.parametrize(
    ("group", "version", "kind", "builtin", "expected"),
    [
        ("", "v1", "Pod", True, "io.k8s.api.core.v1.Pod"),
        ("coordination.k8s.io", "v1", "Lease", True, "io.k8s.api.coordination.v1.Lease"),
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", True,
         "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"),
        ("policy", "v1", "Eviction", True, "io.k8s.api.policy.v1.Eviction"),
        ("stable.example.com", "v1", "CronTab", False, "com.example.stable.v1.CronTab"),
        ("kubenode.io", "v1alpha1", "MachineList", False, "io.kubenode.v1alpha1.MachineList"),
    ],
)
def test_schema_name(group: str, version: str, kind: str, builtin: bool, expected: str) -> None:
    assert schema_name(group, version, kind, builtin=builtin) == expected


def test_index_lists_every_group_version() -> None:
    index = openapi_v3_index(ALL)
    assert list(index["paths"]) == [
        "api/v1", "apis/coordination.k8s.io/v1", "apis/apiextensions.k8s.io/v1", "apis/authorization.k8s.io/v1",
        "apis/authentication.k8s.io/v1", "apis/rbac.authorization.k8s.io/v1", "apis/apps/v1", "apis/policy/v1",
        "apis/admissionregistration.k8s.io/v1", "apis/certificates.k8s.io/v1", "apis/stable.example.com/v1",
        "apis/kubenode.io/v1alpha1",
    ]
    for key, entry in index["paths"].items():
        url = entry["serverRelativeURL"]
        assert url.startswith(f"/openapi/v3/{key}?hash=")
        assert len(url.split("hash=")[1]) == 128
    assert group_versions(ALL)[0] == ("", "v1")
    assert document_path("", "v1") == "api/v1"


def test_index_hash_is_stable_and_tracks_changes() -> None:
    first = openapi_v3_index(ALL)
    assert openapi_v3_index(ALL) == first
    changed = replace(CRONTAB, short_names=("ct", "cts"), schema={"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"cronSpec": {"type": "integer"}}}}})
    second = openapi_v3_index((*BUILTIN_RESOURCES, changed, MACHINE))
    key = "apis/stable.example.com/v1"
    assert second["paths"][key] != first["paths"][key]
    assert second["paths"]["api/v1"] == first["paths"]["api/v1"]


@pytest.mark.parametrize(("group", "version"), [("", "v1"), ("coordination.k8s.io", "v1"),
                                                ("apiextensions.k8s.io", "v1"), ("stable.example.com", "v1"),
                                                ("kubenode.io", "v1alpha1")])
def test_document_shape_and_refs(group: str, version: str) -> None:
    doc = openapi_v3_document(group, version, ALL)
    assert doc["openapi"].startswith("3.0")
    assert doc["info"]["title"] == "Kubernetes"
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    for name in ("ObjectMeta", "ListMeta", "Status", "DeleteOptions", "Patch", "OwnerReference",
                 "ManagedFieldsEntry", "Time"):
        assert f"io.k8s.apimachinery.pkg.apis.meta.v1.{name}" in schemas
    op_ids = [op["operationId"] for _, _, op in _operations(doc)]
    assert len(op_ids) == len(set(op_ids))
    for _, _, op in _operations(doc):
        assert op["x-kubernetes-action"] in {"get", "list", "put", "patch", "post", "delete",
                                             "deletecollection"}
        assert set(op["x-kubernetes-group-version-kind"]) == {"group", "version", "kind"}
        assert "200" in op["responses"]


@pytest.mark.parametrize(
    ("group", "path", "methods", "op_ids"),
    [
        ("", "/api/v1/namespaces/{namespace}/pods", {"get", "post", "delete"},
         {"listCoreV1NamespacedPod", "createCoreV1NamespacedPod", "deleteCoreV1CollectionNamespacedPod"}),
        ("", "/api/v1/namespaces/{namespace}/pods/{name}", {"get", "put", "patch", "delete"},
         {"readCoreV1NamespacedPod", "replaceCoreV1NamespacedPod", "patchCoreV1NamespacedPod",
          "deleteCoreV1NamespacedPod"}),
        ("", "/api/v1/pods", {"get"}, {"listCoreV1PodForAllNamespaces"}),
        ("", "/api/v1/namespaces/{namespace}/pods/{name}/status", {"get", "put", "patch"},
         {"readCoreV1NamespacedPodStatus", "replaceCoreV1NamespacedPodStatus",
          "patchCoreV1NamespacedPodStatus"}),
        ("", "/api/v1/namespaces/{namespace}/pods/{name}/eviction", {"post"},
         {"createCoreV1NamespacedPodEviction"}),
        ("", "/api/v1/nodes/{name}", {"get", "put", "patch", "delete"},
         {"readCoreV1Node", "replaceCoreV1Node", "patchCoreV1Node", "deleteCoreV1Node"}),
        ("", "/api/v1/namespaces", {"get", "post"}, {"listCoreV1Namespace", "createCoreV1Namespace"}),
        ("stable.example.com", "/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/scale",
         {"get", "put", "patch"},
         {"readStableExampleComV1NamespacedCronTabScale", "replaceStableExampleComV1NamespacedCronTabScale",
          "patchStableExampleComV1NamespacedCronTabScale"}),
        ("kubenode.io", "/apis/kubenode.io/v1alpha1/machines", {"get", "post", "delete"},
         {"listKubenodeIoV1alpha1Machine", "createKubenodeIoV1alpha1Machine",
          "deleteKubenodeIoV1alpha1CollectionMachine"}),
    ],
)
def test_paths(group: str, path: str, methods: set[str], op_ids: set[str]) -> None:
    version = "v1alpha1" if group == "kubenode.io" else "v1"
    doc = openapi_v3_document(group, version, ALL)
    item = doc["paths"][path]
    assert {m for m in HTTP_METHODS if m in item} == methods
    assert {item[m]["operationId"] for m in methods} == op_ids


@pytest.mark.parametrize(
    ("group", "version", "strategic"),
    [("", "v1", True), ("coordination.k8s.io", "v1", True), ("apiextensions.k8s.io", "v1", True),
     ("stable.example.com", "v1", False), ("kubenode.io", "v1alpha1", False)],
)
def test_patch_operations(group: str, version: str, strategic: bool) -> None:
    doc = openapi_v3_document(group, version, ALL)
    patches = [op for _, method, op in _operations(doc) if method == "patch"]
    assert patches
    for op in patches:
        # kubectl checks the operation's own parameters: every PATCH must list fieldValidation.
        query = {p["name"] for p in op["parameters"] if p["in"] == "query"}
        assert {"fieldValidation", "fieldManager", "dryRun", "force"} <= query
        types = set(op["requestBody"]["content"])
        assert {"application/json-patch+json", "application/merge-patch+json",
                "application/apply-patch+yaml"} <= types
        assert ("application/strategic-merge-patch+json" in types) is strategic


def test_list_parameters() -> None:
    doc = openapi_v3_document("", "v1", ALL)
    op = doc["paths"]["/api/v1/namespaces/{namespace}/pods"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"labelSelector", "fieldSelector", "limit", "continue", "watch", "resourceVersion"} <= names
    path_params = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["parameters"]
    assert [p["name"] for p in path_params] == ["name", "namespace", "pretty"]


@pytest.mark.parametrize(
    ("group", "version", "kind", "name"),
    [
        ("", "v1", "Pod", "io.k8s.api.core.v1.Pod"),
        ("", "v1", "PodList", "io.k8s.api.core.v1.PodList"),
        ("", "v1", "Node", "io.k8s.api.core.v1.Node"),
        ("coordination.k8s.io", "v1", "Lease", "io.k8s.api.coordination.v1.Lease"),
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
         "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"),
        ("stable.example.com", "v1", "CronTab", "com.example.stable.v1.CronTab"),
        ("stable.example.com", "v1", "CronTabList", "com.example.stable.v1.CronTabList"),
        ("kubenode.io", "v1alpha1", "Machine", "io.kubenode.v1alpha1.Machine"),
    ],
)
def test_kind_schemas_tagged_with_gvk(group: str, version: str, kind: str, name: str) -> None:
    doc_version = "v1alpha1" if group == "kubenode.io" else "v1"
    doc = openapi_v3_document(group, doc_version, ALL)
    schema = _schema_for_gvk(doc, group, version, kind)
    assert schema is doc["components"]["schemas"][name]
    metadata = schema["properties"]["metadata"]
    meta_ref = "ObjectMeta" if not kind.endswith("List") else "ListMeta"
    meta_name = f"io.k8s.apimachinery.pkg.apis.meta.v1.{meta_ref}"
    assert metadata["allOf"] == [{"$ref": f"#/components/schemas/{meta_name}"}]


@pytest.mark.parametrize(
    ("group", "kind", "field_path", "expected_fields"),
    [
        ("", "Pod", "spec", {"containers", "volumes", "nodeName"}),
        ("", "Pod", "spec.containers", {"name", "image", "env", "ports"}),
        ("", "Node", "status.nodeInfo", {"kubeletVersion", "architecture"}),
        ("", "Pod", "metadata", {"name", "labels", "ownerReferences", "finalizers"}),
        ("coordination.k8s.io", "Lease", "spec", {"holderIdentity", "renewTime"}),
        ("stable.example.com", "CronTab", "spec", {"cronSpec", "replicas"}),
        ("stable.example.com", "CronTab", "metadata", {"name", "labels"}),
    ],
)
def test_explain_can_walk_fields(group: str, kind: str, field_path: str, expected_fields: set[str]) -> None:
    doc = openapi_v3_document(group, "v1", ALL)
    node = _schema_for_gvk(doc, group, "v1", kind)
    for segment in field_path.split("."):
        node = _deref(doc, node["properties"][segment])
        if node.get("type") == "array":
            node = _deref(doc, node["items"])
    assert expected_fields <= set(node["properties"])
    assert node.get("description")


@pytest.mark.parametrize(
    ("kind", "path", "strategy", "key"),
    [
        ("Pod", ("spec", "containers"), "merge", "name"),
        ("Node", ("spec", "taints"), "merge", "key"),
        ("Node", ("status", "conditions"), "merge", "type"),
    ],
)
def test_builtin_schemas_publish_patch_tags(
    kind: str, path: tuple[str, ...], strategy: str, key: str,
) -> None:
    doc = openapi_v3_document("", "v1", ALL)
    node = _schema_for_gvk(doc, "", "v1", kind)
    for segment in path:
        node = node["properties"][segment]
    assert node["x-kubernetes-patch-strategy"] == strategy
    assert node["x-kubernetes-patch-merge-key"] == key


def test_subresource_schemas() -> None:
    core = openapi_v3_document("", "v1", ALL)
    assert _schema_for_gvk(core, "policy", "v1", "Eviction")
    eviction = core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"]
    assert eviction["x-kubernetes-group-version-kind"] == {
        "group": "policy", "version": "v1", "kind": "Eviction",
    }
    cr = openapi_v3_document("stable.example.com", "v1", ALL)
    assert _schema_for_gvk(cr, "autoscaling", "v1", "Scale")
    assert "io.k8s.api.autoscaling.v1.Scale" not in core["components"]["schemas"]


def test_documents_do_not_alias_resource_schemas() -> None:
    before = repr(CRONTAB.schema)
    openapi_v3_document("stable.example.com", "v1", ALL)
    assert repr(CRONTAB.schema) == before


def test_unknown_group_version_is_empty() -> None:
    doc = openapi_v3_document("nope.io", "v1", ALL)
    assert doc["paths"] == {}
