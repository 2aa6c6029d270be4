"""The three PATCH flavours of kube-apiserver: JSON merge, JSON patch and strategic merge.

All functions are pure: they never mutate their inputs and the result shares no
mutable structure with them (callers may edit the result in place, e.g. to set
`metadata.managedFields`).

Strategic merge patch follows `k8s.io/apimachinery/pkg/util/strategicpatch`
as the server applies it (`MergeParallelList` and `IgnoreUnmatchedNulls` on):
list strategies come from `hints` (dotted paths, `[]` for list items) instead
of Go struct tags; directives (`$patch`, `$retainKeys`, `$setElementOrder/x`,
`$deleteFromPrimitiveList/x`) are consumed and never appear in the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonpatch
import jsonpointer
import orjson

from . import errors
from .errors import StatusError
from .resources import Obj

__all__ = ["deep_copy", "json_patch", "merge_patch", "strategic_merge_patch"]

#: kube-apiserver's cap on operations in one JSON patch (patch.go maxJSONPatchOperations).
MAX_JSON_PATCH_OPERATIONS = 10000

_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_MISSING: Any = object()


def deep_copy(value: Any) -> Any:
    """A deep copy of a JSON value.

    An orjson round trip is several times faster than `copy.deepcopy` on API
    objects; values orjson cannot encode (ints beyond 64 bits, non-str keys)
    fall back to a plain recursive copy.
    """
    if isinstance(value, dict | list):
        try:
            return orjson.loads(orjson.dumps(value))
        except TypeError:
            return _slow_copy(value)
    return value


def _slow_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _slow_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_slow_copy(v) for v in value]
    return value


# --------------------------------------------------------------------------- JSON merge patch


def merge_patch(target: Obj, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: null deletes a key, objects merge, anything else replaces."""
    if not isinstance(patch, dict):
        return deep_copy(patch)
    out = deep_copy(target) if isinstance(target, dict) else {}
    _merge_into(out, patch)
    return out


def _merge_into(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    # `target` is always our own copy, so it is edited in place.
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict):
            cur = target.get(k)
            if not isinstance(cur, dict):
                cur = {}
                target[k] = cur
            _merge_into(cur, v)
        else:
            target[k] = deep_copy(v)


# --------------------------------------------------------------------------- JSON patch


def _unprocessable() -> StatusError:
    # patch.go's jsonPatcher answers every failure while applying the operations
    # (a failed `test`, a missing path, an unknown op) with
    # NewGenericServerResponse(422, ...): reason Invalid and this fixed message.
    return StatusError(422, "Invalid", "the server rejected our request due to an error in our request")


_GO_JSON_KIND = {dict: "object", list: "array", str: "string", bool: "bool", int: "number", float: "number"}


