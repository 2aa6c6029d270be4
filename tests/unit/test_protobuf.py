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
    _envelope("apps/v1", "Deployment", b""),
])
def test_unsupported_or_malformed(raw: bytes) -> None:
    with pytest.raises(protobuf.ProtobufError):
        protobuf.decode(raw)
