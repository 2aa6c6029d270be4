"""Structural OpenAPI v3 schemas: defaulting, pruning and validation of custom resources.

This mirrors what apiextensions-apiserver does with a CRD version's
`openAPIV3Schema` (and what we do with built-in schemas):

* `StructuralSchema.apply_defaults` - structural defaulting: `default` values
  for missing properties whose parent object exists (also inside array items
  and `additionalProperties` values); `null` in a non-nullable field is
  replaced by its default or, without a default, dropped (as the real server
  does before defaulting).
* `StructuralSchema.prune` - drops fields the schema does not declare, unless
  `x-kubernetes-preserve-unknown-fields`; returns the dropped paths.
* `StructuralSchema.validate` - kube-openapi validation plus list-type
  set/map uniqueness, with causes shaped and worded like the real server's
  (`kubeOpenAPIResultToFieldErrors` turns kube-openapi errors into
  `field.Error`s; we produce the same type, field and `ErrorBody()` text).
* `check_structural` - the important structural-schema rules a CRD's schema
  must follow.

Why a hand-compiled validator instead of openapi-schema-validator: measured
on a ~1 KB custom resource with ~40 schema nodes, `OAS30Validator.iter_errors`
(precompiled validator, Python 3.11) takes ~350 us per object and its errors
still need re-mapping to Kubernetes messages; the closures below take
~30 us (defaulting ~11 us, pruning ~12 us). Each schema node is compiled once into a closure that checks only
the keywords the node actually has, with a tiny fast path for plain scalar
nodes, so the hot path is a handful of `type()` checks and dict lookups.

Field paths follow the real server: properties and map keys are joined with
"." (kube-openapi builds `spec.labels.key`), list items use `[i]`; an error
without a path (anyOf/oneOf/allOf/not summaries) has field "<nil>" exactly as
kube-apiserver reports it.
"""

from __future__ import annotations

import copy
import decimal
import ipaddress
import math
import re
from collections.abc import Callable
from typing import Any

import orjson

from kubenode.apiserver import gobase64
from kubenode.apiserver.errors import Cause
from kubenode.apiserver.resources import Obj

__all__ = ["StructuralSchema", "check_structural", "go_value"]

#: A compiled validator: (value, field path, error sink) -> None.
_V = Callable[[Any, str, list[Cause]], None]

_JSON_TYPE: dict[type, str] = {
    dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number",
    type(None): "null",
}
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,), "integer": (int,),
    "number": (int, float),
}
_VALID_TYPES = ("array", "boolean", "integer", "number", "object", "string")

#: Fields of metav1.ObjectMeta: an embedded resource's metadata keeps only these.
_OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields",
})
_ROOT_KEEP = frozenset({"apiVersion", "kind", "metadata"})


# --------------------------------------------------------------------------- Go-style value printing


