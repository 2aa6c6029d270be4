"""ObjectMeta validation, as apimachinery's ValidateObjectMeta / ValidateObjectMetaUpdate do it.

Messages, error types and field paths match the real server, e.g.
`metadata.name: Invalid value: "Foo": a lowercase RFC 1123 subdomain must
consist of ...`. Label-key/value validators are exported for label selectors.
Metadata arrives as a raw dict from JSON, so wrong types (labels that are not
a string map, ...) are reported as causes instead of raising.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kubenode.apimachinery.validation import (
    DNS1123_LABEL_MAX,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    go_len,
    is_dns1123_label,
    is_dns1123_subdomain,
    label_value_errors,
    qualified_name_errors,
)
from kubenode.apiserver.errors import Cause
from kubenode.apiserver.resources import Obj
from kubenode.apiserver.schema import go_value

__all__ = [
    "TOTAL_ANNOTATION_SIZE_LIMIT",
    "generate_name",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_qualified_name",
    "validate_label_key",
    "validate_label_value",
    "validate_metadata_update",
    "validate_name",
    "validate_object_meta",
]

#: metav1validation.TotalAnnotationSizeLimitB
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
#: utilrand's alphabet: no vowels (no accidental words), no confusable 0/1/3.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_RANDOM_LENGTH = 5
#: names.SimpleNameGenerator truncates the prefix to 63 - 5 whatever the resource's name rule
_MAX_GENERATED_PREFIX = DNS1123_LABEL_MAX - _RANDOM_LENGTH


# --------------------------------------------------------------------------- name validators


def _path_segment_errors(s: str) -> list[str]:
    """path.IsValidPathSegmentName."""
    if s in (".", ".."):
        return [f"may not be '{s}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in s]


def _mask_trailing_dash(s: str) -> str:
    # a generateName prefix may end in '-': validate it as if it ended in 'a'
    return s[:-1] + "a" if len(s) > 1 and s.endswith("-") else s


_NAME_RULES: dict[str, Callable[[str], list[str]]] = {
    "dns-subdomain": dns1123_subdomain_errors,
    "dns-label": dns1123_label_errors,
    "path-segment": _path_segment_errors,
}


def validate_name(name: str, rule: str = "dns-subdomain", *, prefix: bool = False) -> list[str]:
    """Error strings for an object name (or a generateName prefix) under `rule`."""
    fn = _NAME_RULES.get(rule, dns1123_subdomain_errors)
    if prefix and rule != "path-segment":
        name = _mask_trailing_dash(name)
    return fn(name)


#: The label validators, under the names the rest of the server (and selectors' callers) know.
is_qualified_name = validate_label_key = qualified_name_errors
validate_label_value = label_value_errors


def generate_name(prefix: str) -> str:
    """`prefix` + 5 random characters from Kubernetes' alphabet.

    Like names.SimpleNameGenerator the prefix is cut to 58 characters, so the
    result is at most 63 long and valid for every name rule the prefix is.
    """
    base = prefix[:_MAX_GENERATED_PREFIX]
    return base + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(_RANDOM_LENGTH))


# --------------------------------------------------------------------------- causes


def _invalid(field: str, value: Any, detail: str) -> Cause:
    return {"type": "FieldValueInvalid", "message": f"Invalid value: {go_value(value)}: {detail}",
            "field": field}


def _type_invalid(field: str, value: Any, detail: str) -> Cause:
    return {"type": "FieldValueTypeInvalid", "message": f"Invalid value: {go_value(value)}: {detail}",
            "field": field}


def _required(field: str, detail: str = "") -> Cause:
    return {"type": "FieldValueRequired", "message": "Required value" + (f": {detail}" if detail else ""),
            "field": field}


def _forbidden(field: str, detail: str) -> Cause:
    return {"type": "FieldValueForbidden", "message": f"Forbidden: {detail}", "field": field}


def _string_map(v: Any, field: str, errs: list[Cause]) -> dict[str, str]:
    """The map, or {} with a cause when it is not a map of strings."""
    if v is None:
        return {}
    if not isinstance(v, dict):
        errs.append(_type_invalid(field, _json_type(v),
                                  f"{field} must be of type object: {go_value(_json_type(v))}"))
        return {}
    bad = [k for k, x in v.items() if not isinstance(x, str)]
    if bad:
        for k in bad:
            errs.append(_type_invalid(f"{field}.{k}", _json_type(v[k]),
                                      f"{field}.{k} must be of type string: {go_value(_json_type(v[k]))}"))
        return {k: x for k, x in v.items() if isinstance(x, str)}
    return v


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _str_field(meta: Obj, key: str, errs: list[Cause]) -> str:
    v = meta.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        f = f"metadata.{key}"
        errs.append(_type_invalid(f, _json_type(v), f"{f} must be of type string: {go_value(_json_type(v))}"))
        return ""
    return v


# --------------------------------------------------------------------------- ValidateObjectMeta


def validate_object_meta(meta: Obj, *, namespaced: bool, name_rule: str = "dns-subdomain") -> list[Cause]:
    """Causes for an object's metadata, like apimachinery's ValidateObjectMeta.

    `name_rule` is "dns-subdomain" | "dns-label" | "path-segment". The name is
    required unless generateName is set (the caller generates it); the
    namespace is required iff `namespaced` (callers fill it from the URL) and
    forbidden otherwise.
    """
    errs: list[Cause] = []
    if not isinstance(meta, dict):
        return [_type_invalid("metadata", _json_type(meta),
                              f"metadata must be of type object: {go_value(_json_type(meta))}")]
    name = _str_field(meta, "name", errs)
    generate = _str_field(meta, "generateName", errs)
    namespace = _str_field(meta, "namespace", errs)

    if generate:
        for msg in validate_name(generate, name_rule, prefix=True):
            errs.append(_invalid("metadata.generateName", generate, msg))
    if not name:
        if not generate:
            errs.append(_required("metadata.name", "name or generateName is required"))
    else:
        for msg in validate_name(name, name_rule):
            errs.append(_invalid("metadata.name", name, msg))

    if namespaced:
        if not namespace:
            errs.append(_required("metadata.namespace"))
        else:
            for msg in dns1123_label_errors(namespace):
                errs.append(_invalid("metadata.namespace", namespace, msg))
    elif namespace:
        errs.append(_forbidden("metadata.namespace", "not allowed on this type"))

    generation = meta.get("generation")
    if isinstance(generation, int) and not isinstance(generation, bool) and generation < 0:
        errs.append(_invalid("metadata.generation", generation, "must be greater than or equal to 0"))

    _validate_labels(meta.get("labels"), errs)
    _validate_annotations(meta.get("annotations"), errs)
    _validate_owner_references(meta.get("ownerReferences"), errs)
    _validate_finalizers(meta.get("finalizers"), errs)
    return errs


@functools.lru_cache(maxsize=8192)
def _label_key_errors(key: str) -> tuple[str, ...]:
    # A fleet's labels repeat (zones, arch, roles, hostnames): each key and value is checked once, not per write.
    return tuple(is_qualified_name(key))


@functools.lru_cache(maxsize=8192)
def _label_value_errors(value: str) -> tuple[str, ...]:
    return tuple(validate_label_value(value))


def _validate_labels(labels: Any, errs: list[Cause]) -> None:
    field = "metadata.labels"
    for k, v in _string_map(labels, field, errs).items():
        for msg in _label_key_errors(k):
            errs.append(_invalid(field, k, msg))
        for msg in _label_value_errors(v):
            errs.append(_invalid(field, v, msg))


def _validate_annotations(annotations: Any, errs: list[Cause]) -> None:
    field = "metadata.annotations"
    total = 0
    for k, v in _string_map(annotations, field, errs).items():
        # the real server lowercases annotation keys before checking them
        for msg in is_qualified_name(k.lower()):
            errs.append(_invalid(field, k, msg))
        total += go_len(k) + go_len(v)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append({"type": "FieldValueTooLong",
                     "message": f"Too long: may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes",
                     "field": field})


def _validate_finalizers(finalizers: Any, errs: list[Cause]) -> None:
    field = "metadata.finalizers"
    if finalizers is None:
        return
    if not isinstance(finalizers, list):
        errs.append(_type_invalid(field, _json_type(finalizers),
                                  f"{field} must be of type array: {go_value(_json_type(finalizers))}"))
        return
    names: list[str] = []
    for f in finalizers:
        if not isinstance(f, str):
            errs.append(_type_invalid(field, _json_type(f), f"{field} must be of type string: "
                                                            f"{go_value(_json_type(f))}"))
            continue
        names.append(f)
        for msg in is_qualified_name(f):
            errs.append(_invalid(field, f, msg))
    if "orphan" in names and "foregroundDeletion" in names:
        errs.append(_invalid(field, names, "finalizer orphan and foregroundDeletion cannot be both set"))


def _s(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _lst(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _parse_group_version(api_version: str) -> tuple[str, str] | None:
    """schema.ParseGroupVersion: (group, version), or None when malformed."""
    if not api_version or api_version == "v1":
        return ("", api_version)
    parts = api_version.split("/")
    if len(parts) == 1:
        return ("", parts[0])
    if len(parts) == 2:
        return (parts[0], parts[1])
    return None


def _owner_ref_go(ref: dict[str, Any]) -> str:
    # an approximation of %#v of a metav1.OwnerReference, used only inside an error message
    ctrl = ref.get("controller")
    shown_ctrl = "(*bool)(nil)" if ctrl is None else "&" + str(bool(ctrl)).lower()
    return (f'v1.OwnerReference{{APIVersion:{go_value(str(ref.get("apiVersion", "")))}, '
            f'Kind:{go_value(str(ref.get("kind", "")))}, Name:{go_value(str(ref.get("name", "")))}, '
            f'UID:{go_value(str(ref.get("uid", "")))}, Controller:{shown_ctrl}}}')


def _validate_owner_references(refs: Any, errs: list[Cause]) -> None:
    field = "metadata.ownerReferences"
    if refs is None:
        return
    if not isinstance(refs, list):
        errs.append(_type_invalid(field, _json_type(refs),
                                  f"{field} must be of type array: {go_value(_json_type(refs))}"))
        return
    first_controller = ""
    for ref in refs:
        if not isinstance(ref, dict):
            errs.append(_type_invalid(field, _json_type(ref),
                                      f"{field} must be of type object: {go_value(_json_type(ref))}"))
            continue
        api_version, kind, name, uid = (_s(ref.get(k)) for k in ("apiVersion", "kind", "name", "uid"))
        gv = _parse_group_version(api_version)
        group, version = gv if gv is not None else ("", "")
        # the real validator reports at the list's path, not per index
        if not version:
            errs.append(_invalid(f"{field}.apiVersion", api_version, "version must not be empty"))
        if not kind:
            errs.append(_invalid(f"{field}.kind", kind, "kind must not be empty"))
        if not name:
            errs.append(_invalid(f"{field}.name", name, "name must not be empty"))
        if not uid:
            errs.append(_invalid(f"{field}.uid", uid, "uid must not be empty"))
        if gv is not None and group == "" and version == "v1" and kind == "Event":
            errs.append({"type": "FieldValueInvalid",
                         "message": f"Invalid value: {_owner_ref_go(ref)}: /v1, Kind=Event is disallowed "
                                    "from being an owner", "field": field})
        if ref.get("controller") is True:
            current = f"{kind}/{name}"
            if first_controller:
                shown = "[]v1.OwnerReference{" + ", ".join(
                    _owner_ref_go(r) for r in refs if isinstance(r, dict)) + "}"
                errs.append({"type": "FieldValueInvalid",
                             "message": f"Invalid value: {shown}: Only one reference can have Controller "
                                        f'set to true. Found "true" in references for {first_controller} '
                                        f"and {current}",
                             "field": field})
            else:
                first_controller = current


# --------------------------------------------------------------------------- ValidateObjectMetaUpdate

_IMMUTABLE = ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
              "deletionGracePeriodSeconds", "generation")
_TIME_FIELDS = frozenset({"creationTimestamp", "deletionTimestamp"})


def _go_time(v: Any) -> Any:
    """metav1.Time prints through time.Time.String(): "2024-01-02 03:04:05 +0000 UTC"."""
    if not isinstance(v, str):
        return v
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return v
    if t.tzinfo is None or t.utcoffset() is None:
        return v
    zone = "UTC" if t.utcoffset().total_seconds() == 0 else t.strftime("%z")  # type: ignore[union-attr]
    return _GoStringer(t.strftime("%Y-%m-%d %H:%M:%S %z ") + zone)


class _GoStringer(str):
    """A value printed unquoted, like a Go fmt.Stringer in field.Error."""


def _show(v: Any) -> str:
    if isinstance(v, _GoStringer):
        return str(v)
    return go_value(v)


def validate_metadata_update(old: Obj, new: Obj) -> list[Cause]:
    """Causes for immutable metadata changed by an update (ValidateObjectMetaUpdate).

    name, namespace, uid, creationTimestamp, deletionTimestamp and
    deletionGracePeriodSeconds are immutable ("field is immutable"); while an
    object is being deleted no new finalizers may be added. As in the real
    server's BeforeUpdate, callers copy an omitted uid/creationTimestamp from
    the old object before calling this; run `validate_object_meta` on `new`
    too.
    """
    errs: list[Cause] = []
    if not isinstance(old, dict) or not isinstance(new, dict):
        return errs
    for key in _IMMUTABLE:
        ov, nv = old.get(key), new.get(key)
        if key in ("name", "namespace", "uid"):
            # Go compares strings: absent and "" are the same value
            ov, nv = ov or "", nv or ""
        if ov != nv:
            shown = _go_time(nv) if key in _TIME_FIELDS else nv
            errs.append({"type": "FieldValueInvalid",
                         "message": f"Invalid value: {_show(shown)}: field is immutable",
                         "field": f"metadata.{key}"})
    if old.get("deletionTimestamp"):
        old_f = _lst(old.get("finalizers"))
        new_f = _lst(new.get("finalizers"))
        extra = sorted({f for f in new_f if isinstance(f, str)} - {f for f in old_f if isinstance(f, str)})
        if extra:
            shown = "[]string{" + ", ".join(go_value(f) for f in extra) + "}"
            errs.append(_forbidden("metadata.finalizers",
                                   "no new finalizers can be added if the object is being deleted, found new "
                                   f"finalizers {shown}"))
    return errs
