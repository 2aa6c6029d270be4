"""Built-in resources: identity, structural schemas, strategic-merge hints, and CRD -> ResourceInfo."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from kubenode.apiserver.builtins import (
    BUILTIN_RESOURCES,
    builtin_by_plural,
    crd_to_resource_infos,
    storage_version,
)
from kubenode.apiserver.resources import Obj, ResourceInfo, ScaleSpec

BY_KEY = {(r.group, r.plural): r for r in BUILTIN_RESOURCES}


@pytest.mark.parametrize(
    ("group", "plural", "kind", "namespaced", "short_names", "status"),
    [
        ("", "namespaces", "Namespace", False, ("ns",), True),
        ("", "nodes", "Node", False, ("no",), True),
        ("", "pods", "Pod", True, ("po",), True),
        ("", "events", "Event", True, ("ev",), False),
        ("", "secrets", "Secret", True, (), False),
        ("", "configmaps", "ConfigMap", True, ("cm",), False),
        ("", "serviceaccounts", "ServiceAccount", True, ("sa",), False),
        ("coordination.k8s.io", "leases", "Lease", True, (), False),
        ("apiextensions.k8s.io", "customresourcedefinitions", "CustomResourceDefinition", False,
         ("crd", "crds"), True),
    ],
)
def test_builtin_identity(group: str, plural: str, kind: str, namespaced: bool,
                          short_names: tuple[str, ...], status: bool) -> None:
    info = BY_KEY[(group, plural)]
    assert info.builtin
    assert info.kind == kind
    assert info.version == "v1"
    assert info.namespaced is namespaced
    assert info.short_names == short_names
    assert info.status_subresource is status
    assert info.schema is not None
    assert info.printer_columns
    assert builtin_by_plural(group, plural) is info


def test_builtins_are_unique() -> None:
    assert len(BY_KEY) == len(BUILTIN_RESOURCES)
    assert builtin_by_plural("", "nope") is None


@pytest.mark.parametrize(
    ("plural", "expected"),
    [
        ("pods", {"spec.nodeName", "status.phase", "spec.restartPolicy", "spec.schedulerName",
                  "spec.serviceAccountName", "status.podIP", "status.nominatedNodeName"}),
        ("events", {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                    "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                    "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}),
    ],
)
def test_field_selectors(plural: str, expected: set[str]) -> None:
    assert BY_KEY[("", plural)].field_selectors == expected


def test_pod_eviction_and_categories() -> None:
    pods = BY_KEY[("", "pods")]
    assert pods.extra_subresources == {"eviction": ("policy", "v1", "Eviction", ("create",))}
    assert pods.categories == ("all",)
    crds = BY_KEY[("apiextensions.k8s.io", "customresourcedefinitions")]
    assert crds.categories == ("api-extensions",)


def _walk(schema: Obj, path: str = "") -> Iterator[tuple[str, Obj]]:
    yield path, schema
    for name, child in (schema.get("properties") or {}).items():
        yield from _walk(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("info", BUILTIN_RESOURCES, ids=lambda r: r.plural)
def test_schema_is_structural(info: ResourceInfo) -> None:
    assert info.schema is not None
    for path, node in _walk(info.schema):
        if "properties" in node or "additionalProperties" in node:
            assert node.get("type") == "object", path
        if node.get("type") == "array":
            assert isinstance(node.get("items"), dict), path
        if "type" not in node:
            # Structural schemas allow an untyped node only for int-or-string or preserved values.
            untyped_ok = node.get("x-kubernetes-int-or-string") or node.get(
                "x-kubernetes-preserve-unknown-fields")
            assert untyped_ok, path
        for forbidden in ("$ref", "allOf", "oneOf"):
            assert forbidden not in node, path


@pytest.mark.parametrize("info", BUILTIN_RESOURCES, ids=lambda r: r.plural)
def test_root_fields_and_metadata_never_pruned(info: ResourceInfo) -> None:
    assert info.schema is not None
    props = info.schema["properties"]
    assert props["apiVersion"]["type"] == "string"
    assert props["kind"]["type"] == "string"
    assert props["metadata"]["type"] == "object"
    assert props["metadata"]["x-kubernetes-preserve-unknown-fields"] is True
    assert "properties" not in props["metadata"]
    assert info.schema.get("description")


def _resolve(schema: Obj, dotted: str) -> Obj | None:
    node: Obj | None = schema
    for segment in dotted.split("."):
        if node is None:
            return None
        node = (node.get("properties") or {}).get(segment.removesuffix("[]"))
        if node is not None and segment.endswith("[]"):
            node = node.get("items")
    return node


@pytest.mark.parametrize("info", BUILTIN_RESOURCES, ids=lambda r: r.plural)
def test_smp_hints_point_at_lists(info: ResourceInfo) -> None:
    assert info.smp_hints["metadata.finalizers"] == ("merge", "")
    assert info.smp_hints["metadata.ownerReferences"] == ("merge", "uid")
    assert info.schema is not None
    for path, (strategy, key) in info.smp_hints.items():
        assert strategy.startswith("merge"), path
        if path.startswith("metadata."):
            continue
        node = _resolve(info.schema, path)
        assert node is not None, path
        assert node["type"] == "array", path
        if key:
            assert key in node["items"]["properties"], path


@pytest.mark.parametrize(
    ("plural", "path", "hint"),
    [
        ("nodes", "spec.taints", ("merge", "key")),
        ("nodes", "status.conditions", ("merge", "type")),
        ("nodes", "status.addresses", ("merge", "type")),
        ("pods", "spec.containers", ("merge", "name")),
        ("pods", "spec.containers[].env", ("merge", "name")),
        ("pods", "spec.containers[].ports", ("merge", "containerPort")),
        ("pods", "spec.initContainers[].volumeMounts", ("merge", "mountPath")),
        ("pods", "spec.volumes", ("merge,retainKeys", "name")),
        ("pods", "status.conditions", ("merge", "type")),
        ("namespaces", "status.conditions", ("merge", "type")),
        ("serviceaccounts", "secrets", ("merge", "name")),
    ],
)
def test_smp_hints_match_kubernetes_tags(plural: str, path: str, hint: tuple[str, str]) -> None:
    assert BY_KEY[("", plural)].smp_hints[path] == hint


def _validate(info: ResourceInfo, obj: Obj) -> list[str]:
    assert info.schema is not None
    return [e.message for e in OAS30Validator(info.schema).iter_errors(obj)]


REAL_MANIFESTS: list[tuple[str, str, Obj]] = [
    ("", "pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"a": "b"}},
        "spec": {
            "containers": [{
                "name": "nginx", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}],
                "env": [{"name": "A", "value": "1"},
                        {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": 0.5}},
                "livenessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
                "readinessProbe": {"tcpSocket": {"port": 80}},
                "securityContext": {"runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }],
            "volumes": [{"name": "data", "emptyDir": {}},
                        {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "a", "path": "a"}]}},
                        {"name": "csi", "csi": {"driver": "x"}}],
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}},
            "restartPolicy": "Always",
        },
        "status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastProbeTime": None,
             "lastTransitionTime": "2024-01-01T00:00:00Z"}]},
    }),
    ("", "nodes", {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
        "spec": {"podCIDR": "10.0.0.0/24", "podCIDRs": ["10.0.0.0/24"], "providerID": "local://n1",
                 "taints": [{"key": "k", "value": "v", "effect": "NoExecute",
                             "timeAdded": "2024-01-01T00:00:00Z"}]},
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "3800m"},
            "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2024-01-01T00:00:00Z",
                            "lastTransitionTime": "2024-01-01T00:00:00Z", "reason": "KubeletReady",
                            "message": "ok"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "6.1",
                         "osImage": "Debian", "containerRuntimeVersion": "containerd://1.7",
                         "kubeletVersion": "v1.32.0", "kubeProxyVersion": "", "operatingSystem": "linux",
                         "architecture": "amd64"},
            "images": [{"names": ["nginx"], "sizeBytes": 1000}],
        },
    }),
    ("", "secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque",
                     "data": {"a": "YQ=="}, "stringData": {"b": "c"}, "immutable": False}),
    ("", "configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                        "data": {"a": "b"}, "binaryData": {"x": "eA=="}}),
    ("", "serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"},
                             "secrets": [{"name": "tok"}], "automountServiceAccountToken": False}),
    ("", "events", {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "d"},
                    "involvedObject": {"kind": "Pod", "name": "p", "namespace": "d", "uid": "u"},
                    "reason": "Started", "message": "m", "type": "Normal", "count": 2,
                    "source": {"component": "kubelet", "host": "n1"}, "eventTime": None,
                    "firstTimestamp": "2024-01-01T00:00:00Z"}),
    ("coordination.k8s.io", "leases", {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "n1"},
        "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40,
                 "renewTime": "2024-01-01T00:00:00.123456Z", "leaseTransitions": 0}}),
    ("", "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"},
                        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
]


@pytest.mark.parametrize(("group", "plural", "manifest"), REAL_MANIFESTS,
                         ids=[m[1] for m in REAL_MANIFESTS])
def test_real_manifests_validate(group: str, plural: str, manifest: Obj) -> None:
    assert _validate(BY_KEY[(group, plural)], manifest) == []


@pytest.mark.parametrize(
    ("plural", "bad"),
    [
        ("pods", {"spec": {"containers": "nginx"}}),
        ("pods", {"spec": {"containers": [{"image": "x"}]}}),  # name is required
        ("nodes", {"spec": {"unschedulable": "yes"}}),
        ("nodes", {"spec": {"taints": [{"key": "k", "effect": "Sometimes"}]}}),
        ("events", {"metadata": {}, "involvedObject": {}, "count": "two"}),
    ],
)
def test_bad_values_are_rejected(plural: str, bad: Obj) -> None:
    assert _validate(BY_KEY[("", plural)], bad)


CRONTAB_CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "crontabs.stable.example.com"},
    "spec": {
        "group": "stable.example.com",
        "scope": "Namespaced",
        "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "listKind": "CronTabList",
                  "shortNames": ["ct"], "categories": ["all"]},
        "versions": [
            {"name": "v1beta1", "served": True, "storage": False,
             "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}},
            {"name": "v1", "served": True, "storage": True,
             "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                 "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}},
             "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                      "statusReplicasPath": ".status.replicas",
                                                      "labelSelectorPath": ".status.selector"}},
             "additionalPrinterColumns": [{"name": "Replicas", "type": "integer",
                                           "jsonPath": ".spec.replicas"}]},
            {"name": "v0", "served": False, "storage": False},
        ],
    },
}


def test_crd_to_resource_infos() -> None:
    infos = crd_to_resource_infos(CRONTAB_CRD)
    assert [i.version for i in infos] == ["v1beta1", "v1"]
    beta, ga = infos
    for info in infos:
        assert not info.builtin
        assert info.group == "stable.example.com"
        assert (info.kind, info.plural, info.singular) == ("CronTab", "crontabs", "crontab")
        assert info.namespaced
        assert info.short_names == ("ct",)
        assert info.categories == ("all",)
        assert info.track_generation
    assert not beta.status_subresource
    assert beta.scale is None
    assert ga.status_subresource
    assert ga.scale == ScaleSpec(".spec.replicas", ".status.replicas", ".status.selector")
    assert any(c.name == "Replicas" and c.json_path == ".spec.replicas" for c in ga.printer_columns)
    assert ga.schema is not None
    # the implicit root fields are declared so a pruner keeps them
    assert set(ga.schema["properties"]) >= {"apiVersion", "kind", "metadata", "spec"}
    # the CRD object itself is not modified
    assert "apiVersion" not in CRONTAB_CRD["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"versions": [{"name": "v1", "storage": False}, {"name": "v2", "storage": True}]}, "v2"),
        ({"versions": [{"name": "v1alpha1"}]}, "v1alpha1"),
        ({"versions": []}, ""),
        ({}, ""),
    ],
)
def test_storage_version(spec: dict[str, Any], expected: str) -> None:
    assert storage_version({"spec": spec}) == expected


@pytest.mark.parametrize(
    ("scope", "singular", "expected_singular", "namespaced"),
    [("Cluster", None, "widget", False), ("Namespaced", "wdg", "wdg", True)],
)
def test_crd_defaults(scope: str, singular: str | None, expected_singular: str, namespaced: bool) -> None:
    crd: Obj = {"spec": {"group": "kubenode.io", "scope": scope,
                         "names": {"plural": "widgets", "kind": "Widget", "singular": singular},
                         "versions": [{"name": "v1alpha1", "served": True, "storage": True}]}}
    (info,) = crd_to_resource_infos(crd)
    assert info.singular == expected_singular
    assert info.namespaced is namespaced
    assert info.schema is None
    assert info.printer_columns == crd_to_resource_infos(crd)[0].printer_columns