def _go_quote(s: str) -> str:
    """`strconv.Quote`: how Go's `%q` prints a string in field errors."""
    if s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        else:
            o = ord(ch)
            out.append(f"\\x{o:02x}" if o < 0x80 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _go_float(f: float) -> str:
    """Go's `%v` of a float64: `FormatFloat(f, 'g', -1, 64)`, shortest digits, %e if exp < -4 or >= 6."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "0"
    sign, digits, exp = decimal.Decimal(repr(f)).as_tuple()
    assert isinstance(exp, int)
    ds = "".join(map(str, digits))
    stripped = ds.rstrip("0") or "0"
    # position of the decimal point relative to the first significant digit
    dp = len(ds) + exp
    lead = len(ds) - len(ds.lstrip("0"))
    ds = stripped[lead:] or "0"
    dp -= lead
    e = dp - 1
    neg = "-" if sign else ""
    if e < -4 or e >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{neg}{mant}e{'+' if e >= 0 else '-'}{abs(e):02d}"
    if dp <= 0:
        return f"{neg}0.{'0' * -dp}{ds}"
    if dp >= len(ds):
        return neg + ds + "0" * (dp - len(ds))
    return f"{neg}{ds[:dp]}.{ds[dp:]}"


def _go_sharp(v: Any) -> str:
    """Go's `%#v` of a decoded JSON value (maps sorted by key, as fmt prints them)."""
    if v is None:
        return "interface {}(nil)"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _go_float(v)
    if isinstance(v, str):
        return _go_quote(v)
    if isinstance(v, dict):
        inner = ", ".join(f"{_go_quote(str(k))}:{_go_sharp(v[k])}" for k in sorted(v, key=str))
        return "map[string]interface {}{" + inner + "}"
    if isinstance(v, list | tuple):
        return "[]interface {}{" + ", ".join(_go_sharp(e) for e in v) + "}"
    return _go_quote(str(v))


def go_value(v: Any) -> str:
    """How `field.Error.ErrorBody()` prints a bad value (after "Invalid value: ").

    Strings are quoted, numbers and booleans printed plainly, nil as "null"
    (quoted, because Go substitutes the string "null"), anything else `%#v`.
    """
    if v is None:
        return '"null"'
    if isinstance(v, str):
        return _go_quote(v)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _go_float(v)
    return _go_sharp(v)


def _num(v: float | int) -> str:
    """`%v` of a numeric schema bound (integral floats print like ints in Go)."""
    if isinstance(v, float):
        return _go_float(v)
    return str(v)


def _f(path: str) -> str:
    # field.Path(nil).String() is "<nil>": that is what the real server reports for the root
    return path or "<nil>"


def _invalid(path: str, value: Any, detail: str) -> Cause:
    return {"type": "FieldValueInvalid", "message": f"Invalid value: {go_value(value)}: {detail}",
            "field": _f(path)}


def _type_invalid(path: str, value: Any, detail: str) -> Cause:
    return {"type": "FieldValueTypeInvalid", "message": f"Invalid value: {go_value(value)}: {detail}",
            "field": _f(path)}


def _required(path: str, detail: str = "") -> Cause:
    return {"type": "FieldValueRequired", "message": "Required value" + (f": {detail}" if detail else ""),
            "field": _f(path)}


def _forbidden(path: str, detail: str) -> Cause:
    return {"type": "FieldValueForbidden", "message": f"Forbidden: {detail}", "field": _f(path)}


def _not_supported(path: str, value: Any, supported: list[str]) -> Cause:
    msg = f"Unsupported value: {go_value(value)}"
    if supported:
        msg += ": supported values: " + ", ".join(_go_quote(s) for s in supported)
    return {"type": "FieldValueNotSupported", "message": msg, "field": _f(path)}


def _too_long(path: str, max_len: int) -> Cause:
    unit = "byte" if max_len == 1 else "bytes"
    return {"type": "FieldValueTooLong", "message": f"Too long: may not be more than {max_len} {unit}",
            "field": _f(path)}


def _too_many(path: str, actual: int, max_n: int) -> Cause:
    unit = "item" if max_n == 1 else "items"
    return {"type": "FieldValueTooMany", "message": f"Too many: {actual}: must have at most {max_n} {unit}",
            "field": _f(path)}


def _duplicate(path: str, value: Any) -> Cause:
    return {"type": "FieldValueDuplicate", "message": f"Duplicate value: {go_value(value)}",
            "field": _f(path)}


def _summary(message: str) -> Cause:
    # anyOf/oneOf/allOf/not errors carry no path in kube-openapi -> field.Invalid(nil, "", msg)
    return {"type": "FieldValueInvalid", "message": f'Invalid value: "": {message}', "field": "<nil>"}


# --------------------------------------------------------------------------- JSON equality helpers


def _json_key(v: Any) -> Any:
    """A hashable key with JSON semantics: bool != number, 1 == 1.0, containers by content."""
    t = type(v)
    if t is bool:
        return ("b", v)
    if t is int or t is float:
        return ("n", v)
    if t is str:
        return ("s", v)
    if v is None:
        return ("z",)
    if t is dict:
        return ("o", tuple(sorted((str(k), _json_key(x)) for k, x in v.items())))
    if t is list or t is tuple:
        return ("a", tuple(_json_key(x) for x in v))
    return ("?", repr(v))


def _set_key(v: Any) -> Any:
    """Key for list-type=set duplicates; Go compares int64 and float64 as different scalars."""
    t = type(v)
    if t is dict or t is list:
        try:
            return ("c", orjson.dumps(v, option=orjson.OPT_SORT_KEYS))
        except (TypeError, orjson.JSONEncodeError):
            return ("c", repr(_json_key(v)))
    return (t, v)


def _copy_json(v: Any) -> Any:
    t = type(v)
    if t is dict:
        return {k: _copy_json(x) for k, x in v.items()}
    if t is list:
        return [_copy_json(x) for x in v]
    return v


# --------------------------------------------------------------------------- formats

_DATE_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$"
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_UUID_V_RE = {
    v: re.compile(
        rf"^[0-9a-fA-F]{{8}}-?[0-9a-fA-F]{{4}}-?{v}[0-9a-fA-F]{{3}}-?[89abAB][0-9a-fA-F]{{3}}-?[0-9a-fA-F]{{12}}$"
    )
    for v in "345"
}
_HOSTNAME_RE = re.compile(
    r"^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$"
)
_MAC_RE = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}([0-9A-Fa-f]{2})$")


def _is_byte(s: str) -> bool:
    # Go's base64 (go-openapi's strfmt and kube's []byte decoding alike) skips CR and LF.
    return gobase64.is_valid(s)


def _is_ipv4(s: str) -> bool:
    try:
        ipaddress.IPv4Address(s)
    except ValueError:
        return False
    return True


def _is_ipv6(s: str) -> bool:
    try:
        ipaddress.IPv6Address(s)
    except ValueError:
        return False
    return True


def _is_cidr(s: str) -> bool:
    try:
        ipaddress.ip_network(s, strict=False)
    except ValueError:
        return False
    return "/" in s


#: Formats apiextensions keeps (others, e.g. int32/int64, are stripped and never checked).
_FORMATS: dict[str, Callable[[str], bool]] = {
    "byte": _is_byte,
    "date-time": lambda s: _DATE_TIME_RE.match(s) is not None,
    "datetime": lambda s: _DATE_TIME_RE.match(s) is not None,
    "date": lambda s: _DATE_RE.match(s) is not None,
    "uuid": lambda s: _UUID_RE.match(s) is not None,
    "uuid3": lambda s: _UUID_V_RE["3"].match(s) is not None,
    "uuid4": lambda s: _UUID_V_RE["4"].match(s) is not None,
    "uuid5": lambda s: _UUID_V_RE["5"].match(s) is not None,
    "ipv4": _is_ipv4,
    "ipv6": _is_ipv6,
    "cidr": _is_cidr,
    "hostname": lambda s: len(s) <= 255 and _HOSTNAME_RE.match(s) is not None,
    "mac": lambda s: _MAC_RE.match(s) is not None,
}


def _is_json_integer(x: float) -> bool:
    return math.isfinite(x) and x.is_integer()


