"""The protobuf bodies kubectl v1.32's typed clients send (`kubectl create configmap|secret|namespace`)."""

from __future__ import annotations

import pytest

from kubenode.apiserver import protobuf

# `kubectl create configmap cfg --from-literal=a=1 -n default`, as captured with -v=9.
CONFIGMAP = bytes.fromhex(
    "6b387300" "0a0f0a027631" "1209436f6e6669674d6170"  # magic, typeMeta {v1, ConfigMap}
    "1224" "0a1a0a03636667" "1200" "1a0764656661756c74" "22002a00320038004200"  # raw: metadata
    "12060a0161120131"  # data {a: "1"}
    "1a002200")  # contentEncoding, contentType


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _envelope(api_version: str, kind: str, body: bytes) -> bytes:
    type_meta = _field(1, api_version.encode()) + _field(2, kind.encode())
    return protobuf.MAGIC + _field(1, type_meta) + _field(2, body) + _field(3, b"") + _field(4, b"")


def test_configmap_captured_from_kubectl() -> None:
    assert protobuf.decode(CONFIGMAP) == {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "default"},
        "data": {"a": "1"},
    }


def test_secret_bytes_become_base64_and_labels_map() -> None:
    meta = _field(1, b"s1") + _field(11, _field(1, b"app") + _field(2, b"web"))
    body = _field(1, meta) + _field(2, _field(1, b"password") + _field(2, b"hunter2")) + _field(3, b"Opaque")
    assert protobuf.decode(_envelope("v1", "Secret", body)) == {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s1", "labels": {"app": "web"}},
        "data": {"password": "aHVudGVyMg=="}, "type": "Opaque",
    }


def test_namespace_with_timestamp_and_finalizers() -> None:
    time = bytes([0x08]) + _varint(1711276800)  # seconds
    meta = _field(1, b"team-a") + _field(8, time) + _field(14, b"example.com/x")
    obj = protobuf.decode(_envelope("v1", "Namespace", _field(1, meta) + _field(2, _field(1, b"kubernetes"))))
    assert obj["metadata"] == {"name": "team-a", "creationTimestamp": "2024-03-24T10:40:00Z",
                               "finalizers": ["example.com/x"]}
    assert obj["spec"] == {"finalizers": ["kubernetes"]}


@pytest.mark.parametrize("raw", [
    b"{}",
    protobuf.MAGIC + b"\x0a\x05",
    _envelope("apps/v1", "DaemonSet", b""),
])
def test_unsupported_or_malformed(raw: bytes) -> None:
    with pytest.raises(protobuf.ProtobufError):
        protobuf.decode(raw)


@pytest.mark.parametrize(("kind", "body", "expected"), [
    ("ClusterRole", _field(1, _field(1, b"cm-reader")) + _field(2, _field(1, b"get") + _field(1, b"list")
                                                              + _field(2, b"") + _field(3, b"configmaps")),
     {"metadata": {"name": "cm-reader"},
      "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"]}]}),
    ("Role", _field(1, _field(1, b"r") + _field(3, b"ns")) + _field(2, _field(1, b"get") + _field(5, b"/x")),
     {"metadata": {"name": "r", "namespace": "ns"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}]}),
    ("RoleBinding", _field(1, _field(1, b"b")) + _field(2, _field(1, b"ServiceAccount") + _field(3, b"robot")
                                                      + _field(4, b"team"))
     + _field(3, _field(1, b"rbac.authorization.k8s.io") + _field(2, b"ClusterRole") + _field(3, b"view")),
     {"metadata": {"name": "b"}, "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "team"}],
      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}}),
    ("ClusterRoleBinding", _field(1, _field(1, b"b"))
     + _field(2, _field(1, b"Group") + _field(2, b"rbac.authorization.k8s.io") + _field(3, b"devs"))
     + _field(3, _field(1, b"rbac.authorization.k8s.io") + _field(2, b"ClusterRole") + _field(3, b"view")),
     {"metadata": {"name": "b"}, "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                                               "name": "devs"}],
      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}}),
])
def test_rbac_kinds(kind: str, body: bytes, expected: dict[str, object]) -> None:
    """`kubectl create clusterrole|role|rolebinding|clusterrolebinding` send rbac/v1 protobuf."""
    assert protobuf.decode(_envelope("rbac.authorization.k8s.io/v1", kind, body)) == {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, **expected}


def test_deployment_as_kubectl_create_deployment_sends_it() -> None:
    """replicas is a pointer (0 stays 0), IntOrString keeps its kind, Quantity maps hold strings."""
    container = (_field(1, b"web") + _field(2, b"nginx:1.27") + _field(6, b"\x18\x50")
                 + _field(8, _field(1, _field(1, b"cpu") + _field(2, _field(1, b"500m")))))
    template = _field(1, _field(11, _field(1, b"app") + _field(2, b"web"))) + _field(2, _field(2, container))
    rolling = _field(1, b"\x08\x01" + _field(3, b"50%")) + _field(2, b"\x10\x02")
    spec = (b"\x08\x00" + _field(2, _field(1, _field(1, b"app") + _field(2, b"web"))) + _field(3, template)
            + _field(4, _field(1, b"RollingUpdate") + _field(2, rolling)))
    obj = protobuf.decode(_envelope("apps/v1", "Deployment", _field(1, _field(1, b"web")) + _field(2, spec)))
    assert obj["spec"]["replicas"] == 0
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert obj["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%",
                                                                                  "maxSurge": 2}}
    assert obj["spec"]["template"]["spec"]["containers"] == [
        {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
         "resources": {"limits": {"cpu": "500m"}}}]
