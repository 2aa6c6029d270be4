"""Building blocks for the KubeNode OpenAPI v3 schemas (structural, kubectl-explain friendly).

Every helper takes the field's description first, because `kubectl explain`
shows it and a field without one is a question a user must ask someone.
Every call returns a fresh dict: schemas are mutated by defaulting checks and
YAML dumpers emit anchors for shared objects, so nothing here is shared.

Patterns are written for both Python `re` (the embedded server) and Go RE2
(a real kube-apiserver compiles them when the CRD is created): no
look-arounds, no back-references.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .constants import CONDITION_STATUSES

Schema = dict[str, Any]

# --------------------------------------------------------------------------- patterns

#: RFC 1123 label (names that end up in object names, directories and label values).
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: RFC 1123 subdomain (node and object names).
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

# One path segment that is not "..": "." alone, "..x…", ".x…" or a segment not starting with a dot.
# Control characters are excluded so that no trailing newline or NUL can hide a "..".
_C = r"\x00-\x1f\x7f"
_SEGMENT = rf"(\.\.[^/{_C}]+|\.[^/.{_C}][^/{_C}]*|\.|[^/.{_C}][^/{_C}]*)"
#: A relative file path inside a component directory: no leading "/", no empty and no ".." segments.
RELATIVE_PATH = rf"^{_SEGMENT}(/{_SEGMENT})*$"
#: A command element: must not start with "/" nor contain a ".." path segment (empty segments are
#: allowed so that flags such as "--root=/" still pass).
SAFE_COMMAND_ELEMENT = rf"^{_SEGMENT}(/{_SEGMENT}?)*$"

SHA256_HEX = r"^[0-9a-f]{64}$"
ARCHIVE_URL = r"^(https?|file)://[^\s]+$"
#: Component versions become directory names on the node: no "/" and no leading dot.
COMPONENT_VERSION = r"^[A-Za-z0-9][A-Za-z0-9._+~-]*$"
PACKAGE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._+-]*$"
#: Package versions may be globs ("1.7.*"), as apt and yum accept them.
PACKAGE_VERSION = r"^[A-Za-z0-9*][A-Za-z0-9.*+~:_-]*$"
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
#: A script file name (RunScript): a bare name, looked up in the agent's allowlisted script directory.
SCRIPT_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
#: metav1.Condition type (optionally prefixed by a DNS subdomain and "/").
CONDITION_TYPE = (r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                  r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$")
#: metav1.Condition reason (CamelCase).
CONDITION_REASON = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
#: Kubernetes qualified name (label keys, topology keys): optional DNS prefix and "/", then a name.
QUALIFIED_NAME = (r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                  r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
#: A Defender budget window: a number and a unit (seconds, minutes, hours, days).
WINDOW = r"^[0-9]+(s|m|h|d)$"
#: Five whitespace-separated cron fields (minute hour day-of-month month day-of-week).
CRON_SCHEDULE = r"^\S+\s+\S+\s+\S+\s+\S+\s+\S+$"
#: 1% to 100% (batch sizes, maxUnavailable).
PERCENT_1_100 = r"^([1-9][0-9]?|100)%$"
#: 0% to 100% (maxFailures, maxUnhealthy).
PERCENT_0_100 = r"^([0-9]|[1-9][0-9]|100)%$"


# --------------------------------------------------------------------------- scalars


def _with(s: Schema, **kw: Any) -> Schema:
    # Keyword names cannot contain "-", so x_kubernetes_* arrive with underscores.
    for k, v in kw.items():
        if v is not None:
            s[k.replace("_", "-") if k.startswith("x_") else k] = v
    return s


def string(description: str, *, enum: Iterable[str] | None = None, **kw: Any) -> Schema:
    """A string field; `enum`, `pattern`, `minLength`, `maxLength`, `default`, `format` as keywords."""
    s: Schema = {"type": "string", "description": description}
    if enum is not None:
        s["enum"] = list(enum)
    return _with(s, **kw)


def integer(description: str, **kw: Any) -> Schema:
    """An integer field (int64); `minimum`, `maximum`, `default` as keywords."""
    return _with({"type": "integer", "format": "int64", "description": description}, **kw)


def int32(description: str, **kw: Any) -> Schema:
    """An integer field that fits int32 (ports, counts shown by kubectl scale)."""
    return _with({"type": "integer", "format": "int32", "description": description}, **kw)


def boolean(description: str, default: bool | None = None) -> Schema:
    """A boolean field, optionally defaulted."""
    return _with({"type": "boolean", "description": description}, default=default)


def timestamp(description: str) -> Schema:
    """A metav1.Time: RFC 3339 date-time string."""
    return {"type": "string", "format": "date-time", "description": description}


def int_or_string(description: str, *, pattern: str, minimum: int, **kw: Any) -> Schema:
    """An IntOrString: integers are checked against `minimum`, strings against `pattern` (a percentage)."""
    return _with({"x-kubernetes-int-or-string": True, "description": description, "pattern": pattern,
                  "minimum": minimum}, **kw)


# --------------------------------------------------------------------------- containers


def obj(description: str, properties: dict[str, Schema], *, required: Iterable[str] = (), **kw: Any) -> Schema:
    """An object with declared properties (unknown ones are pruned)."""
    s: Schema = {"type": "object", "description": description, "properties": properties}
    req = list(required)
    if req:
        s["required"] = req
    return _with(s, **kw)


def free_object(description: str) -> Schema:
    """An object whose content this API does not define (kept as is, never pruned)."""
    return {"type": "object", "description": description, "x-kubernetes-preserve-unknown-fields": True}


def string_map(description: str) -> Schema:
    """map[string]string (labels, annotations)."""
    return {"type": "object", "description": description, "additionalProperties": {"type": "string"}}


def array(description: str, items: Schema, **kw: Any) -> Schema:
    """A list; pass `x_kubernetes_list_type`, `x_kubernetes_list_map_keys`, `minItems`, … as keywords."""
    return _with({"type": "array", "description": description, "items": items}, **kw)


def string_set(description: str, item: Schema, **kw: Any) -> Schema:
    """A list of unique strings (list-type set: duplicates are rejected)."""
    return array(description, item, x_kubernetes_list_type="set", **kw)


def map_list(description: str, item: Schema, key: str = "name", **kw: Any) -> Schema:
    """A list of objects keyed by `key` (list-type map: one entry per key, merged by apply)."""
    return array(description, item, x_kubernetes_list_type="map", x_kubernetes_list_map_keys=[key], **kw)


# --------------------------------------------------------------------------- common Kubernetes shapes


def name_field(description: str, *, subdomain: bool = False) -> Schema:
    """An object or node name: DNS label (63) or DNS subdomain (253)."""
    if subdomain:
        return string(description, pattern=DNS_SUBDOMAIN, minLength=1, maxLength=253)
    return string(description, pattern=DNS_LABEL, minLength=1, maxLength=63)


def local_ref(description: str, what: str) -> Schema:
    """A reference to a cluster-scoped object by name."""
    return obj(description, {"name": name_field(f"Name of the {what}.", subdomain=True)}, required=["name"],
               x_kubernetes_map_type="atomic")


def secret_ref(description: str) -> Schema:
    """A reference to a Secret (name and namespace)."""
    return obj(description, {
        "name": name_field("Name of the Secret.", subdomain=True),
        "namespace": name_field("Namespace of the Secret."),
    }, required=["name", "namespace"], x_kubernetes_map_type="atomic")


def label_selector(description: str) -> Schema:
    """metav1.LabelSelector; an empty selector matches everything."""
    requirement = obj("A label selector requirement: a key, an operator and values.", {
        "key": string("The label key the selector applies to.", minLength=1, maxLength=317),
        "operator": string("How the key relates to the values.",
                           enum=["In", "NotIn", "Exists", "DoesNotExist"]),
        "values": array("Values for In and NotIn; must be empty for Exists and DoesNotExist.",
                        string("A label value.", maxLength=63), x_kubernetes_list_type="atomic"),
    }, required=["key", "operator"])
    return obj(description, {
        "matchLabels": string_map("Labels that must all be present with these values (ANDed with "
                                  "matchExpressions)."),
        "matchExpressions": array("Label selector requirements, all of which must hold.", requirement,
                                  x_kubernetes_list_type="atomic"),
    }, x_kubernetes_map_type="atomic")


def taints(description: str) -> Schema:
    """core/v1 Taint list."""
    return array(description, obj("A taint: a key, an optional value and the effect on pods that do not "
                                   "tolerate it.", {
        "key": string("Taint key (a qualified name).", pattern=QUALIFIED_NAME, maxLength=317),
        "value": string("Taint value.", maxLength=63),
        "effect": string("What happens to pods that do not tolerate the taint.",
                         enum=["NoSchedule", "PreferNoSchedule", "NoExecute"]),
    }, required=["key", "effect"]), x_kubernetes_list_type="atomic")


def conditions(description: str) -> Schema:
    """metav1.Condition list, one entry per type (list-type map keyed by type)."""
    item = obj("A metav1.Condition: one aspect of the object's state, with the reason it is so.", {
        "type": string("Condition type, CamelCase (e.g. Ready).", pattern=CONDITION_TYPE, maxLength=316),
        "status": string("True, False or Unknown.", enum=CONDITION_STATUSES),
        "reason": string("Programmatic identifier of the last transition, CamelCase.",
                         pattern=CONDITION_REASON, minLength=1, maxLength=1024),
        "message": string("Human-readable details of the last transition (may be empty).", maxLength=32768),
        "lastTransitionTime": timestamp("When the status last changed."),
        "observedGeneration": integer("The .metadata.generation the condition was set against.", minimum=0),
    }, required=["type", "status", "reason", "message", "lastTransitionTime"])
    return map_list(description, item, key="type")


def observed_generation() -> Schema:
    """status.observedGeneration."""
    return integer("The most recent .metadata.generation the controller has acted on.", minimum=0)
