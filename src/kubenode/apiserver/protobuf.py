"""Decoding of the Kubernetes protobuf wire format for the few built-ins kubectl sends that way.

kubectl v1.32's typed clients (`kubectl create namespace|configmap|secret|serviceaccount`)
POST `application/vnd.kubernetes.protobuf`: the magic `k8s\\x00` followed by a
`runtime.Unknown` envelope {typeMeta{apiVersion, kind}, raw, contentEncoding,
contentType} whose `raw` is the object's message from `k8s.io/api/.../generated.proto`.
Field numbers below are copied from those files. Zero values are dropped, as the
JSON encoding (`omitempty`) would; unknown fields are ignored. Kinds without a
table here stay 415 so the client can retry with JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

MAGIC = b"k8s\x00"

# A field: (json name, kind, repeated). kind is "string", "bytes", "int", "bool", a message
# table name, or "map:string" / "map:bytes" (map<string, string|bytes>).
Field = tuple[str, str, bool]

TABLES: dict[str, dict[int, Field]] = {
    "Time": {1: ("seconds", "int", False), 2: ("nanos", "int", False)},
    "OwnerReference": {
        1: ("kind", "string", False), 3: ("name", "string", False), 4: ("uid", "string", False),
        5: ("apiVersion", "string", False), 6: ("controller", "bool", False),
        7: ("blockOwnerDeletion", "bool", False),
    },
    "ObjectMeta": {
        1: ("name", "string", False), 2: ("generateName", "string", False), 3: ("namespace", "string", False),
        5: ("uid", "string", False), 6: ("resourceVersion", "string", False), 7: ("generation", "int", False),
        8: ("creationTimestamp", "Time", False), 9: ("deletionTimestamp", "Time", False),
        10: ("deletionGracePeriodSeconds", "int", False), 11: ("labels", "map:string", False),
        12: ("annotations", "map:string", False), 13: ("ownerReferences", "OwnerReference", True),
        14: ("finalizers", "string", True),
    },
    "ObjectReference": {
        1: ("kind", "string", False), 2: ("namespace", "string", False), 3: ("name", "string", False),
        4: ("uid", "string", False), 5: ("apiVersion", "string", False), 6: ("resourceVersion", "string", False),
        7: ("fieldPath", "string", False),
    },
    "LocalObjectReference": {1: ("name", "string", False)},
    "NamespaceSpec": {1: ("finalizers", "string", True)},
    "NamespaceStatus": {1: ("phase", "string", False)},
    "Namespace": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "NamespaceSpec", False),
                  3: ("status", "NamespaceStatus", False)},
    "ConfigMap": {1: ("metadata", "ObjectMeta", False), 2: ("data", "map:string", False),
                  3: ("binaryData", "map:bytes", False), 4: ("immutable", "bool", False)},
    "Secret": {1: ("metadata", "ObjectMeta", False), 2: ("data", "map:bytes", False), 3: ("type", "string", False),
               4: ("stringData", "map:string", False), 5: ("immutable", "bool", False)},
    "ServiceAccount": {1: ("metadata", "ObjectMeta", False), 2: ("secrets", "ObjectReference", True),
                       3: ("imagePullSecrets", "LocalObjectReference", True),
                       4: ("automountServiceAccountToken", "bool", False)},
    # authorization.k8s.io/v1 and authentication.k8s.io/v1 self reviews (`kubectl auth can-i|whoami`);
    # their status is the server's answer, so it is not read.
    "ResourceAttributes": {1: ("namespace", "string", False), 2: ("verb", "string", False),
                           3: ("group", "string", False), 4: ("version", "string", False),
                           5: ("resource", "string", False), 6: ("subresource", "string", False),
                           7: ("name", "string", False)},
    "NonResourceAttributes": {1: ("path", "string", False), 2: ("verb", "string", False)},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes", False),
                                    2: ("nonResourceAttributes", "NonResourceAttributes", False)},
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta", False),
                                2: ("spec", "SelfSubjectAccessReviewSpec", False)},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "string", False)},
    "SelfSubjectRulesReview": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "SelfSubjectRulesReviewSpec", False)},
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta", False)},
    # serviceaccounts/token (`kubectl create token`)
    "BoundObjectReference": {1: ("kind", "string", False), 2: ("apiVersion", "string", False),
                             3: ("name", "string", False), 4: ("uid", "string", False)},
    "TokenRequestSpec": {1: ("audiences", "string", True), 3: ("boundObjectRef", "BoundObjectReference", False),
                         4: ("expirationSeconds", "int", False)},
    "TokenRequest": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "TokenRequestSpec", False)},
    # rbac.authorization.k8s.io/v1 (`kubectl create role|clusterrole|rolebinding|clusterrolebinding`);
    # aggregationRule is not read (aggregation is not evaluated here).
    "PolicyRule": {1: ("verbs", "string", True), 2: ("apiGroups", "string", True), 3: ("resources", "string", True),
                   4: ("resourceNames", "string", True), 5: ("nonResourceURLs", "string", True)},
    "Role": {1: ("metadata", "ObjectMeta", False), 2: ("rules", "PolicyRule", True)},
    "ClusterRole": {1: ("metadata", "ObjectMeta", False), 2: ("rules", "PolicyRule", True)},
    "Subject": {1: ("kind", "string", False), 2: ("apiGroup", "string", False), 3: ("name", "string", False),
                4: ("namespace", "string", False)},
    "RoleRef": {1: ("apiGroup", "string", False), 2: ("kind", "string", False), 3: ("name", "string", False)},
    "RoleBinding": {1: ("metadata", "ObjectMeta", False), 2: ("subjects", "Subject", True),
                    3: ("roleRef", "RoleRef", False)},
    "ClusterRoleBinding": {1: ("metadata", "ObjectMeta", False), 2: ("subjects", "Subject", True),
                           3: ("roleRef", "RoleRef", False)},
    # apps/v1, policy/v1 and core/v1 Services (`kubectl create deployment|service|pdb`): the fields those
    # commands send; a PodSpec beyond containers, ports, env, resources and mounts goes through JSON.
    "IntOrString": {1: ("type", "int", False), 2: ("intVal", "int", False), 3: ("strVal", "string", False)},
    "LabelSelectorRequirement": {1: ("key", "string", False), 2: ("operator", "string", False),
                                 3: ("values", "string", True)},
    "LabelSelector": {1: ("matchLabels", "map:string", False),
                      2: ("matchExpressions", "LabelSelectorRequirement", True)},
    "ContainerPort": {1: ("name", "string", False), 2: ("hostPort", "int", False),
                      3: ("containerPort", "int", False), 4: ("protocol", "string", False),
                      5: ("hostIP", "string", False)},
    "EnvVar": {1: ("name", "string", False), 2: ("value", "string", False)},
    "ResourceRequirements": {1: ("limits", "map:Quantity", False), 2: ("requests", "map:Quantity", False)},
    "VolumeMount": {1: ("name", "string", False), 2: ("readOnly", "bool", False), 3: ("mountPath", "string", False),
                    4: ("subPath", "string", False)},
    "Container": {1: ("name", "string", False), 2: ("image", "string", False), 3: ("command", "string", True),
                  4: ("args", "string", True), 5: ("workingDir", "string", False),
                  6: ("ports", "ContainerPort", True), 7: ("env", "EnvVar", True),
                  8: ("resources", "ResourceRequirements", False), 9: ("volumeMounts", "VolumeMount", True),
                  13: ("terminationMessagePath", "string", False), 14: ("imagePullPolicy", "string", False),
                  20: ("terminationMessagePolicy", "string", False)},
    "PodSpec": {2: ("containers", "Container", True), 3: ("restartPolicy", "string", False),
                4: ("terminationGracePeriodSeconds", "int", False), 6: ("dnsPolicy", "string", False),
                7: ("nodeSelector", "map:string", False), 8: ("serviceAccountName", "string", False),
                9: ("serviceAccount", "string", False), 10: ("nodeName", "string", False),
                11: ("hostNetwork", "bool", False), 19: ("schedulerName", "string", False),
                20: ("initContainers", "Container", True), 24: ("priorityClassName", "string", False)},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "PodSpec", False)},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "IntOrString", False), 2: ("maxSurge", "IntOrString", False)},
    "DeploymentStrategy": {1: ("type", "string", False), 2: ("rollingUpdate", "RollingUpdateDeployment", False)},
    "DeploymentSpec": {1: ("replicas", "int", False), 2: ("selector", "LabelSelector", False),
                       3: ("template", "PodTemplateSpec", False), 4: ("strategy", "DeploymentStrategy", False),
                       5: ("minReadySeconds", "int", False), 6: ("revisionHistoryLimit", "int", False),
                       7: ("paused", "bool", False), 9: ("progressDeadlineSeconds", "int", False)},
    "Deployment": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "DeploymentSpec", False)},
    "ServicePort": {1: ("name", "string", False), 2: ("protocol", "string", False), 3: ("port", "int", False),
                    4: ("targetPort", "IntOrString", False), 5: ("nodePort", "int", False),
                    6: ("appProtocol", "string", False)},
    "ServiceSpec": {1: ("ports", "ServicePort", True), 2: ("selector", "map:string", False),
                    3: ("clusterIP", "string", False), 4: ("type", "string", False),
                    5: ("externalIPs", "string", True), 7: ("sessionAffinity", "string", False),
                    10: ("externalName", "string", False), 11: ("externalTrafficPolicy", "string", False),
                    18: ("clusterIPs", "string", True)},
    "Service": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "ServiceSpec", False)},
    "PodDisruptionBudgetSpec": {1: ("minAvailable", "IntOrString", False), 2: ("selector", "LabelSelector", False),
                                3: ("maxUnavailable", "IntOrString", False),
                                4: ("unhealthyPodEvictionPolicy", "string", False)},
    "PodDisruptionBudget": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "PodDisruptionBudgetSpec", False)},
    # certificates.k8s.io/v1 (`kubectl certificate approve|deny` PUT /approval). spec.extra (6, a map of
    # ExtraValue messages) is not read: the server sets the requester fields itself and keeps them.
    "CertificateSigningRequestSpec": {1: ("request", "bytes", False), 2: ("username", "string", False),
                                      3: ("uid", "string", False), 4: ("groups", "string", True),
                                      5: ("usages", "string", True), 7: ("signerName", "string", False),
                                      8: ("expirationSeconds", "int", False)},
    "CertificateSigningRequestCondition": {1: ("type", "string", False), 6: ("status", "string", False),
                                           2: ("reason", "string", False), 3: ("message", "string", False),
                                           4: ("lastUpdateTime", "Time", False),
                                           5: ("lastTransitionTime", "Time", False)},
    "CertificateSigningRequestStatus": {1: ("conditions", "CertificateSigningRequestCondition", True),
                                        2: ("certificate", "bytes", False)},
    "CertificateSigningRequest": {1: ("metadata", "ObjectMeta", False),
                                  2: ("spec", "CertificateSigningRequestSpec", False),
                                  3: ("status", "CertificateSigningRequestStatus", False)},
}

#: Top-level kinds that may arrive as protobuf, by (apiVersion, kind).
KINDS = {("v1", k) for k in ("Namespace", "ConfigMap", "Secret", "ServiceAccount")} | {
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"), ("authorization.k8s.io/v1", "SelfSubjectRulesReview"),
    ("authentication.k8s.io/v1", "SelfSubjectReview"), ("authentication.k8s.io/v1", "TokenRequest"),
    ("certificates.k8s.io/v1", "CertificateSigningRequest")} | {
    ("rbac.authorization.k8s.io/v1", k) for k in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")} | {
    ("apps/v1", "Deployment"), ("v1", "Service"), ("policy/v1", "PodDisruptionBudget")}

# Pointer fields (`*bool`) are only on the wire when set: keep their false values.
_KEEP_FALSE = {"immutable", "automountServiceAccountToken", "controller", "blockOwnerDeletion", "replicas",
               "revisionHistoryLimit", "progressDeadlineSeconds", "terminationGracePeriodSeconds", "maxUnavailable",
               "maxSurge", "minAvailable"}


class ProtobufError(ValueError):
    """The body is not a protobuf message this server understands."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs; varints as int, length-delimited as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        num, wire = tag >> 3, tag & 7
        if wire == 0:
            val, pos = _varint(buf, pos)
            out.append((num, val))
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ProtobufError("truncated field")
            out.append((num, buf[pos:pos + size]))
            pos += size
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _time(msg: dict[str, Any]) -> str | None:
    seconds = msg.get("seconds", 0)
    if not seconds and not msg.get("nanos"):
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode(buf: bytes, table: str) -> dict[str, Any]:
    spec = TABLES[table]
    out: dict[str, Any] = {}
    for num, raw in _fields(buf):
        f = spec.get(num)
        if f is None:
            continue
        name, kind, repeated = f
        value: Any
        if kind.startswith("map:"):
            if not isinstance(raw, bytes):
                raise ProtobufError(f"{name}: expected a map entry")
            entry = dict(_fields(raw))
            key, val = entry.get(1, b""), entry.get(2, b"")
            if not isinstance(key, bytes) or not isinstance(val, bytes):
                raise ProtobufError(f"{name}: malformed map entry")
            if kind == "map:Quantity":  # resource.Quantity is a message holding its string form
                quantity = dict(_fields(val)).get(1, b"")
                text = quantity.decode() if isinstance(quantity, bytes) else ""
            else:
                text = base64.b64encode(val).decode() if kind == "map:bytes" else val.decode()
            out.setdefault(name, {})[key.decode()] = text
            continue
        if kind == "int":
            if not isinstance(raw, int):
                raise ProtobufError(f"{name}: expected a varint")
            value = _signed(raw)
        elif kind == "bool":
            if not isinstance(raw, int):
                raise ProtobufError(f"{name}: expected a varint")
            value = bool(raw)
        elif not isinstance(raw, bytes):
            raise ProtobufError(f"{name}: expected a length-delimited field")
        elif kind == "string":
            value = raw.decode()
        elif kind == "bytes":
            value = base64.b64encode(raw).decode()
        elif kind == "Time":
            value = _time(_decode(raw, "Time"))
        elif kind == "IntOrString":
            parts = _decode(raw, "IntOrString")
            value = parts.get("strVal", "") if parts.get("type") == 1 else parts.get("intVal", 0)
        else:
            value = _decode(raw, kind)
        if repeated:
            out.setdefault(name, []).append(value)
        elif value is None or (value in ("", 0, False) and name not in _KEEP_FALSE):
            out.pop(name, None)
        else:
            out[name] = value
    return out


def decode(raw: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded built-in object; ProtobufError when unsupported."""
    if not raw.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic prefix")
    envelope = dict(_fields(raw[len(MAGIC):]))
    type_meta, body = envelope.get(1, b""), envelope.get(2, b"")
    if not isinstance(type_meta, bytes) or not isinstance(body, bytes):
        raise ProtobufError("malformed runtime.Unknown envelope")
    tm = {k: v.decode() for k, v in _fields(type_meta) if isinstance(v, bytes)}
    api_version, kind = tm.get(1, ""), tm.get(2, "")
    if (api_version, kind) not in KINDS:
        raise ProtobufError(f"protobuf is not supported for {api_version}/{kind}")
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    obj.update(_decode(body, kind))
    return obj