def _multiple_ok(x: float | int, factor: float | int) -> bool:
    if type(x) is int and type(factor) is int:
        return x % factor == 0
    try:
        mult = (1 / factor) * x if factor < 1 else x / factor
    except (ZeroDivisionError, OverflowError):
        return True
    if not math.isfinite(mult):
        return False
    return abs(mult - round(mult)) <= 1e-9 * max(1.0, abs(mult))


# --------------------------------------------------------------------------- validator compiler


def _noop(x: Any, path: str, errs: list[Cause]) -> None:
    return None


def _schema_types(s: Obj) -> tuple[tuple[type, ...] | None, str, bool]:
    """(allowed python types or None for any, type name for messages, integral floats allowed)."""
    if s.get("x-kubernetes-int-or-string") is True:
        return (int, str), "integer,string", True
    t = s.get("type")
    if not isinstance(t, str) or t not in _PY_TYPES:
        return None, "", False
    return _PY_TYPES[t], t, t == "integer"


def _compile(s: Any) -> _V:
    """Compile one schema node (and its subtree) into a validator closure."""
    if not isinstance(s, dict):
        return _noop
    allowed, type_name, int_from_float = _schema_types(s)
    nullable = s.get("nullable") is True

    def type_fail(x: Any, path: str, errs: list[Cause]) -> bool:
        """Report a type mismatch; True when the value is acceptable after all."""
        if x is None:
            if nullable:
                return True
            errs.append(_type_invalid(path, "null", f'{path} in body must be of type {type_name}: "null"'))
            return False
        t = type(x)
        if int_from_float and t is float and _is_json_integer(x):
            return True
        got = _JSON_TYPE.get(t, "object")
        errs.append(_type_invalid(path, got, f'{path} in body must be of type {type_name}: "{got}"'))
        return False

    str_checks: list[_V] = []
    num_checks: list[_V] = []
    arr_checks: list[_V] = []
    obj_checks: list[_V] = []
    any_checks: list[_V] = []

    # --- strings
    min_len = s.get("minLength")
    if isinstance(min_len, int) and not isinstance(min_len, bool):
        def c_min_len(x: str, path: str, errs: list[Cause], n: int = min_len) -> None:
            if len(x) < n:
                errs.append(_invalid(path, x, f"{path} in body should be at least {n} chars long"))
        str_checks.append(c_min_len)
    max_len = s.get("maxLength")
    if isinstance(max_len, int) and not isinstance(max_len, bool):
        def c_max_len(x: str, path: str, errs: list[Cause], n: int = max_len) -> None:
            if len(x) > n:
                errs.append(_too_long(path, n))
        str_checks.append(c_max_len)
    pattern = s.get("pattern")
    if isinstance(pattern, str):
        try:
            rx = re.compile(go_anchors(pattern))
        except re.error:
            rx = None
        if rx is not None:
            def c_pattern(x: str, path: str, errs: list[Cause], rx: re.Pattern[str] = rx,
                          p: str = pattern) -> None:
                if rx.search(x) is None:
                    errs.append(_invalid(path, x, f"{path} in body should match '{p}'"))
            str_checks.append(c_pattern)
    fmt = s.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        fcheck = _FORMATS[fmt]

        def c_format(x: str, path: str, errs: list[Cause]) -> None:
            if not fcheck(x):
                errs.append(_type_invalid(path, x, f"{path} in body must be of type {fmt}: {_go_quote(x)}"))
        str_checks.append(c_format)

    # --- numbers
    def _bound(key: str) -> float | int | None:
        v = s.get(key)
        return v if isinstance(v, int | float) and not isinstance(v, bool) else None

    multiple = _bound("multipleOf")
    if multiple is not None and multiple > 0:
        def c_multiple(x: Any, path: str, errs: list[Cause], m: float | int = multiple) -> None:
            if not _multiple_ok(x, m):
                errs.append(_invalid(path, x, f"{path} in body should be a multiple of {_num(m)}"))
        num_checks.append(c_multiple)
    maximum = _bound("maximum")
    if maximum is not None:
        if s.get("exclusiveMaximum") is True:
            def c_max(x: Any, path: str, errs: list[Cause], m: float | int = maximum) -> None:
                if x >= m:
                    errs.append(_invalid(path, x, f"{path} in body should be less than {_num(m)}"))
        else:
            def c_max(x: Any, path: str, errs: list[Cause], m: float | int = maximum) -> None:
                if x > m:
                    errs.append(_invalid(path, x,
                                         f"{path} in body should be less than or equal to {_num(m)}"))
        num_checks.append(c_max)
    minimum = _bound("minimum")
    if minimum is not None:
        if s.get("exclusiveMinimum") is True:
            def c_min(x: Any, path: str, errs: list[Cause], m: float | int = minimum) -> None:
                if x <= m:
                    errs.append(_invalid(path, x, f"{path} in body should be greater than {_num(m)}"))
        else:
            def c_min(x: Any, path: str, errs: list[Cause], m: float | int = minimum) -> None:
                if x < m:
                    errs.append(_invalid(path, x,
                                         f"{path} in body should be greater than or equal to {_num(m)}"))
        num_checks.append(c_min)

    # --- arrays
    items_s = s.get("items")
    if isinstance(items_s, dict):
        items_v = _compile(items_s)
        if items_v is not _noop:
            def c_items(x: list[Any], path: str, errs: list[Cause], iv: _V = items_v) -> None:
                for i, e in enumerate(x):
                    iv(e, f"{path}[{i}]", errs)
            arr_checks.append(c_items)
    min_items = s.get("minItems")
    if isinstance(min_items, int) and not isinstance(min_items, bool):
        def c_min_items(x: list[Any], path: str, errs: list[Cause], n: int = min_items) -> None:
            if len(x) < n:
                errs.append(_invalid(path, len(x), f"{path} in body should have at least {n} items"))
        arr_checks.append(c_min_items)
    max_items = s.get("maxItems")
    if isinstance(max_items, int) and not isinstance(max_items, bool):
        def c_max_items(x: list[Any], path: str, errs: list[Cause], n: int = max_items) -> None:
            if len(x) > n:
                errs.append(_too_many(path, len(x), n))
        arr_checks.append(c_max_items)
    if s.get("uniqueItems") is True:
        def c_unique(x: list[Any], path: str, errs: list[Cause]) -> None:
            if len({_json_key(e) for e in x}) != len(x):
                errs.append(_invalid(path, "", f"{path} in body shouldn't contain duplicates"))
        arr_checks.append(c_unique)
    list_type = s.get("x-kubernetes-list-type")
    if list_type == "set":
        arr_checks.append(_check_list_set)
    elif list_type == "map":
        keys = s.get("x-kubernetes-list-map-keys")
        if isinstance(keys, list) and keys and all(isinstance(k, str) for k in keys):
            arr_checks.append(_list_map_checker(tuple(keys)))

    # --- objects
    props_s = s.get("properties")
    props: dict[str, _V] = {}
    if isinstance(props_s, dict):
        for k, ps in props_s.items():
            props[k] = _compile(ps)
    addl_s = s.get("additionalProperties")
    addl: _V | None = _compile(addl_s) if isinstance(addl_s, dict) else None
    if addl is _noop:
        addl = None
    required = tuple(r for r in s.get("required", ()) if isinstance(r, str)) \
        if isinstance(s.get("required"), list) else ()
    min_props = s.get("minProperties")
    min_props = min_props if isinstance(min_props, int) and not isinstance(min_props, bool) else None
    max_props = s.get("maxProperties")
    max_props = max_props if isinstance(max_props, int) and not isinstance(max_props, bool) else None
    embedded = s.get("x-kubernetes-embedded-resource") is True
    live_props = {k: v for k, v in props.items() if v is not _noop}
    has_counts = min_props is not None or max_props is not None
    if live_props or addl is not None or required or has_counts or embedded:
        def c_object(x: dict[str, Any], path: str, errs: list[Cause]) -> None:
            n = len(x)
            # kube-openapi stops at a property-count failure without looking inside
            if min_props is not None and n < min_props:
                errs.append(_invalid(path, n, f"{path} in body should have at least {min_props} properties"))
                return
            if max_props is not None and n > max_props:
                errs.append(_too_many(path, n, max_props))
                return
            pre = path + "." if path else ""
            if live_props or addl is not None:
                for k, v in x.items():
                    sub = live_props.get(k)
                    if sub is not None:
                        sub(v, pre + k, errs)
                    elif addl is not None and k not in props:
                        addl(v, pre + k, errs)
            for r in required:
                if r not in x:
                    errs.append(_required(pre + r))
            if embedded:
                _check_embedded(x, pre, errs)
        obj_checks.append(c_object)

    # --- composition (value validations)
    any_of = [_compile(x) for x in s.get("anyOf", ()) if isinstance(x, dict)] \
        if isinstance(s.get("anyOf"), list) else []
    one_of = [_compile(x) for x in s.get("oneOf", ()) if isinstance(x, dict)] \
        if isinstance(s.get("oneOf"), list) else []
    all_of = [_compile(x) for x in s.get("allOf", ()) if isinstance(x, dict)] \
        if isinstance(s.get("allOf"), list) else []
    not_v = _compile(s["not"]) if isinstance(s.get("not"), dict) else None
    if any_of:
        any_checks.append(_any_of_checker(any_of))
    if one_of:
        any_checks.append(_one_of_checker(one_of))
    if all_of:
        any_checks.append(_all_of_checker(all_of))
    if not_v is not None:
        def c_not(x: Any, path: str, errs: list[Cause], nv: _V = not_v) -> None:
            sub: list[Cause] = []
            nv(x, path, sub)
            if not sub:
                errs.append(_summary(f"{_go_quote(path)} must not validate the schema (not)"))
        any_checks.append(c_not)

    enum_check = _enum_checker(s["enum"]) if isinstance(s.get("enum"), list) else None

    by_type: dict[type, tuple[_V, ...]] = {}
    if str_checks:
        by_type[str] = tuple(str_checks)
    if num_checks:
        by_type[int] = by_type[float] = tuple(num_checks)
    if arr_checks:
        by_type[list] = tuple(arr_checks)
    if obj_checks:
        by_type[dict] = tuple(obj_checks)
    pre_checks = tuple(any_checks)

    if allowed is None and not by_type and not pre_checks and enum_check is None:
        return _noop

    if not by_type and not pre_checks and enum_check is None:
        # fast path: a plain typed scalar (or object/array without constraints)
        assert allowed is not None
        allowed_set = frozenset(allowed)

        def v_type_only(x: Any, path: str, errs: list[Cause]) -> None:
            if type(x) not in allowed_set:
                type_fail(x, path, errs)
        return v_type_only

    full_allowed = frozenset(allowed) if allowed is not None else None

    def v_full(x: Any, path: str, errs: list[Cause]) -> None:
        if x is None:
            # kube-openapi runs only the type and enum validators on null
            if full_allowed is not None and not nullable:
                type_fail(x, path, errs)
            if enum_check is not None:
                enum_check(x, path, errs)
            return
        t = type(x)
        if full_allowed is not None and t not in full_allowed:
            type_fail(x, path, errs)
        for c in pre_checks:
            c(x, path, errs)
        checks = by_type.get(t)
        if checks is not None:
            for c in checks:
                c(x, path, errs)
        if enum_check is not None:
            enum_check(x, path, errs)
    return v_full