def json_patch(target: Obj, ops: Any) -> Obj:
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test).

    A document that is not an array of objects is a 400 BadRequest (kube fails
    to decode it); everything that fails while applying is 422 Invalid, as in
    kube-apiserver. More than 10,000 operations is 413.
    """
    if ops is None:
        # Go decodes `null` into an empty patch.
        return deep_copy(target)
    if not isinstance(ops, list):
        kind = _GO_JSON_KIND.get(type(ops), "value")
        raise errors.bad_request(f"json: cannot unmarshal {kind} into Go value of type jsonpatch.Patch")
    for op in ops:
        if not isinstance(op, dict):
            raise errors.bad_request(
                f"json: cannot unmarshal {_GO_JSON_KIND.get(type(op), 'value')} into Go value of type "
                "jsonpatch.Operation")
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise StatusError(
            413, "RequestEntityTooLarge",
            f"Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}")
    doc = deep_copy(target)
    try:
        # Operations are copied too: jsonpatch inserts `value` by reference.
        result = jsonpatch.JsonPatch(deep_copy(ops)).apply(doc, in_place=True)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, KeyError, IndexError, TypeError,
            ValueError) as exc:
        raise _unprocessable() from exc
    return result


# --------------------------------------------------------------------------- strategic merge patch


def strategic_merge_patch(target: Obj, patch: Obj, hints: Mapping[str, tuple[str, str]]) -> Obj:
    """Apply a strategic merge patch the way kube-apiserver does for built-in kinds.

    `hints` maps dotted paths (`[]` for list items, e.g. `spec.containers[].env`)
    to `(patchStrategy, patchMergeKey)`. A list whose path has strategy `merge`
    is merged by its key (maps) or as a set (primitives, empty key); any other
    list is replaced. Malformed directives are 400 BadRequest.
    """
    if not isinstance(patch, dict):
        raise errors.bad_request(
            f"json: cannot unmarshal {_GO_JSON_KIND.get(type(patch), 'value')} into Go value of type "
            "map[string]interface {}")
    base = deep_copy(target) if isinstance(target, dict) else {}
    return _Smp(hints).merge_map(base, patch, "")


def _strategies(hint: tuple[str, str] | None) -> tuple[set[str], str]:
    if not hint:
        return set(), ""
    return {s.strip() for s in hint[0].split(",")}, hint[1]


def _ident(value: Any) -> Any:
    """A hashable identity for a merge-key value or a primitive list item."""
    if isinstance(value, dict | list):
        return ("json", orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
    # bool is an int in Python; keep true and 1 apart as Go does.
    return (type(value) is bool, value)


class _Smp:
    """One strategic merge; holds the hints so the recursion stays cheap."""

    __slots__ = ("hints",)

    def __init__(self, hints: Mapping[str, tuple[str, str]]) -> None:
        self.hints = hints

    # -- maps

    def merge_map(self, original: dict[str, Any], patch: Mapping[str, Any], path: str) -> dict[str, Any]:
        """Merge `patch` into `original` (our own copy, edited in place) and return the result."""
        directive = patch.get(_PATCH, _MISSING)
        if directive is not _MISSING:
            if directive == "replace":
                return self.merge_map({}, {k: v for k, v in patch.items() if k != _PATCH}, path)
            if directive == "delete":
                return {}
            if directive != "merge":
                # kube rejects `$patch: merge` in maps too; accepting it as a plain merge is harmless.
                raise errors.bad_request(f"unknown patch type: {directive} in map: {patch}")
        retain = patch.get(_RETAIN_KEYS, _MISSING)
        if retain is not _MISSING:
            if not isinstance(retain, list):
                raise errors.bad_request("invalid patch: the value of $retainKeys must be a list")
            keep = {k for k in retain if isinstance(k, str)}
            for k in [k for k in original if k not in keep]:
                del original[k]
        done: set[str] = set()
        for key, order in patch.items():
            if key.startswith(_SET_ORDER):
                field = key[len(_SET_ORDER):]
                self._set_element_order(original, patch, field, order, path)
                done.add(field)
        for key, pv in patch.items():
            if key.startswith("$") or key in done:
                continue
            if pv is None:
                original.pop(key, None)
                continue
            child = f"{path}.{key}" if path else key
            ov = original.get(key, _MISSING)
            if isinstance(pv, dict):
                strategies, _ = _strategies(self.hints.get(child))
                if isinstance(ov, dict) and "replace" not in strategies:
                    original[key] = self.merge_map(ov, pv, child)
                else:
                    original[key] = self.merge_map({}, pv, child)
            elif isinstance(pv, list):
                original[key] = self.merge_list(ov if isinstance(ov, list) else [], pv, child)
            else:
                original[key] = pv
        for key, values in patch.items():
            if key.startswith(_DELETE_PRIMITIVE):
                field = key[len(_DELETE_PRIMITIVE):]
                if not isinstance(values, list):
                    raise errors.bad_request("invalid patch: $deleteFromPrimitiveList must be a list")
                cur = original.get(field)
                if isinstance(cur, list):
                    gone = {_ident(v) for v in values}
                    original[field] = [v for v in cur if _ident(v) not in gone]
        return original

    def _set_element_order(self, original: dict[str, Any], patch: Mapping[str, Any], field: str, order: Any,
                           path: str) -> None:
        if not isinstance(order, list):
            raise errors.bad_request("invalid patch: $setElementOrder must be a list")
        child = f"{path}.{field}" if path else field
        cur = original.get(field)
        cur_list = cur if isinstance(cur, list) else []
        patch_list = patch.get(field)
        if patch_list is None:
            if field in patch:  # explicit null next to the order list: the field goes away
                original.pop(field, None)
                return
            merged = list(cur_list)
        else:
            if not isinstance(patch_list, list):
                raise errors.bad_request(f"invalid patch: {field} must be a list next to $setElementOrder")
            merged = self.merge_list(cur_list, patch_list, child)
        if not merged and field not in original:
            return
        _, key = _strategies(self.hints.get(child))
        ident = self._item_ident(key)
        # Items named in the order list take its order; the others (server-only
        # items the client did not know about) keep their place relative to the
        # live list, as normalizeElementOrder does.
        wanted: dict[Any, int] = {}
        for i, o in enumerate(order):
            wanted.setdefault(ident(o), i)
        named = [m for m in merged if ident(m) in wanted]
        named.sort(key=lambda m: wanted[ident(m)])
        others = [m for m in merged if ident(m) not in wanted]
        original[field] = _merge_sorted(others, named, cur_list, ident)

    @staticmethod
    def _item_ident(key: str) -> Any:
        if key:
            return lambda item: _ident(item.get(key) if isinstance(item, dict) else item)
        return _ident

    # -- lists

    def merge_list(self, original: list[Any], patch: list[Any], path: str) -> list[Any]:
        """Merge a patch list into `original` (our own copy) according to the hint at `path`."""
        strategies, key = _strategies(self.hints.get(path))
        item_path = path + "[]"
        if "merge" not in strategies:
            # Atomic list: replaced by the patch value as is (mergeSliceHandler).
            return deep_copy(patch)
        if not key:
            return self._merge_primitives(original, patch)
        return self._merge_keyed(original, patch, key, item_path)

    def _merge_primitives(self, original: list[Any], patch: list[Any]) -> list[Any]:
        if any(isinstance(v, dict) and v.get(_PATCH) == "replace" for v in patch):
            return [deep_copy(v) for v in patch if not _is_directive_item(v)]
        seen: set[Any] = set()
        merged = []
        for v in original + patch:
            i = _ident(v)
            if i not in seen:
                seen.add(i)
                merged.append(v)
        return _order(merged, patch, original, _ident)

    def _merge_keyed(self, original: list[Any], patch: list[Any], key: str, item_path: str) -> list[Any]:
        ident = self._item_ident(key)
        plain: list[dict[str, Any]] = []
        replace = False
        for item in patch:
            if not isinstance(item, dict):
                raise errors.bad_request(f"invalid patch: list item {item!r} is not a map")
            directive = item.get(_PATCH)
            if directive is None or directive == "merge":
                plain.append(item)
            elif directive == "delete":
                if key not in item:
                    raise errors.bad_request(f"map: {item} does not contain declared merge key: {key}")
                gone = ident(item)
                original = [o for o in original if ident(o) != gone]
            elif directive == "replace":
                replace = True
            else:
                raise errors.bad_request(f"unknown patch type: {directive} in map: {item}")
        if replace:
            return [self.merge_map({}, {k: v for k, v in item.items() if k != _PATCH}, item_path)
                    for item in plain]
        before = list(original)
        merged = list(original)
        where: dict[Any, int] = {}
        for i, o in enumerate(merged):
            where.setdefault(ident(o), i)
        for item in plain:
            if key not in item:
                raise errors.bad_request(f"map: {item} does not contain declared merge key: {key}")
            body = {k: v for k, v in item.items() if k != _PATCH}
            at = where.get(ident(item))
            if at is not None and isinstance(merged[at], dict):
                merged[at] = self.merge_map(merged[at], body, item_path)
            else:
                where[ident(item)] = len(merged)
                merged.append(self.merge_map({}, body, item_path))
        return _order(merged, plain, before, ident)


def _is_directive_item(item: Any) -> bool:
    return isinstance(item, dict) and _PATCH in item and len(item) == 1


def _order(merged: list[Any], patch: list[Any], original: list[Any], ident: Any) -> list[Any]:
    """Order a merged list like strategicpatch.normalizeElementOrder.

    Items named in the patch follow the patch order; server-only items keep
    their live order; the two are interleaved by their live positions.
    """
    in_patch: dict[Any, int] = {}
    for i, p in enumerate(patch):
        in_patch.setdefault(ident(p), i)
    patch_items = [m for m in merged if ident(m) in in_patch]
    patch_items.sort(key=lambda m: in_patch[ident(m)])
    server_only = [m for m in merged if ident(m) not in in_patch]
    return _merge_sorted(server_only, patch_items, original, ident)


def _merge_sorted(left: list[Any], right: list[Any], server_order: list[Any], ident: Any) -> list[Any]:
    """strategicpatch.mergeSortedSlice: interleave two sorted lists by their live positions.

    When either item is not in the live list the right (patch) item goes
    first, exactly as kube does.
    """
    pos: dict[Any, int] = {}
    for i, s in enumerate(server_order):
        pos.setdefault(ident(s), i)
    out = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = pos.get(ident(left[i]), -1)
            ri = pos.get(ident(right[j]), -1)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out
