"""Discovery documents: legacy per-group lists and aggregated discovery v2."""

from __future__ import annotations

import pytest

from kubenode.apiserver.builtins import BUILTIN_RESOURCES
from kubenode.apiserver.discovery import (
    CONTENT_TYPE_AGGREGATED_V2,
    CONTENT_TYPE_AGGREGATED_V2BETA1,
    aggregated_api_version,
    aggregated_discovery,
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
    storage_version_hash,
    version_priority,
    wants_aggregated,
)
from kubenode.apiserver.resources import Obj, ResourceInfo, ScaleSpec

KUBECTL_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)
V2BETA1_ONLY = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"

MACHINESET_V1 = ResourceInfo(
    group="kubenode.io", version="v1", kind="MachineSet", plural="machinesets", singular="machineset",
    namespaced=False, short_names=("ms",), categories=("kubenode",), status_subresource=True,
    scale=ScaleSpec(".spec.replicas", ".status.replicas", ".status.selector"),
)
MACHINESET_V1ALPHA1 = ResourceInfo(
    group="kubenode.io", version="v1alpha1", kind="MachineSet", plural="machinesets",
    singular="machineset", namespaced=False,
)
MACHINESET_V2BETA1 = ResourceInfo(
    group="kubenode.io", version="v2beta1", kind="MachineSet", plural="machinesets",
    singular="machineset", namespaced=False,
)
ALL = (*BUILTIN_RESOURCES, MACHINESET_V1ALPHA1, MACHINESET_V2BETA1, MACHINESET_V1)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (KUBECTL_ACCEPT, CONTENT_TYPE_AGGREGATED_V2),
        (V2BETA1_ONLY, CONTENT_TYPE_AGGREGATED_V2BETA1),
        ("application/json", None),
        ("", None),
        ("*/*", None),
        ("application/json, " + CONTENT_TYPE_AGGREGATED_V2, None),  # client prefers legacy
        ("application/json;q=0.5, " + CONTENT_TYPE_AGGREGATED_V2, CONTENT_TYPE_AGGREGATED_V2),
        ("application/json;g=apidiscovery.k8s.io;v=v9;as=APIGroupDiscoveryList, application/json", None),
        ("application/json; g=apidiscovery.k8s.io; v=v2; as=APIGroupDiscoveryList",
         CONTENT_TYPE_AGGREGATED_V2),
        ("application/json;as=Table;v=v1;g=meta.k8s.io, application/json", None),
    ],
)
def test_wants_aggregated(accept: str, expected: str | None) -> None:
    assert wants_aggregated(accept) == expected


@pytest.mark.parametrize(
    ("content_type", "version"),
    [(CONTENT_TYPE_AGGREGATED_V2, "v2"), (CONTENT_TYPE_AGGREGATED_V2BETA1, "v2beta1")],
)
def test_aggregated_api_version(content_type: str, version: str) -> None:
    assert aggregated_api_version(content_type) == version


@pytest.mark.parametrize(
    ("versions", "preferred_first"),
    [
        (["v1alpha1", "v1", "v1beta1"], ["v1", "v1beta1", "v1alpha1"]),
        (["v2", "v10", "v1"], ["v10", "v2", "v1"]),
        (["v1beta2", "v1beta10", "foo", "v2alpha1"], ["v1beta10", "v1beta2", "v2alpha1", "foo"]),
    ],
)
def test_version_priority(versions: list[str], preferred_first: list[str]) -> None:
    assert sorted(versions, key=version_priority) == preferred_first


@pytest.mark.parametrize(
    ("group", "version", "kind", "expected"),
    [("", "v1", "Pod", "xPOwRZ+Yhw8=")],  # the value a real kube-apiserver publishes
)
def test_storage_version_hash(group: str, version: str, kind: str, expected: str) -> None:
    assert storage_version_hash(group, version, kind) == expected


def test_api_versions() -> None:
    assert api_versions("127.0.0.1:6443") == {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
    }


def test_api_group_list_prefers_ga() -> None:
    body = api_group_list(ALL)
    assert body["kind"] == "APIGroupList"
    assert body["apiVersion"] == "v1"
    by_name = {g["name"]: g for g in body["groups"]}
    assert set(by_name) == {"coordination.k8s.io", "apiextensions.k8s.io", "authorization.k8s.io",
                            "authentication.k8s.io", "rbac.authorization.k8s.io", "apps", "policy",
                            "admissionregistration.k8s.io", "certificates.k8s.io", "kubenode.io"}  # no core
    kubenode = by_name["kubenode.io"]
    assert kubenode["preferredVersion"] == {"groupVersion": "kubenode.io/v1", "version": "v1"}
    assert [v["version"] for v in kubenode["versions"]] == ["v1", "v2beta1", "v1alpha1"]
    assert api_group("kubenode.io", ALL)["kind"] == "APIGroup"
    assert api_group("kubenode.io", ALL)["versions"] == kubenode["versions"]