def _enum_checker(values: list[Any]) -> _V:
    if all(isinstance(v, str) for v in values):
        allowed_strs = frozenset(values)
        shown = list(values)

        def c_enum_str(x: Any, path: str, errs: list[Cause]) -> None:
            if type(x) is not str or x not in allowed_strs:
                errs.append(_not_supported(path, x, shown))
        return c_enum_str
    keys = {_json_key(v) for v in values}
    shown = [v if isinstance(v, str) else _marshal(v) for v in values]

    def c_enum(x: Any, path: str, errs: list[Cause]) -> None:
        if _json_key(x) not in keys:
            errs.append(_not_supported(path, x, shown))
    return c_enum


def _marshal(v: Any) -> str:
    """json.Marshal of an enum value, as NotSupported lists non-string values."""
    try:
        return orjson.dumps(v).decode()
    except (TypeError, orjson.JSONEncodeError):
        return str(v)


def _any_of_checker(subs: list[_V]) -> _V:
    def c_any_of(x: Any, path: str, errs: list[Cause]) -> None:
        best: list[Cause] | None = None
        for sv in subs:
            sub: list[Cause] = []
            sv(x, path, sub)
            if not sub:
                return
            if best is None or len(sub) < len(best):
                best = sub
        errs.append(_summary(f"{_go_quote(path)} must validate at least one schema (anyOf)"))
        if best:
            errs.extend(best)
    return c_any_of


