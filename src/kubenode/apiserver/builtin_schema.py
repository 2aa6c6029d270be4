"""Builders of structural OpenAPI v3 schemas for the built-in kinds (builtins.py, builtin_pod.py, ...).

Every built-in schema is built from these so that they share one shape:
`type: object` with properties at every level (the validator and pruner need
structural schemas), `nullable` below the root (Go's decoder treats null as
unset), and sub-trees we do not model kept verbatim.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubenode.apiserver.resources import Obj

CONVENTIONS_URL = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"

API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should "
    "convert recognized schemas to the latest internal value, and may reject unrecognized values. "
    f"More info: {CONVENTIONS_URL}#resources"
)
KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer "
    "this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. "
    f"More info: {CONVENTIONS_URL}#types-kinds"
)
METADATA_DESCRIPTION = f"Standard object's metadata. More info: {CONVENTIONS_URL}#metadata"


def string(description: str, **extra: Any) -> Obj:
    return {"type": "string", "description": description, **extra}


def integer(description: str, fmt: str = "int32") -> Obj:
    return {"type": "integer", "format": fmt, "description": description}


def boolean(description: str) -> Obj:
    return {"type": "boolean", "description": description}


def timestamp(description: str) -> Obj:
    # metav1.Time and metav1.MicroTime are both RFC 3339 strings on the wire.
    return {"type": "string", "format": "date-time", "description": description}


def string_map(description: str, fmt: str = "") -> Obj:
    value: Obj = {"type": "string"}
    if fmt:
        value["format"] = fmt
    return {"type": "object", "description": description, "additionalProperties": value}


def obj(description: str, properties: dict[str, Obj], *, required: Sequence[str] = (),
         preserve: bool = False) -> Obj:
    schema: Obj = {"type": "object", "description": description, "properties": properties}
    if required:
        schema["required"] = list(required)
    if preserve:
        schema["x-kubernetes-preserve-unknown-fields"] = True
    return schema


def free_object(description: str) -> Obj:
    """An object whose content we do not model: kept verbatim, never pruned."""
    return {"type": "object", "description": description, "x-kubernetes-preserve-unknown-fields": True}


def array(description: str, items: Obj, *, map_keys: Sequence[str] = (), list_type: str = "") -> Obj:
    schema: Obj = {"type": "array", "description": description, "items": items}
    if map_keys:
        schema["x-kubernetes-list-type"] = "map"
        schema["x-kubernetes-list-map-keys"] = list(map_keys)
    elif list_type:
        schema["x-kubernetes-list-type"] = list_type
    return schema


def string_list(description: str, list_type: str = "atomic") -> Obj:
    return array(description, {"type": "string"}, list_type=list_type)


def quantity(description: str) -> Obj:
    # resource.Quantity accepts "100m", 2 and 0.5 alike; int-or-string would reject 0.5, so the
    # value is left untyped (allowed by structural rules together with preserve-unknown-fields).
    return {"description": description, "x-kubernetes-preserve-unknown-fields": True}


def quantity_map(description: str) -> Obj:
    return {"type": "object", "description": description, "additionalProperties": quantity("")}


def int_or_string(description: str) -> Obj:
    return {"description": description, "x-kubernetes-int-or-string": True}


def make_nullable(schema: Obj) -> Obj:
    """Mark every node below the root nullable (Go decoding treats null as unset)."""
    for child in (schema.get("properties") or {}).values():
        child["nullable"] = True
        make_nullable(child)
    for key in ("items", "additionalProperties"):
        child = schema.get(key)
        if isinstance(child, dict):
            child["nullable"] = True
            make_nullable(child)
    return schema


def root(description: str, properties: dict[str, Obj], *, required: Sequence[str] = ()) -> Obj:
    """A kind's root schema: apiVersion, kind and metadata plus the kind's own fields.

    `metadata` keeps everything: ObjectMeta is validated by the server's own
    metadata checks, and pruning it here would silently drop labels.
    """
    props: dict[str, Obj] = {
        "apiVersion": string(API_VERSION_DESCRIPTION),
        "kind": string(KIND_DESCRIPTION),
        "metadata": {
            "type": "object",
            "description": METADATA_DESCRIPTION,
            "x-kubernetes-preserve-unknown-fields": True,
        },
    }
    props.update(properties)
    return make_nullable(obj(description, props, required=required))


def conditions(description: str, *, probe_time: bool = False, heartbeat: bool = False) -> Obj:
    props: dict[str, Obj] = {
        "type": string("Type of condition."),
        "status": string("Status of the condition, one of True, False, Unknown."),
    }
    if heartbeat:
        props["lastHeartbeatTime"] = timestamp("Last time we got an update on a given condition.")
    if probe_time:
        props["lastProbeTime"] = timestamp("Last time we probed the condition.")
    props["lastTransitionTime"] = timestamp("Last time the condition transitioned from one status to another.")
    props["reason"] = string("Unique, one-word, CamelCase reason for the condition's last transition.")
    props["message"] = string("Human-readable message indicating details about last transition.")
    return array(description, obj("A condition of the object.", props, required=("type", "status")),
                 map_keys=("type",))


def object_reference(description: str) -> Obj:
    return obj(description, {
        "apiVersion": string("API version of the referent."),
        "fieldPath": string("If referring to a piece of an object instead of an entire object, this string "
                          "should contain a valid JSON/Go field access statement, such as "
                          "desiredState.manifest.containers[2]."),
        "kind": string(f"Kind of the referent. More info: {CONVENTIONS_URL}#types-kinds"),
        "name": string("Name of the referent."),
        "namespace": string("Namespace of the referent."),
        "resourceVersion": string("Specific resourceVersion to which this reference is made, if any."),
        "uid": string("UID of the referent."),
    })


def local_object_reference(description: str) -> Obj:
    return obj(description, {"name": string("Name of the referent.")})


META_HINTS: dict[str, tuple[str, str]] = {
    "metadata.finalizers": ("merge", ""),
    "metadata.ownerReferences": ("merge", "uid"),
}
