"""OpenAPI v3 documents (/openapi/v3, /openapi/v3/api/v1, /openapi/v3/apis/G/V) and the v2 stub.

kubectl 1.32 reads these for three things, so their shape follows the real
kube-apiserver closely:

* `apply/create/replace/edit` validation: if a PATCH operation tagged with the
  kind's `x-kubernetes-group-version-kind` lists the `fieldValidation` query
  parameter *on the operation itself*, kubectl leaves validation to the server.
* client-side apply: strategic merge is used only when the PATCH operation
  accepts `application/strategic-merge-patch+json` (built-ins only), and the
  merge keys come from `x-kubernetes-patch-strategy`/`-merge-key` on the schema.
* `kubectl explain`: the component schema whose `x-kubernetes-group-version-kind`
  matches the kind, with `metadata` referencing ObjectMeta via `allOf`.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from kubenode.apiserver.resources import Obj, ResourceInfo

OPENAPI_V2_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
#: A protobuf `openapi_v2.Document` with only `swagger: "2.0"`: enough for kubectl to fall through.
OPENAPI_V2_STUB = b"\x0a\x03\x32\x2e\x30"

KUBERNETES_VERSION = "v1.32.0"

_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
OBJECT_META = f"{_META}.ObjectMeta"
LIST_META = f"{_META}.ListMeta"
STATUS = f"{_META}.Status"
DELETE_OPTIONS = f"{_META}.DeleteOptions"
PATCH = f"{_META}.Patch"
SCALE = "io.k8s.api.autoscaling.v1.Scale"
EVICTION = "io.k8s.api.policy.v1.Eviction"

_CONV = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"

# Patch content types: custom resources get no strategic merge (kube answers 415 for it).
PATCH_CONTENT_TYPES_CUSTOM: tuple[str, ...] = (
    "application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json",
)
PATCH_CONTENT_TYPES_BUILTIN: tuple[str, ...] = (
    *PATCH_CONTENT_TYPES_CUSTOM, "application/strategic-merge-patch+json",
)
_RESPONSE_TYPES = ("application/json", "application/yaml")


def _ref(name: str) -> Obj:
    return {"$ref": f"#/components/schemas/{name}"}


def _ref_field(name: str, description: str = "", default: Any = None) -> Obj:
    # kube-openapi wraps a $ref with siblings in allOf (JSON Schema ignores siblings of $ref).
    field: Obj = {"allOf": [_ref(name)]}
    if default is not None:
        field["default"] = default
    if description:
        field["description"] = description
    return field


def _gvk(group: str, version: str, kind: str) -> Obj:
    return {"group": group, "version": version, "kind": kind}


# --------------------------------------------------------------------------- names


def _reverse_domain(group: str) -> str:
    return ".".join(reversed(group.split(".")))


def schema_name(group: str, version: str, kind: str, *, builtin: bool) -> str:
    """The components.schemas name Kubernetes uses for a kind.

    Built-ins: `io.k8s.api.<group short name>.<version>.<Kind>` (core group is
    "core"; apiextensions lives in its own module); custom resources: the
    group reversed, e.g. stable.example.com/v1 CronTab -> com.example.stable.v1.CronTab.
    """
    if not builtin:
        return f"{_reverse_domain(group)}.{version}.{kind}"
    if group == "apiextensions.k8s.io":
        return f"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}.{kind}"
    # rbac.authorization.k8s.io -> rbac, coordination.k8s.io -> coordination, policy -> policy
    short = group.split(".")[0] if group else "core"
    return f"io.k8s.api.{short}.{version}.{kind}"


def _operation_group(group: str, version: str, builtin: bool) -> str:
    """The `CoreV1` / `CoordinationV1` / `StableExampleComV1` part of operation ids."""
    if not group:
        base = "core"
    elif builtin:
        base = group.removesuffix(".k8s.io")
    else:
        base = group
    words = [w for w in base.replace("-", ".").split(".") if w]
    return "".join(w[:1].upper() + w[1:] for w in words) + version[:1].upper() + version[1:]


def _path_prefix(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def document_path(group: str, version: str) -> str:
    """The key of a group-version in the /openapi/v3 index ("api/v1", "apis/G/V")."""
    return _path_prefix(group, version).lstrip("/")


# --------------------------------------------------------------------------- meta schemas


def _time_field(description: str) -> Obj:
    return _ref_field(f"{_META}.Time", description)


def _meta_schemas() -> dict[str, Obj]:
    """ObjectMeta, ListMeta, Status, DeleteOptions, Patch and friends, as kube-apiserver publishes them."""
    string_map: Obj = {"type": "object", "additionalProperties": {"type": "string", "default": ""}}
    return {
        f"{_META}.Time": {
            "description": "Time is a wrapper around time.Time which supports correct marshaling to YAML "
                           "and JSON. Wrappers are provided for many of the factory methods that the time "
                           "package offers.",
            "type": "string", "format": "date-time",
        },
        f"{_META}.MicroTime": {
            "description": "MicroTime is version of Time with microsecond level precision.",
            "type": "string", "format": "date-time",
        },
        f"{_META}.FieldsV1": {
            "description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON "
                           "format.",
            "type": "object",
        },
        f"{_META}.ManagedFieldsEntry": {
            "description": "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the "
                           "resource that the fieldset applies to.",
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string", "description": "APIVersion defines the version of this "
                               "resource that this field set applies to."},
                "fieldsType": {"type": "string", "description": "FieldsType is the discriminator for the "
                               "different fields format and version. There is currently only one possible "
                               "value: \"FieldsV1\""},
                "fieldsV1": _ref_field(f"{_META}.FieldsV1", "FieldsV1 holds the first JSON version "
                                       "format as described in the \"FieldsV1\" type."),
                "manager": {"type": "string", "description": "Manager is an identifier of the workflow "
                            "managing these fields."},
                "operation": {"type": "string", "description": "Operation is the type of operation which "
                              "lead to this ManagedFieldsEntry being created. The only valid values for "
                              "this field are 'Apply' and 'Update'."},
                "subresource": {"type": "string", "description": "Subresource is the name of the "
                                "subresource used to update that object, or empty string if the object was "
                                "updated through the main resource."},
                "time": _time_field("Time is the timestamp of when the ManagedFields entry was added."),
            },
        },
        f"{_META}.OwnerReference": {
            "description": "OwnerReference contains enough information to let you identify an owning "
                           "object. An owning object must be in the same namespace as the dependent, or "
                           "be cluster-scoped, so there is no namespace field.",
            "type": "object",
            "required": ["apiVersion", "kind", "name", "uid"],
            "properties": {
                "apiVersion": {"type": "string", "default": "", "description": "API version of the "
                               "referent."},
                "blockOwnerDeletion": {"type": "boolean", "description": "If true, AND if the owner has the "
                                       "\"foregroundDeletion\" finalizer, then the owner cannot be deleted "
                                       "from the key-value store until this reference is removed."},
                "controller": {"type": "boolean", "description": "If true, this reference points to the "
                               "managing controller."},
                "kind": {"type": "string", "default": "", "description": f"Kind of the referent. More "
                         f"info: {_CONV}#types-kinds"},
                "name": {"type": "string", "default": "", "description": "Name of the referent. More info: "
                         "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"},
                "uid": {"type": "string", "default": "", "description": "UID of the referent. More info: "
                        "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#uids"},
            },
            "x-kubernetes-map-type": "atomic",
        },
        OBJECT_META: {
            "description": "ObjectMeta is metadata that all persisted resources must have, which includes "
                           "all objects users must create.",
            "type": "object",
            "properties": {
                "annotations": {**string_map, "description": "Annotations is an unstructured key value "
                                "map stored with a resource that may be set by external tools to store and "
                                "retrieve arbitrary metadata. They are not queryable and should be "
                                "preserved when modifying objects. More info: "
                                "https://kubernetes.io/docs/concepts/overview/working-with-objects/"
                                "annotations"},
                "creationTimestamp": _time_field("CreationTimestamp is a timestamp representing the "
                                                 "server time when this object was created. It is not "
                                                 "guaranteed to be set in happens-before order across "
                                                 "separate operations. Populated by the system. "
                                                 "Read-only. Null for lists."),
                "deletionGracePeriodSeconds": {"type": "integer", "format": "int64", "description": "Number "
                                               "of seconds allowed for this object to gracefully terminate "
                                               "before it will be removed from the system. Only set when "
                                               "deletionTimestamp is also set. Read-only."},
                "deletionTimestamp": _time_field("DeletionTimestamp is RFC 3339 date and time at which this "
                                                 "resource will be deleted. This field is set by the server "
                                                 "when a graceful deletion is requested by the user, and is "
                                                 "not directly settable by a client. Read-only."),
                "finalizers": {
                    "type": "array", "items": {"type": "string", "default": ""},
                    "description": "Must be empty before the object is deleted from the registry. Each "
                                   "entry is an identifier for the responsible component that will remove "
                                   "the entry from the list.",
                    "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge",
                },
                "generateName": {"type": "string", "description": "GenerateName is an optional prefix, "
                                 "used by the server, to generate a unique name ONLY IF the Name field has "
                                 "not been provided."},
                "generation": {"type": "integer", "format": "int64", "description": "A sequence number "
                               "representing a specific generation of the desired state. Populated by the "
                               "system. Read-only."},
                "labels": {**string_map, "description": "Map of string keys and values that can be used to "
                           "organize and categorize (scope and select) objects. May match selectors of "
                           "replication controllers and services. More info: "
                           "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels"},
                "managedFields": {
                    "type": "array", "items": _ref_field(f"{_META}.ManagedFieldsEntry", default={}),
                    "description": "ManagedFields maps workflow-id and version to the set of fields that "
                                   "are managed by that workflow. This is mostly for internal housekeeping, "
                                   "and users typically shouldn't need to set or understand this field.",
                    "x-kubernetes-list-type": "atomic",
                },
                "name": {"type": "string", "description": "Name must be unique within a namespace. Is "
                         "required when creating resources, although some resources may allow a client to "
                         "request the generation of an appropriate name automatically. Cannot be updated. "
                         "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/"
                         "names#names"},
                "namespace": {"type": "string", "description": "Namespace defines the space within which "
                              "each name must be unique. An empty namespace is equivalent to the "
                              "\"default\" namespace, but \"default\" is the canonical representation. "
                              "Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/"
                              "working-with-objects/namespaces"},
                "ownerReferences": {
                    "type": "array", "items": _ref_field(f"{_META}.OwnerReference", default={}),
                    "description": "List of objects depended by this object. If ALL objects in the list "
                                   "have been deleted, this object will be garbage collected.",
                    "x-kubernetes-list-map-keys": ["uid"], "x-kubernetes-list-type": "map",
                    "x-kubernetes-patch-merge-key": "uid", "x-kubernetes-patch-strategy": "merge",
                },
                "resourceVersion": {"type": "string", "description": "An opaque value that represents the "
                                    "internal version of this object that can be used by clients to "
                                    "determine when objects have changed. Populated by the system. "
                                    "Read-only."},
                "selfLink": {"type": "string", "description": "Deprecated: selfLink is a legacy read-only "
                             "field that is no longer populated by the system."},
                "uid": {"type": "string", "description": "UID is the unique in time and space value for "
                        "this object. It is typically generated by the server on successful creation of a "
                        "resource and is not allowed to change on PUT operations. Populated by the system. "
                        "Read-only."},
            },
        },
        LIST_META: {
            "description": "ListMeta describes metadata that synthetic resources must have, including "
                           "lists and various status objects.",
            "type": "object",
            "properties": {
                "continue": {"type": "string", "description": "continue may be set if the user set a limit "
                             "on the number of items returned, and indicates that the server has more data "
                             "available."},
                "remainingItemCount": {"type": "integer", "format": "int64", "description":
                                       "remainingItemCount is the number of subsequent items in the "
                                       "list which are not included in this list response."},
                "resourceVersion": {"type": "string", "description": "String that identifies the server's "
                                    "internal version of this object that can be used by clients to "
                                    "determine when objects have changed."},
                "selfLink": {"type": "string", "description": "Deprecated: selfLink is a legacy read-only "
                             "field that is no longer populated by the system."},
            },
        },
        f"{_META}.StatusCause": {
            "description": "StatusCause provides more information about an api.Status failure, including "
                           "cases when multiple errors are encountered.",
            "type": "object",
            "properties": {
                "field": {"type": "string", "description": "The field of the resource that has caused this "
                          "error, as named by its JSON serialization."},
                "message": {"type": "string", "description": "A human-readable description of the cause "
                            "of the error."},
                "reason": {"type": "string", "description": "A machine-readable description of the cause "
                           "of the error. If this value is empty there is no information available."},
            },
        },
        f"{_META}.StatusDetails": {
            "description": "StatusDetails is a set of additional properties that MAY be set by the server "
                           "to provide additional information about a response.",
            "type": "object",
            "properties": {
                "causes": {"type": "array", "items": _ref_field(f"{_META}.StatusCause", default={}),
                           "description": "The Causes array includes more details associated with the "
                                          "StatusReason failure.",
                           "x-kubernetes-list-type": "atomic"},
                "group": {"type": "string", "description": "The group attribute of the resource associated "
                          "with the status StatusReason."},
                "kind": {"type": "string", "description": "The kind attribute of the resource associated "
                         "with the status StatusReason."},
                "name": {"type": "string", "description": "The name attribute of the resource associated "
                         "with the status StatusReason (when there is a single name which can be "
                         "described)."},
                "retryAfterSeconds": {"type": "integer", "format": "int32", "description": "If specified, "
                                      "the time in seconds before the operation should be retried."},
                "uid": {"type": "string", "description": "UID of the resource."},
            },
        },
        STATUS: {
            "description": "Status is a return value for calls that don't return other objects.",
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema "
                               "of this representation of an object."},
                "code": {"type": "integer", "format": "int32", "description": "Suggested HTTP return code "
                         "for this status, 0 if not set."},
                "details": _ref_field(f"{_META}.StatusDetails", "Extended data associated with the reason."),
                "kind": {"type": "string", "description": "Kind is a string value representing the REST "
                         "resource this object represents."},
                "message": {"type": "string", "description": "A human-readable description of the status "
                            "of this operation."},
                "metadata": _ref_field(LIST_META, f"Standard list metadata. More info: {_CONV}#types-kinds",
                                       default={}),
                "reason": {"type": "string", "description": "A machine-readable description of why this "
                           "operation is in the \"Failure\" status."},
                "status": {"type": "string", "description": "Status of the operation. One of: \"Success\" "
                           "or \"Failure\"."},
            },
            "x-kubernetes-group-version-kind": [_gvk("", "v1", "Status")],
        },
        f"{_META}.Preconditions": {
            "description": "Preconditions must be fulfilled before an operation (update, delete, etc.) is "
                           "carried out.",
            "type": "object",
            "properties": {
                "resourceVersion": {"type": "string", "description": "Specifies the target "
                                    "ResourceVersion"},
                "uid": {"type": "string", "description": "Specifies the target UID."},
            },
        },
        DELETE_OPTIONS: {
            "description": "DeleteOptions may be provided when deleting an API object.",
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema "
                               "of this representation of an object."},
                "dryRun": {"type": "array", "items": {"type": "string", "default": ""},
                           "description": "When present, indicates that modifications should not be "
                                          "persisted. Valid values are: - All: all dry run stages will be "
                                          "processed", "x-kubernetes-list-type": "atomic"},
                "gracePeriodSeconds": {"type": "integer", "format": "int64", "description": "The duration "
                                       "in seconds before the object should be deleted."},
                "kind": {"type": "string", "description": "Kind is a string value representing the REST "
                         "resource this object represents."},
                "orphanDependents": {"type": "boolean", "description": "Deprecated: please use the "
                                     "PropagationPolicy, this field will be deprecated in 1.7."},
                "preconditions": _ref_field(f"{_META}.Preconditions", "Must be fulfilled before a deletion "
                                            "is carried out. If not possible, a 409 Conflict status will "
                                            "be returned."),
                "propagationPolicy": {"type": "string", "description": "Whether and how garbage collection "
                                      "will be performed. Acceptable values are: 'Orphan', 'Background', "
                                      "'Foreground'."},
            },
            "x-kubernetes-group-version-kind": [
                _gvk("", "v1", "DeleteOptions"), _gvk("meta.k8s.io", "v1", "DeleteOptions"),
            ],
        },
        PATCH: {
            "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH "
                           "request body.",
            "type": "object",
        },
    }


def _scale_schema() -> Obj:
    return {
        "description": "Scale represents a scaling request for a resource.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of "
                           "this representation of an object."},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource "
                     "this object represents."},
            "metadata": _ref_field(OBJECT_META, f"Standard object metadata; More info: {_CONV}#metadata.",
                                   default={}),
            "spec": {"type": "object", "description": "spec defines the behavior of the scale.",
                     "properties": {"replicas": {"type": "integer", "format": "int32", "description":
                                                 "replicas is the desired number of instances for the "
                                                 "scaled object."}}},
            "status": {"type": "object", "description": "status is the current status of the scale.",
                       "required": ["replicas"],
                       "properties": {
                           "replicas": {"type": "integer", "format": "int32", "default": 0, "description":
                                        "replicas is the actual number of observed instances of the "
                                        "scaled object."},
                           "selector": {"type": "string", "description": "selector is the label query over "
                                        "pods that should match the replicas count."},
                       }},
        },
        "x-kubernetes-group-version-kind": [_gvk("autoscaling", "v1", "Scale")],
    }


def _eviction_schema() -> Obj:
    return {
        "description": "Eviction evicts a pod from its node subject to certain policies and safety "
                       "constraints. This is a subresource of Pod.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of "
                           "this representation of an object."},
            "deleteOptions": _ref_field(DELETE_OPTIONS, "DeleteOptions may be provided"),
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource "
                     "this object represents."},
            "metadata": _ref_field(OBJECT_META, "ObjectMeta describes the pod that is being evicted.",
                                   default={}),
        },
        "x-kubernetes-group-version-kind": [_gvk("policy", "v1", "Eviction")],
    }


# --------------------------------------------------------------------------- kind schemas


def _apply_patch_hints(schema: Obj, hints: dict[str, tuple[str, str]]) -> None:
    """Publish strategic-merge tags as x-kubernetes-patch-strategy/merge-key (used by client-side apply)."""
    for path, (strategy, merge_key) in hints.items():
        if path.startswith("metadata."):
            continue  # ObjectMeta carries its own tags
        node: Obj | None = schema
        for segment in path.split("."):
            if node is None:
                break
            is_list_item = segment.endswith("[]")
            node = (node.get("properties") or {}).get(segment.removesuffix("[]"))
            if is_list_item and node is not None:
                node = node.get("items")
        if node is None:
            continue
        node["x-kubernetes-patch-strategy"] = strategy
        if merge_key:
            node["x-kubernetes-patch-merge-key"] = merge_key


def _kind_schema(info: ResourceInfo) -> Obj:
    schema: Obj = copy.deepcopy(info.schema) if info.schema else {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True,
    }
    props = schema.setdefault("properties", {})
    props.setdefault("apiVersion", {"type": "string", "description": "APIVersion defines the versioned "
                                    "schema of this representation of an object."})
    props.setdefault("kind", {"type": "string", "description": "Kind is a string value representing the "
                              "REST resource this object represents."})
    old_meta = props.get("metadata") or {}
    props["metadata"] = _ref_field(
        OBJECT_META,
        old_meta.get("description") or f"Standard object's metadata. More info: {_CONV}#metadata",
        default={},
    )
    schema.setdefault("type", "object")
    _apply_patch_hints(schema, info.smp_hints)
    schema["x-kubernetes-group-version-kind"] = [_gvk(info.group, info.version, info.kind)]
    return schema


def _list_schema(info: ResourceInfo, item_name: str) -> Obj:
    return {
        "description": f"{info.list_kind} is a list of {info.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of "
                           "this representation of an object."},
            "items": {"type": "array", "items": _ref_field(item_name, default={}),
                      "description": f"List of {info.plural}."},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource "
                     "this object represents."},
            "metadata": _ref_field(LIST_META, f"Standard list metadata. More info: {_CONV}#types-kinds",
                                   default={}),
        },
        "x-kubernetes-group-version-kind": [_gvk(info.group, info.version, info.list_kind)],
    }


# --------------------------------------------------------------------------- parameters


def _query(name: str, description: str, type_: str = "string", **schema: Any) -> Obj:
    return {"name": name, "in": "query", "description": description,
            "schema": {"type": type_, "uniqueItems": True, **schema}}


_PRETTY = _query("pretty", "If 'true', then the output is pretty printed. Defaults to 'false' unless the "
                           "user-agent indicates a browser or command-line HTTP tool (curl and wget).")
_DRY_RUN = _query("dryRun", "When present, indicates that modifications should not be persisted. An invalid "
                            "or unrecognized dryRun directive will result in an error response and no "
                            "further processing of the request. Valid values are: - All: all dry run "
                            "stages will be processed")
_FIELD_MANAGER = _query("fieldManager", "fieldManager is a name associated with the actor or entity that is "
                                        "making these changes. The value must be less than or 128 "
                                        "characters long, and only contain printable characters.")
_FIELD_VALIDATION = _query("fieldValidation", "fieldValidation instructs the server on how to handle objects "
                                              "in the request containing unknown or duplicate fields. Valid "
                                              "values are: - Ignore - Warn - Strict")
_FORCE = _query("force", "Force is going to \"force\" Apply requests. It means user will re-acquire "
                         "conflicting fields owned by other people. Force flag must be unset for non-apply "
                         "patch requests.", "boolean")
_LIST_PARAMS: tuple[Obj, ...] = (
    _query("allowWatchBookmarks", "allowWatchBookmarks requests watch events with type \"BOOKMARK\".",
           "boolean"),
    _query("continue", "The continue option should be set when retrieving more results from the server."),
    _query("fieldSelector", "A selector to restrict the list of returned objects by their fields. Defaults "
                            "to everything."),
    _query("labelSelector", "A selector to restrict the list of returned objects by their labels. Defaults "
                            "to everything."),
    _query("limit", "limit is a maximum number of responses to return for a list call.", "integer"),
    _query("resourceVersion", "resourceVersion sets a constraint on what resource versions a request may be "
                              "served from."),
    _query("resourceVersionMatch", "resourceVersionMatch determines how resourceVersion is applied to list "
                                   "calls."),
    _query("sendInitialEvents", "`sendInitialEvents=true` may be set together with `watch=true`. In that "
                                "case, the watch stream will begin with synthetic events to produce the "
                                "current state of objects in the collection.", "boolean"),
    _query("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
    _query("watch", "Watch for changes to the described resources and return them as a stream of add, "
                    "update, and remove notifications.", "boolean"),
)
_DELETE_PARAMS: tuple[Obj, ...] = (
    _DRY_RUN,
    _query("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer"),
    _query("orphanDependents", "Deprecated: please use the PropagationPolicy.", "boolean"),
    _query("propagationPolicy", "Whether and how garbage collection will be performed. Acceptable values "
                                "are: 'Orphan', 'Background', 'Foreground'."),
)


def _path_param(name: str, description: str) -> Obj:
    return {"name": name, "in": "path", "description": description, "required": True,
            "schema": {"type": "string", "uniqueItems": True}}


_NAMESPACE_PARAM = _path_param("namespace", "object name and auth scope, such as for teams and projects")


# --------------------------------------------------------------------------- operations


def _content(schema_ref: str, types: Iterable[str] = _RESPONSE_TYPES) -> Obj:
    return {t: {"schema": _ref(schema_ref)} for t in types}


def _responses(ok: dict[str, str]) -> Obj:
    responses: Obj = {
        code: {"description": text.split("|")[0], "content": _content(text.split("|")[1])}
        for code, text in ok.items()
    }
    responses["401"] = {"description": "Unauthorized"}
    return responses


def _operation(
    op_id: str, action: str, gvk: Obj, description: str, *, params: Sequence[Obj] = (),
    responses: dict[str, str], body: Obj | None = None, tag: str,
) -> Obj:
    op: Obj = {
        "tags": [tag],
        "description": description,
        "operationId": op_id,
    }
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = body
    op["responses"] = _responses(responses)
    op["x-kubernetes-action"] = action
    op["x-kubernetes-group-version-kind"] = gvk
    return op


def _body(schema_ref: str) -> Obj:
    return {"content": {"*/*": {"schema": _ref(schema_ref)}}, "required": True}


def _patch_body(builtin: bool) -> Obj:
    types = PATCH_CONTENT_TYPES_BUILTIN if builtin else PATCH_CONTENT_TYPES_CUSTOM
    return {"content": {t: {"schema": _ref(PATCH)} for t in types}, "required": True}


def _item_operations(
    *, op_group: str, op_kind: str, tag: str, gvk: Obj, what: str, ref: str, builtin: bool,
    read: bool = True, write: bool = True, delete: bool = False, delete_ref: str = STATUS,
) -> Obj:
    """get/put/patch (and delete) of one object or one of its subresources."""
    item: Obj = {}
    ok = f"OK|{ref}"
    if read:
        item["get"] = _operation(f"read{op_group}{op_kind}", "get", gvk, f"read {what}", tag=tag,
                                 responses={"200": ok})
    if write:
        item["put"] = _operation(
            f"replace{op_group}{op_kind}", "put", gvk, f"replace {what}", tag=tag, body=_body(ref),
            params=(_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION),
            responses={"200": ok, "201": f"Created|{ref}"},
        )
        item["patch"] = _operation(
            f"patch{op_group}{op_kind}", "patch", gvk, f"partially update {what}", tag=tag,
            body=_patch_body(builtin), params=(_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION, _FORCE),
            responses={"200": ok, "201": f"Created|{ref}"},
        )
    if delete:
        item["delete"] = _operation(
            f"delete{op_group}{op_kind}", "delete", gvk, f"delete {what}", tag=tag,
            body={"content": {"*/*": {"schema": _ref(DELETE_OPTIONS)}}}, params=_DELETE_PARAMS,
            responses={"200": f"OK|{delete_ref}", "202": f"Accepted|{delete_ref}"},
        )
    return item


def _resource_paths(info: ResourceInfo, kind_ref: str, list_ref: str) -> dict[str, Obj]:
    """Every path of one resource: collection, object, all-namespaces list and subresources."""
    prefix = _path_prefix(info.group, info.version)
    op_group = _operation_group(info.group, info.version, info.builtin)
    tag = op_group[:1].lower() + op_group[1:]
    gvk = _gvk(info.group, info.version, info.kind)
    scoped = "Namespaced" if info.namespaced else ""
    base = f"{prefix}/{info.plural}"
    if info.namespaced:
        base = f"{prefix}/namespaces/{{namespace}}/{info.plural}"
    scope_params = [_NAMESPACE_PARAM] if info.namespaced else []
    verbs = set(info.verbs)
    paths: dict[str, Obj] = {}

    collection: Obj = {}
    if "list" in verbs:
        collection["get"] = _operation(
            f"list{op_group}{scoped}{info.kind}", "list", gvk, f"list or watch objects of kind {info.kind}",
            tag=tag, params=_LIST_PARAMS, responses={"200": f"OK|{list_ref}"},
        )
    if "create" in verbs:
        collection["post"] = _operation(
            f"create{op_group}{scoped}{info.kind}", "post", gvk, f"create a {info.kind}", tag=tag,
            body=_body(kind_ref), params=(_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION),
            responses={"200": f"OK|{kind_ref}", "201": f"Created|{kind_ref}", "202": f"Accepted|{kind_ref}"},
        )
    if "deletecollection" in verbs:
        collection["delete"] = _operation(
            f"delete{op_group}Collection{scoped}{info.kind}", "deletecollection", gvk,
            f"delete collection of {info.kind}", tag=tag,
            body={"content": {"*/*": {"schema": _ref(DELETE_OPTIONS)}}},
            params=(*_DELETE_PARAMS, *_LIST_PARAMS), responses={"200": f"OK|{STATUS}"},
        )
    if collection:
        collection["parameters"] = [*scope_params, _PRETTY]
        paths[base] = collection

    item = _item_operations(
        op_group=op_group, op_kind=f"{scoped}{info.kind}", tag=tag, gvk=gvk,
        what=f"the specified {info.kind}", ref=kind_ref, builtin=info.builtin, read="get" in verbs,
        write=bool(verbs & {"update", "patch"}), delete="delete" in verbs,
        delete_ref=kind_ref if info.return_deleted_object else STATUS,
    )
    name_param = _path_param("name", f"name of the {info.kind}")
    if item:
        item["parameters"] = [name_param, *scope_params, _PRETTY]
        paths[f"{base}/{{name}}"] = item

    if info.namespaced and "list" in verbs:
        paths[f"{prefix}/{info.plural}"] = {
            "get": _operation(
                f"list{op_group}{info.kind}ForAllNamespaces", "list", gvk,
                f"list or watch objects of kind {info.kind}", tag=tag, params=_LIST_PARAMS,
                responses={"200": f"OK|{list_ref}"},
            ),
            "parameters": [_PRETTY],
        }

    sub_params = [name_param, *scope_params, _PRETTY]
    if info.status_subresource:
        status = _item_operations(
            op_group=op_group, op_kind=f"{scoped}{info.kind}Status", tag=tag, gvk=gvk,
            what=f"status of the specified {info.kind}", ref=kind_ref, builtin=info.builtin,
        )
        paths[f"{base}/{{name}}/status"] = {**status, "parameters": sub_params}
    if info.scale is not None:
        scale = _item_operations(
            op_group=op_group, op_kind=f"{scoped}{info.kind}Scale", tag=tag,
            gvk=_gvk("autoscaling", "v1", "Scale"), what=f"scale of the specified {info.kind}", ref=SCALE,
            builtin=info.builtin,
        )
        paths[f"{base}/{{name}}/scale"] = {**scale, "parameters": sub_params}
    for sub, (group, version, kind, sub_verbs) in sorted(info.extra_subresources.items()):
        if kind != "Eviction" or "create" not in sub_verbs:
            continue  # only the eviction subresource has a schema we publish
        paths[f"{base}/{{name}}/{sub}"] = {
            "post": _operation(
                f"create{op_group}{scoped}{info.kind}{sub[:1].upper()}{sub[1:]}", "post",
                _gvk(group, version, kind), f"create {kind} of a {info.kind}", tag=tag, body=_body(EVICTION),
                params=(_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION),
                responses={"200": f"OK|{EVICTION}", "201": f"Created|{EVICTION}",
                           "202": f"Accepted|{EVICTION}"},
            ),
            "parameters": [_path_param("name", f"name of the {kind}"), *scope_params, _PRETTY],
        }
    return paths


# --------------------------------------------------------------------------- documents


def openapi_v3_document(group: str, version: str, resources: Sequence[ResourceInfo]) -> Obj:
    """The OpenAPI 3.0 document of one group-version (`/openapi/v3/api/v1`, `/openapi/v3/apis/G/V`)."""
    served = [info for info in resources if info.group == group and info.version == version]
    schemas = _meta_schemas()
    paths: dict[str, Obj] = {}
    for info in served:
        kind_ref = schema_name(info.group, info.version, info.kind, builtin=info.builtin)
        list_ref = schema_name(info.group, info.version, info.list_kind, builtin=info.builtin)
        schemas[kind_ref] = _kind_schema(info)
        schemas[list_ref] = _list_schema(info, kind_ref)
        if info.scale is not None:
            schemas[SCALE] = _scale_schema()
        if any(sub[2] == "Eviction" for sub in info.extra_subresources.values()):
            schemas[EVICTION] = _eviction_schema()
        paths.update(_resource_paths(info, kind_ref, list_ref))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token "
                                                "authentication", "name": "authorization", "in": "header"}},
        },
        "security": [{"BearerToken": []}],
    }


def document_hash(document: Obj) -> str:
    """A content hash of a document (sha512, upper-case hex, like kube-apiserver's)."""
    return hashlib.sha512(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest().upper()


def group_versions(resources: Sequence[ResourceInfo]) -> list[tuple[str, str]]:
    """Every served (group, version), core first, in first-seen order."""
    seen: dict[tuple[str, str], None] = {}
    for info in sorted(resources, key=lambda r: r.group != ""):
        seen.setdefault((info.group, info.version), None)
    return list(seen)


def openapi_v3_index(resources: Sequence[ResourceInfo]) -> Obj:
    """`GET /openapi/v3`: one entry per group-version, with a hash that changes when its document does."""
    paths: Obj = {}
    for group, version in group_versions(resources):
        key = document_path(group, version)
        digest = document_hash(openapi_v3_document(group, version, resources))
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}