def _one_of_checker(subs: list[_V]) -> _V:
    def c_one_of(x: Any, path: str, errs: list[Cause]) -> None:
        best: list[Cause] | None = None
        valid = 0
        for sv in subs:
            sub: list[Cause] = []
            sv(x, path, sub)
            if not sub:
                valid += 1
            elif valid == 0 and (best is None or len(sub) < len(best)):
                best = sub
        if valid == 1:
            return
        extra = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
        errs.append(_summary(f"{_go_quote(path)} must validate one and only one schema (oneOf). {extra}"))
        if valid == 0 and best:
            errs.extend(best)
    return c_one_of


def _all_of_checker(subs: list[_V]) -> _V:
    def c_all_of(x: Any, path: str, errs: list[Cause]) -> None:
        valid = 0
        for sv in subs:
            before = len(errs)
            sv(x, path, errs)
            if len(errs) == before:
                valid += 1
        if valid != len(subs):
            extra = ". None validated" if valid == 0 else ""
            errs.append(_summary(f"{_go_quote(path)} must validate all the schemas (allOf){extra}"))
    return c_all_of


def _check_list_set(x: list[Any], path: str, errs: list[Cause]) -> None:
    if len(x) <= 1:
        return
    seen: dict[Any, int] = {}
    for i, e in enumerate(x):
        k = _set_key(e)
        times = seen.get(k, 0)
        if times == 1:  # like the real server: report the second occurrence only
            errs.append(_duplicate(f"{path}[{i}]", e))
        seen[k] = times + 1


def _list_map_checker(keys: tuple[str, ...]) -> _V:
    def c_list_map(x: list[Any], path: str, errs: list[Cause]) -> None:
        for i, e in enumerate(x):
            if e is not None and type(e) is not dict:
                errs.append(_invalid(f"{path}[{i}]", e, "must be an object for an array of list-type map"))
                return
        if len(x) <= 1:
            return
        seen: set[Any] = set()
        for i, e in enumerate(x):
            if e is None:
                continue
            kv = tuple(_json_key(e.get(k)) for k in keys)
            if kv in seen:
                errs.append(_duplicate(f"{path}[{i}]", {k: e[k] for k in keys if k in e}))
            else:
                seen.add(kv)
    return c_list_map


def _check_embedded(x: dict[str, Any], pre: str, errs: list[Cause]) -> None:
    """apiVersion and kind of an x-kubernetes-embedded-resource object."""
    for key in ("apiVersion", "kind"):
        if key not in x:
            errs.append(_required(pre + key, "must not be empty"))
            continue
        v = x[key]
        if not isinstance(v, str):
            errs.append(_invalid(pre + key, v, "must be a string"))
        elif not v:
            errs.append(_invalid(pre + key, v, "must not be empty"))


# --------------------------------------------------------------------------- defaulting / pruning tree