@pytest.mark.parametrize("info", BUILTIN_RESOURCES, ids=lambda r: r.plural)
def test_every_builtin_in_resource_list(info: ResourceInfo) -> None:
    body = api_resource_list(info.group, info.version, BUILTIN_RESOURCES)
    assert body["kind"] == "APIResourceList"
    assert body["groupVersion"] == info.api_version
    (entry,) = [r for r in body["resources"] if r["name"] == info.plural]
    assert entry["singularName"] == info.singular
    assert entry["namespaced"] == info.namespaced
    assert entry["kind"] == info.kind
    assert entry["verbs"] == list(info.verbs)
    assert entry.get("shortNames", []) == list(info.short_names)
    assert entry["storageVersionHash"] == storage_version_hash(info.group, info.version, info.kind)


@pytest.mark.parametrize(
    ("group", "version", "name", "expected"),
    [
        ("", "v1", "pods/status",
         {"name": "pods/status", "singularName": "", "namespaced": True, "kind": "Pod",
          "verbs": ["get", "patch", "update"]}),
        ("", "v1", "pods/eviction",
         {"name": "pods/eviction", "singularName": "", "namespaced": True, "group": "policy",
          "version": "v1", "kind": "Eviction", "verbs": ["create"]}),
        ("", "v1", "nodes/status",
         {"name": "nodes/status", "singularName": "", "namespaced": False, "kind": "Node",
          "verbs": ["get", "patch", "update"]}),
        ("kubenode.io", "v1", "machinesets/scale",
         {"name": "machinesets/scale", "singularName": "", "namespaced": False, "group": "autoscaling",
          "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}),
        ("kubenode.io", "v1", "machinesets/status",
         {"name": "machinesets/status", "singularName": "", "namespaced": False, "kind": "MachineSet",
          "verbs": ["get", "patch", "update"]}),
    ],
)
def test_subresource_entries(group: str, version: str, name: str, expected: Obj) -> None:
    body = api_resource_list(group, version, ALL)
    (entry,) = [r for r in body["resources"] if r["name"] == name]
    assert entry == expected


def test_resource_list_only_has_its_group_version() -> None:
    body = api_resource_list("kubenode.io", "v1alpha1", ALL)
    assert [r["name"] for r in body["resources"]] == ["machinesets"]
    assert api_resource_list("nope.io", "v1", ALL)["resources"] == []


def _resources_of(body: Obj, group: str, version: str) -> dict[str, Obj]:
    for item in body["items"]:
        if item["metadata"].get("name", "") == group:
            for v in item["versions"]:
                if v["version"] == version:
                    return {r["resource"]: r for r in v["resources"]}
    raise AssertionError(f"{group}/{version} missing")


def test_aggregated_core() -> None:
    body = aggregated_discovery(ALL, legacy_core=True)
    assert body["kind"] == "APIGroupDiscoveryList"
    assert body["apiVersion"] == "apidiscovery.k8s.io/v2"
    assert len(body["items"]) == 1
    (version,) = body["items"][0]["versions"]
    assert version["freshness"] == "Current"
    resources = _resources_of(body, "", "v1")
    assert set(resources) == {r.plural for r in BUILTIN_RESOURCES if not r.group}
    pods = resources["pods"]
    assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert pods["scope"] == "Namespaced"
    assert pods["singularResource"] == "pod"
    assert pods["shortNames"] == ["po"]
    assert pods["categories"] == ["all"]
    assert pods["subresources"] == [
        {"subresource": "eviction", "responseKind": {"group": "policy", "version": "v1", "kind": "Eviction"},
         "verbs": ["create"]},
        {"subresource": "status", "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
         "verbs": ["get", "patch", "update"]},
    ]
    assert resources["nodes"]["scope"] == "Cluster"
    assert "subresources" not in resources["configmaps"]


def test_aggregated_named_groups() -> None:
    body = aggregated_discovery(ALL, legacy_core=False, api_version="v2beta1")
    assert body["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    names = [item["metadata"]["name"] for item in body["items"]]
    assert names == ["coordination.k8s.io", "apiextensions.k8s.io", "authorization.k8s.io", "authentication.k8s.io",
                     "rbac.authorization.k8s.io", "apps", "policy", "admissionregistration.k8s.io",
                     "certificates.k8s.io", "kubenode.io"]
    kubenode = body["items"][names.index("kubenode.io")]
    assert [v["version"] for v in kubenode["versions"]] == ["v1", "v2beta1", "v1alpha1"]
    ms = _resources_of(body, "kubenode.io", "v1")["machinesets"]
    assert ms["scope"] == "Cluster"
    assert {s["subresource"]: s["responseKind"]["kind"] for s in ms["subresources"]} == {
        "scale": "Scale", "status": "MachineSet",
    }
    crd = _resources_of(body, "apiextensions.k8s.io", "v1")["customresourcedefinitions"]
    assert crd["shortNames"] == ["crd", "crds"]
    assert crd["categories"] == ["api-extensions"]


def test_aggregated_empty() -> None:
    assert aggregated_discovery([], legacy_core=True)["items"] == []
    assert aggregated_discovery([], legacy_core=False)["items"] == []