class _Node:
    """The parts of a schema node that defaulting and pruning need, precomputed."""

    __slots__ = ("addl", "addl_any", "default_json", "default_value", "defaulted", "embedded", "has_default",
                 "items", "nullable", "preserve", "props", "walk")

    def __init__(self, s: Obj) -> None:
        self.nullable: bool = s.get("nullable") is True
        self.preserve: bool = s.get("x-kubernetes-preserve-unknown-fields") is True
        self.embedded: bool = s.get("x-kubernetes-embedded-resource") is True
        self.has_default: bool = "default" in s
        self.default_value: Any = s.get("default")
        self.default_json: bytes | None = None
        if self.has_default and isinstance(self.default_value, dict | list):
            try:
                self.default_json = orjson.dumps(self.default_value)
            except (TypeError, orjson.JSONEncodeError):
                self.default_json = None
        props = s.get("properties")
        self.props: dict[str, _Node] | None = (
            {k: _Node(v) for k, v in props.items() if isinstance(v, dict)}
            if isinstance(props, dict) else None
        )
        addl = s.get("additionalProperties")
        self.addl: _Node | None = _Node(addl) if isinstance(addl, dict) else None
        self.addl_any: bool = addl is True
        items = s.get("items")
        self.items: _Node | None = _Node(items) if isinstance(items, dict) else None
        #: properties with a default, checked on every object
        self.defaulted: tuple[tuple[str, _Node], ...] = tuple(
            (k, n) for k, n in (self.props or {}).items() if n.has_default
        )
        self.walk: bool = bool(self.props) or self.addl is not None or self.items is not None or self.embedded

    def default_copy(self) -> Any:
        """A fresh deep copy of this node's default."""
        if self.default_json is not None:
            return orjson.loads(self.default_json)
        v = self.default_value
        return v if not isinstance(v, dict | list) else copy.deepcopy(v)


def _apply_defaults(node: _Node, x: Any) -> None:
    t = type(x)
    if t is dict:
        props = node.props
        for k, sub in node.defaulted:
            if k not in x or (x[k] is None and not sub.nullable):
                x[k] = sub.default_copy()
        if props is None and node.addl is None:
            return
        addl = node.addl
        drop: list[str] | None = None
        for k, v in x.items():
            child: _Node | None = props.get(k) if props is not None else None
            if child is None:
                child = addl
                if child is None:
                    continue
                if v is None and not child.nullable:
                    if child.has_default:
                        x[k] = child.default_copy()
                        v = x[k]
                    else:
                        drop = drop or []
                        drop.append(k)
                        continue
            elif v is None:
                if not child.nullable:
                    # a default would have been applied above; without one the null is dropped
                    drop = drop or []
                    drop.append(k)
                continue
            if child.walk and type(v) in (dict, list):
                _apply_defaults(child, v)
        if drop:
            for k in drop:
                del x[k]
    elif t is list:
        inode = node.items
        if inode is None:
            return
        for i, v in enumerate(x):
            if v is None:
                if inode.has_default and not inode.nullable:
                    x[i] = inode.default_copy()
                    v = x[i]
                else:
                    continue
            if inode.walk and type(v) in (dict, list):
                _apply_defaults(inode, v)


def _prune(node: _Node, x: Any, path: str, out: list[str], root: bool = False) -> None:
    t = type(x)
    if t is dict:
        props = node.props
        addl = node.addl
        keep_unknown = node.preserve or node.addl_any
        pre = path + "." if path else ""
        drop: list[str] | None = None
        for k, v in x.items():
            sub = props.get(k) if props is not None else None
            if sub is None:
                sub = addl
            if sub is not None:
                if sub.walk and type(v) in (dict, list):
                    _prune(sub, v, pre + k, out)
                continue
            if root and k in _ROOT_KEEP:
                continue
            if node.embedded and k in _ROOT_KEEP:
                if k == "metadata" and type(v) is dict:
                    _prune_object_meta(v, pre + k, out)
                continue
            if keep_unknown:
                continue
            drop = drop or []
            drop.append(k)
        if drop:
            for k in drop:
                del x[k]
                out.append(pre + k)
    elif t is list:
        items = node.items
        if items is None or not items.walk:
            return
        for i, v in enumerate(x):
            if type(v) in (dict, list):
                _prune(items, v, f"{path}[{i}]", out)


def _prune_object_meta(meta: dict[str, Any], path: str, out: list[str]) -> None:
    drop = [k for k in meta if k not in _OBJECT_META_FIELDS]
    for k in drop:
        del meta[k]
        out.append(f"{path}.{k}")


# --------------------------------------------------------------------------- public API


class StructuralSchema:
    """A compiled structural schema: defaulting, pruning and validation of objects."""

    __slots__ = ("_node", "_validator", "schema")

    def __init__(self, schema: Obj) -> None:
        """Precompile `schema` (a CRD version's openAPIV3Schema or a built-in's schema)."""
        self.schema = schema
        self._validator: _V = _compile(schema)
        self._node = _Node(schema if isinstance(schema, dict) else {})

    def apply_defaults(self, obj: Obj) -> None:
        """Fill `default`s in place for missing fields whose parent object exists.

        Also inside array items and additionalProperties values; defaults are
        deep-copied. A `null` in a non-nullable field takes the field's default,
        or is removed when there is none (the real server prunes such nulls
        before defaulting).
        """
        if type(obj) is dict:
            _apply_defaults(self._node, obj)

    def prune(self, obj: Obj) -> list[str]:
        """Drop undeclared fields in place; return their paths ("spec.foo", "spec.items[0].bar").

        Root apiVersion/kind/metadata are always kept (root metadata is
        validated by metadata.py, not pruned here); embedded resources keep
        apiVersion/kind/metadata and their metadata loses unknown ObjectMeta
        fields.
        """
        out: list[str] = []
        if type(obj) is dict:
            _prune(self._node, obj, "", out, root=True)
        return out

    def validate(self, obj: Obj) -> list[Cause]:
        """Validate `obj`; Kubernetes-style causes, [] when valid. Never raises on JSON input."""
        errs: list[Cause] = []
        self._validator(obj, "", errs)
        return errs

    def validate_at(self, value: Any, path: str) -> list[Cause]:
        """Validate a value that lives at `path` (e.g. a default) against this schema."""
        errs: list[Cause] = []
        self._validator(value, path, errs)
        return errs


# --------------------------------------------------------------------------- structural checks


def _dict(v: Any) -> Obj:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _k(path: str, key: str) -> str:
    return f"{path}.{key}"


def _prop(path: str, name: str) -> str:
    return f"{path}.properties[{name}]"


_VALUE_VALIDATION_FORBIDDEN_EMPTY = ("type", "default", "additionalProperties", "items")
_VALUE_VALIDATION_FORBIDDEN_FALSE = ("nullable", "x-kubernetes-preserve-unknown-fields",
                                     "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string")
_METADATA_ALLOWED = frozenset({"name", "generateName"})


def go_anchors(pattern: str) -> str:
    r"""`pattern` with every end anchor `$` made strict, as in Go's RE2 (the real server's engine).

    Python's `$` also matches before a final newline, so "bin/x\n" would pass
    `^[a-z/]+$` here but not on a real cluster; `\Z` matches only at the end.
    """
    out: list[str] = []
    escaped = False
    in_class = False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif in_class:
            out.append(ch)
            in_class = ch != "]"
        elif ch == "[":
            out.append(ch)
            in_class = True
        elif ch == "$":
            out.append(r"\Z")
        else:
            out.append(ch)
    return "".join(out)


def check_structural(
    schema: Obj, field_prefix: str = "spec.versions[0].schema.openAPIV3Schema",
) -> list[Cause]:
    """Validate a CRD schema itself against the structural-schema rules.

    Reports, with field paths under `field_prefix`: missing or unknown `type`
    (unless x-kubernetes-int-or-string / x-kubernetes-preserve-unknown-fields),
    `properties` together with `additionalProperties`, `additionalProperties:
    false`, `uniqueItems: true`, arrays without `items`, `$ref`, bad
    x-kubernetes-* extensions, list-type map keys that are neither required
    nor defaulted, root `metadata` restricting anything but name/generateName,
    value validations (anyOf/allOf/oneOf/not) that set structural keywords, and
    defaults that do not validate against their own schema or carry unknown
    fields.
    """
    errs: list[Cause] = []
    if not isinstance(schema, dict):
        errs.append(_invalid(field_prefix, schema if isinstance(schema, str | int | float | bool) else "",
                             "must be an object"))
        return errs
    _check_node(schema, field_prefix, errs, level="root")
    return errs


def _check_node(s: Any, path: str, errs: list[Cause], level: str) -> None:
    """One node; `level` is root | field | items | value (inside anyOf/allOf/oneOf/not)."""
    if not isinstance(s, dict):
        errs.append(_invalid(path, "", "must be an object"))
        return
    if "$ref" in s:
        errs.append(_forbidden(_k(path, "$ref"), "$ref is not supported"))
    t = s.get("type")
    int_or_string = s.get("x-kubernetes-int-or-string") is True
    preserve = s.get("x-kubernetes-preserve-unknown-fields")
    embedded = s.get("x-kubernetes-embedded-resource") is True

    if level == "value":
        for key in _VALUE_VALIDATION_FORBIDDEN_EMPTY:
            if key in s:
                errs.append(_forbidden(_k(path, key), "must be empty to be structural"))
        for key in _VALUE_VALIDATION_FORBIDDEN_FALSE:
            if s.get(key) is True:
                errs.append(_forbidden(_k(path, key), "must be false to be structural"))
    else:
        if t is None or t == "":
            if not int_or_string and preserve is not True and not embedded:
                msg = {"root": "must not be empty at the root",
                       "items": "must not be empty for specified array items"}.get(
                    level, "must not be empty for specified object fields")
                errs.append(_required(_k(path, "type"), msg))
        elif not isinstance(t, str) or t not in _VALID_TYPES:
            errs.append(_not_supported(_k(path, "type"), t, list(_VALID_TYPES)))
        elif int_or_string:
            errs.append(_invalid(_k(path, "type"), t, "must be empty if x-kubernetes-int-or-string is true"))
        if level == "root":
            if t not in (None, "", "object"):
                errs.append(_invalid(_k(path, "type"), t, "must be object at the root"))
            if s.get("nullable") is True:
                errs.append(_forbidden(_k(path, "nullable"), "must be false at the root"))
    if preserve is not None and preserve is not True:
        errs.append(_invalid(_k(path, "x-kubernetes-preserve-unknown-fields"), preserve,
                             "must be true or undefined"))
    if embedded and t not in (None, "", "object"):
        errs.append(_invalid(_k(path, "type"), t, "must be object if x-kubernetes-embedded-resource is true"))
    if embedded and preserve is not True and not s.get("properties"):
        errs.append(_required(_k(path, "properties"),
                              "must not be empty if x-kubernetes-embedded-resource is true without "
                              "x-kubernetes-preserve-unknown-fields"))

    props = s.get("properties")
    addl = s.get("additionalProperties")
    if props is not None and addl is not None and addl is not False:
        errs.append(_forbidden(_k(path, "additionalProperties"),
                               "additionalProperties and properties are mutual exclusive"))
    if addl is False:
        errs.append(_forbidden(_k(path, "additionalProperties"),
                               "additionalProperties cannot be set to false"))
    if s.get("uniqueItems") is True:
        errs.append(_forbidden(_k(path, "uniqueItems"),
                               "uniqueItems cannot be set to true since the runtime complexity becomes "
                               "quadratic"))
    if t == "array" and level != "value" and "items" not in s:
        errs.append(_required(_k(path, "items"), "must be specified"))

    _check_list_type(s, path, errs)

    sub_level = "value" if level == "value" else "field"
    if isinstance(props, dict):
        for name, ps in props.items():
            if level == "root" and name == "metadata":
                _check_root_metadata(ps, _prop(path, name), errs)
                continue
            _check_node(ps, _prop(path, name), errs, sub_level)
    elif props is not None:
        errs.append(_invalid(_k(path, "properties"), "", "must be an object"))
    if isinstance(addl, dict):
        _check_node(addl, _k(path, "additionalProperties"), errs, sub_level)
    items = s.get("items")
    if isinstance(items, dict):
        _check_node(items, _k(path, "items"), errs, "value" if level == "value" else "items")
    elif items is not None:
        errs.append(_forbidden(_k(path, "items"), "items must be a schema object and not an array"))
    for key in ("anyOf", "allOf", "oneOf"):
        subs = s.get(key)
        if isinstance(subs, list):
            for i, sub in enumerate(subs):
                _check_node(sub, f"{path}.{key}[{i}]", errs, "value")
    if isinstance(s.get("not"), dict):
        _check_node(s["not"], _k(path, "not"), errs, "value")

    if "default" in s and level != "value":
        _check_default(s, path, errs)


def _check_list_type(s: Obj, path: str, errs: list[Cause]) -> None:
    lt = s.get("x-kubernetes-list-type")
    keys = s.get("x-kubernetes-list-map-keys")
    if lt is not None:
        if lt not in ("atomic", "set", "map"):
            errs.append(_not_supported(_k(path, "x-kubernetes-list-type"), lt, ["atomic", "set", "map"]))
        elif s.get("type") != "array":
            errs.append(_invalid(_k(path, "x-kubernetes-list-type"), lt,
                                 "must only be used if type is array"))
    if keys is not None and lt != "map":
        errs.append(_forbidden(_k(path, "x-kubernetes-list-map-keys"),
                               "must be empty if x-kubernetes-list-type is not map"))
    items: Obj = _dict(s.get("items"))
    if lt == "set" and items.get("type") == "object" and items.get("x-kubernetes-map-type") != "atomic":
        errs.append(_invalid(_k(path, "items.x-kubernetes-map-type"), items.get("x-kubernetes-map-type"),
                             "must be atomic as item of a list with x-kubernetes-list-type=set"))
    if lt != "map":
        return
    if not isinstance(keys, list) or not keys:
        errs.append(_required(_k(path, "x-kubernetes-list-map-keys"),
                              "must not be empty if x-kubernetes-list-type is map"))
        return
    if items.get("type") != "object":
        errs.append(_invalid(_k(path, "items.type"), items.get("type"),
                             "must be object if parent array's x-kubernetes-list-type is map"))
        return
    item_props = _dict(items.get("properties"))
    if not all(isinstance(k, str) and k in item_props for k in keys):
        errs.append(_invalid(_k(path, "x-kubernetes-list-map-keys"), keys,
                             "entries must all be names of item properties"))
        return
    required = _list(items.get("required"))
    if len(set(keys)) != len(keys):
        errs.append(_invalid(_k(path, "x-kubernetes-list-map-keys"), keys,
                             "must not contain duplicate entries"))
    for k in keys:
        kp = item_props[k]
        if isinstance(kp, dict) and kp.get("type") in ("object", "array"):
            errs.append(_invalid(f"{path}.items.properties[{k}].type", kp.get("type"),
                                 "must be a scalar type if parent array's x-kubernetes-list-type is map"))
        if k not in required and not (isinstance(kp, dict) and "default" in kp):
            errs.append(_required(f"{path}.items.properties[{k}]",
                                  "this property is in x-kubernetes-list-map-keys, so it must have a default "
                                  "or be a required property"))


def _check_root_metadata(ms: Any, path: str, errs: list[Cause]) -> None:
    if not isinstance(ms, dict):
        errs.append(_invalid(path, "", "must be an object"))
        return
    if ms.get("type") not in (None, "object"):
        errs.append(_invalid(_k(path, "type"), ms.get("type"), "must be object"))
    extra = set(ms) - {"type", "properties", "description"}
    props = _dict(ms.get("properties"))
    if extra or set(props) - _METADATA_ALLOWED:
        errs.append(_forbidden(path, "must not specify anything other than name and generateName, but "
                                     "metadata is implicitly specified"))
    for name in _METADATA_ALLOWED & set(props):
        ps = props[name]
        if not isinstance(ps, dict) or ps.get("type") != "string":
            errs.append(_invalid(f"{path}.properties[{name}].type",
                                 ps.get("type") if isinstance(ps, dict) else "", "must be string"))
        elif "default" in ps:
            errs.append(_forbidden(f"{path}.properties[{name}].default", "must not be set for metadata"))


def _check_default(s: Obj, path: str, errs: list[Cause]) -> None:
    """A default must be free of unknown fields and valid against its own (defaulted) schema."""
    dpath = _k(path, "default")
    value = s["default"]
    if value is None and s.get("nullable") is not True:
        errs.append(_invalid(dpath, None, "must not be null for non-nullable field"))
        return
    ss = StructuralSchema(s)
    v = _copy_json(value)
    if type(v) in (dict, list):
        _apply_defaults(ss._node, v)
        pruned: list[str] = []
        _prune(ss._node, v, "", pruned)
        if pruned:
            errs.append(_invalid(dpath, value, "must not have unknown fields"))
    errs.extend(ss.validate_at(v, dpath))
