"""Server-side apply and managedFields tracking (the field manager of kube-apiserver).

Field sets are kept in their wire form, the FieldsV1 trie, so managedFields
never need converting: each key is a path element (`f:<field>`,
`k:{"key":"value"}` for an associative list item, `v:<json>` for a set item),
each value the subtree below it. A node is a *member* of the set when it is
`{}` (a leaf) or holds `"."` (owned as a whole and also has owned children).
The root itself is never a member.

Semantics follow sigs.k8s.io/structured-merge-diff as kube-apiserver uses it:

* Apply (`server_side_apply`): the manager's set becomes the field set of the
  applied configuration (`ToFieldSet`); the object is `live` merged with the
  configuration; fields the manager applied before but dropped now, and that
  nobody else owns, are removed; a changed field owned by another manager is a
  409 conflict unless forced.
* Update (`track_update`): the manager gains the fields whose values changed
  or appeared (`Compare`), every other manager loses them, and everybody loses
  removed fields.

List and map kinds come from the OpenAPI schema (`x-kubernetes-list-type`,
`x-kubernetes-list-map-keys`, `x-kubernetes-map-type`) or, for built-ins
without a schema, from the strategic-merge hints (a merge key = associative
list, an empty key = set); anything else is an atomic list owned as one leaf.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from . import errors
from .errors import StatusError
from .patch import deep_copy
from .resources import Obj

__all__ = ["FieldSet", "fieldset_of", "server_side_apply", "track_update"]

#: A field set in FieldsV1 form (see the module docstring).
FieldSet = dict[str, Any]
Hints = Mapping[str, tuple[str, str]]

#: metadata fields the field manager never tracks (stripmeta.go); apiVersion and kind are stripped too.
_STRIP_META = frozenset({
    "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
    "managedFields", "resourceVersion",
})
#: ObjectMeta list semantics every kind shares (finalizers: set; ownerReferences: map keyed by uid).
_META_HINTS: dict[str, tuple[str, str]] = {
    "metadata.finalizers": ("merge", ""),
    "metadata.ownerReferences": ("merge", "uid"),
}
#: Schema of a subtree the schema leaves open (x-kubernetes-preserve-unknown-fields): structured-merge-diff's
#: "deduced" type, where every map key is undeclared and lists are atomic.
_UNTYPED: Obj = {"x-kubernetes-preserve-unknown-fields": True}
#: managedfields.DefaultMaxUpdateManagers and the bucket older Update entries are merged into.
MAX_UPDATE_MANAGERS = 10
ANCIENT_CHANGES = "ancient-changes"
BEFORE_FIRST_APPLY = "before-first-apply"
_MISSING: Any = object()


# --------------------------------------------------------------------------- field-set algebra


def _is_member(node: FieldSet) -> bool:
    return not node or "." in node


def _with_self(children: FieldSet) -> FieldSet:
    """The node for a member that may have owned children."""
    if not children:
        return {}
    children["."] = {}
    return children


def _sub(a: FieldSet, b: FieldSet) -> FieldSet | None:
    """Members of `a` not in `b`; None when nothing is left. Returns `a` itself when unchanged.

    Walks only `b`, which is usually the small "changed" set, so subtracting a
    heartbeat's few fields from a big manager entry stays cheap.
    """
    out = _sub_children(a, b)
    self_member = _is_member(a) and not _is_member(b)
    has_children = any(k != "." for k in out)
    if has_children:
        if not self_member and "." in out:
            out = {k: v for k, v in out.items() if k != "."}
        return out
    if self_member:
        return a if not a else {}
    return None


def _sub_children(a: FieldSet, b: FieldSet) -> FieldSet:
    """`a` with each child subtracted by `b`'s child of the same key (`a` itself when nothing changes)."""
    out = a
    for k, bv in b.items():
        if k == ".":
            continue
        av = a.get(k)
        if av is None:
            continue
        r = _sub(av, bv)
        if r is av:
            continue
        if out is a:
            out = dict(a)
        if r is None:
            del out[k]
        else:
            out[k] = r
    return out


def _sub_root(a: FieldSet, b: FieldSet) -> FieldSet:
    # The root is never a member: compare children only.
    return _sub_children(a, b)


def _union(a: FieldSet, b: FieldSet) -> FieldSet:
    """Members of `a` or `b`.

    Subtrees only in `b` are copied in canonical order, subtrees only in `a`
    are shared; a node that gained keys is re-sorted, so a canonical `a`
    stays canonical without re-sorting the whole trie.
    """
    if a is b or (not b and _is_member(a)):
        return a
    out = {k: v for k, v in a.items() if k != "."}
    added = False
    for k, bv in b.items():
        if k == ".":
            continue
        av = out.get(k)
        if av is None:
            out[k] = _canonical(bv)
            added = True
        else:
            out[k] = _union(av, bv)
    if _is_member(a) or _is_member(b):
        if not out:
            return {}
        out["."] = {}
        added = True
    return {k: out[k] for k in sorted(out)} if added else out


def _union_root(a: FieldSet, b: FieldSet) -> FieldSet:
    out = dict(a)
    added = False
    for k, bv in b.items():
        av = out.get(k)
        if av is None:
            out[k] = _canonical(bv)
            added = True
        else:
            out[k] = _union(av, bv)
    return {k: out[k] for k in sorted(out)} if added else out


def _intersect(a: FieldSet, b: FieldSet) -> FieldSet | None:
    """Members in both sets, or None."""
    out: FieldSet = {}
    small, big = (a, b) if len(a) <= len(b) else (b, a)
    for k, sv in small.items():
        if k == ".":
            continue
        bv = big.get(k)
        if bv is None:
            continue
        r = _intersect(sv, bv)
        if r is not None:
            out[k] = r
    if _is_member(a) and _is_member(b):
        return _with_self(out)
    return out or None


def _intersect_root(a: FieldSet, b: FieldSet) -> FieldSet:
    out: FieldSet = {}
    for k, bv in b.items():
        av = a.get(k)
        if av is not None and k != ".":
            r = _intersect(av, bv)
            if r is not None:
                out[k] = r
    return out


def _canonical(node: FieldSet) -> FieldSet:
    """A fresh copy with keys sorted ("." first), the order kube serialises FieldsV1 in."""
    return {k: _canonical(node[k]) for k in sorted(node)}


def _pe_string(key: str) -> str:
    """One path element as fieldpath.Path.String() prints it (`.f`, `[k="v"]`, `[="v"]`)."""
    kind, body = key[:2], key[2:]
    if kind == "f:":
        return "." + body
    if kind == "k:":
        try:
            keys = json.loads(body)
        except ValueError:
            return f"[{body}]"
        return "[" + ",".join(f"{n}={json.dumps(v, ensure_ascii=False)}" for n, v in keys.items()) + "]"
    if kind == "v:":
        return f"[={body}]"
    return f"[{body}]"


def _paths(node: FieldSet, prefix: str = "") -> Iterator[str]:
    """Member paths in fieldpath.Set.Iterate order: this level's members, then each child's."""
    keys = sorted(k for k in node if k != ".")
    for k in keys:
        if _is_member(node[k]):
            yield prefix + _pe_string(k)
    for k in keys:
        child = node[k]
        if any(c != "." for c in child):
            yield from _paths(child, prefix + _pe_string(k))


# --------------------------------------------------------------------------- schema / hint typing


class _Typer:
    """Resolves list and map semantics and walks objects into field sets."""

    __slots__ = ("hints",)

    def __init__(self, hints: Hints) -> None:
        self.hints = hints

    # -- types

    def list_kind(self, sch: Obj | None, path: str) -> tuple[str, tuple[str, ...]]:
        """("atomic" | "map" | "set", map keys) of the list at `path`."""
        if sch:
            lt = sch.get("x-kubernetes-list-type")
            if lt == "map":
                return "map", tuple(sch.get("x-kubernetes-list-map-keys") or ())
            if lt == "set":
                return "set", ()
            if lt == "atomic":
                return "atomic", ()
        hint = self.hints.get(path) or _META_HINTS.get(path)
        if hint and "merge" in hint[0].split(","):
            return ("map", (hint[1],)) if hint[1] else ("set", ())
        return "atomic", ()

    @staticmethod
    def map_atomic(sch: Obj | None) -> bool:
        return bool(sch) and sch.get("x-kubernetes-map-type") == "atomic"  # type: ignore[union-attr]

    @staticmethod
    def child(sch: Obj | None, key: str) -> tuple[Obj | None, bool]:
        """(schema of field `key`, whether it is a declared struct field).

        Without a schema (built-ins) every map is treated as a struct whose
        fields are declared, which is what kube's typed built-ins look like.
        """
        if sch is None:
            return None, True
        props = sch.get("properties")
        if props and key in props:
            return props[key], True
        extra = sch.get("additionalProperties")
        if isinstance(extra, dict):
            return extra, False
        return _UNTYPED, False

    @staticmethod
    def items(sch: Obj | None) -> Obj | None:
        if sch is None:
            return None
        item = sch.get("items")
        return item if isinstance(item, dict) else _UNTYPED

    @staticmethod
    def item_key(item: Any, kind: str, keys: tuple[str, ...]) -> str:
        """The path element of a list item: `k:{...}` (keys sorted, compact JSON) or `v:<json>`."""
        if kind == "map" and isinstance(item, dict):
            if len(keys) == 1:
                return "k:" + orjson.dumps({keys[0]: item.get(keys[0])}).decode()
            return "k:" + orjson.dumps({k: item.get(k) for k in sorted(keys)}).decode()
        return "v:" + orjson.dumps(item).decode()

    # -- Apply: ToFieldSet

    def applied_set(self, obj: Obj, schema: Obj | None) -> FieldSet:
        """The field set an applied configuration claims."""
        out: FieldSet = {}
        for k, v in obj.items():
            if k in ("apiVersion", "kind"):
                continue
            if k == "metadata":
                if isinstance(v, dict):
                    meta = self._applied_children(v, None, "metadata", strip=True)
                    if meta:
                        out["f:metadata"] = meta
                continue
            csch, declared = self.child(schema, k)
            node = self._applied_node(v, csch, k, declared)
            if node is not None:
                out["f:" + k] = node
        return out

    def _applied_children(self, m: Mapping[str, Any], sch: Obj | None, path: str,
                          strip: bool = False) -> FieldSet:
        out: FieldSet = {}
        for k, v in m.items():
            if strip and k in _STRIP_META:
                continue
            csch, declared = self.child(sch, k)
            node = self._applied_node(v, csch, f"{path}.{k}", declared)
            if node is not None:
                out["f:" + k] = node
        return out

    def _applied_node(self, v: Any, sch: Obj | None, path: str, declared: bool) -> FieldSet | None:
        if isinstance(v, dict):
            if not v or self.map_atomic(sch):
                return {}
            children = self._applied_children(v, sch, path)
            if not declared:
                # A key of a map-typed field is itself a member (visitMapItems).
                return _with_self(children)
            return children or None
        if isinstance(v, list):
            kind, keys = self.list_kind(sch, path)
            if kind == "atomic":
                return {}
            if not v:
                return None  # an empty granular list claims nothing
            isch, ipath = self.items(sch), path + "[]"
            node: FieldSet = {}
            for item in v:
                pe = self.item_key(item, kind, keys)
                if kind == "map" and isinstance(item, dict):
                    node[pe] = _with_self(self._applied_children(item, isch, ipath))
                else:
                    node[pe] = {}
            return node
        return {}

    # -- Update: Compare

    def added(self, v: Any, sch: Obj | None, path: str) -> FieldSet:
        """Every path of a value that appeared (or vanished): non-leaf nodes are members too."""
        if isinstance(v, dict):
            if not v or self.map_atomic(sch):
                return {}
            return _with_self({
                "f:" + k: self.added(cv, self.child(sch, k)[0], f"{path}.{k}") for k, cv in v.items()
            })
        if isinstance(v, list):
            kind, keys = self.list_kind(sch, path)
            if kind == "atomic" or not v:
                return {}
            isch, ipath = self.items(sch), path + "[]"
            node: FieldSet = {}
            for item in v:
                node[self.item_key(item, kind, keys)] = (
                    self.added(item, isch, ipath) if kind == "map" else {})
            return _with_self(node)
        return {}

    def compare(self, old: Obj, new: Obj, schema: Obj | None) -> tuple[FieldSet, FieldSet]:
        """(added or modified, removed) tracked fields between two objects."""
        changed: FieldSet = {}
        removed: FieldSet = {}
        for k, nv in new.items():
            if k in ("apiVersion", "kind"):
                continue
            ov = old.get(k, _MISSING)
            if ov is nv or ov == nv:
                continue
            if k == "metadata":
                c, r = self._diff_map(ov if isinstance(ov, dict) else {}, nv if isinstance(nv, dict) else {},
                                      None, "metadata", strip=True)
                if c:
                    changed["f:metadata"] = c
                if r:
                    removed["f:metadata"] = r
                continue
            csch, _ = self.child(schema, k)
            if ov is _MISSING:
                changed["f:" + k] = self.added(nv, csch, k)
            else:
                cn, rn = self._diff_value(ov, nv, csch, k)
                if cn is not None:
                    changed["f:" + k] = cn
                if rn is not None:
                    removed["f:" + k] = rn
        for k, ov in old.items():
            if k not in new and k not in ("apiVersion", "kind"):
                if k == "metadata":
                    old_meta = ov if isinstance(ov, dict) else {}
                    r = self._diff_map(old_meta, {}, None, "metadata", strip=True)[1]
                    if r:
                        removed["f:metadata"] = r
                else:
                    removed["f:" + k] = self.added(ov, self.child(schema, k)[0], k)
        return changed, removed

    def _diff_map(self, o: Mapping[str, Any], n: Mapping[str, Any], sch: Obj | None, path: str,
                  strip: bool = False) -> tuple[FieldSet, FieldSet]:
        changed: FieldSet = {}
        removed: FieldSet = {}
        for k, nv in n.items():
            if strip and k in _STRIP_META:
                continue
            ov = o.get(k, _MISSING)
            # Equal subtrees are skipped whole: dict/list equality runs in C.
            if ov is nv or ov == nv:
                continue
            csch, _ = self.child(sch, k)
            cpath = f"{path}.{k}"
            if ov is _MISSING:
                changed["f:" + k] = self.added(nv, csch, cpath)
                continue
            cn, rn = self._diff_value(ov, nv, csch, cpath)
            if cn is not None:
                changed["f:" + k] = cn
            if rn is not None:
                removed["f:" + k] = rn
        for k, ov in o.items():
            if k not in n and not (strip and k in _STRIP_META):
                removed["f:" + k] = self.added(ov, self.child(sch, k)[0], f"{path}.{k}")
        return changed, removed

    def _diff_value(self, ov: Any, nv: Any, sch: Obj | None,
                    path: str) -> tuple[FieldSet | None, FieldSet | None]:
        if isinstance(ov, dict) and isinstance(nv, dict) and not self.map_atomic(sch):
            c, r = self._diff_map(ov, nv, sch, path)
            return c or None, r or None
        if isinstance(ov, list) and isinstance(nv, list):
            kind, keys = self.list_kind(sch, path)
            if kind != "atomic":
                return self._diff_list(ov, nv, kind, keys, sch, path)
            return {}, None
        if isinstance(ov, dict | list) and ov:
            # A container replaced by something else: its old children are gone.
            gone = self.added(ov, sch, path)
            return {}, {k: v for k, v in gone.items() if k != "."} or None
        return {}, None

    def _diff_list(self, ov: list[Any], nv: list[Any], kind: str, keys: tuple[str, ...], sch: Obj | None,
                   path: str) -> tuple[FieldSet | None, FieldSet | None]:
        isch, ipath = self.items(sch), path + "[]"
        old_items: dict[str, Any] = {}
        for item in ov:
            old_items.setdefault(self.item_key(item, kind, keys), item)
        changed: FieldSet = {}
        removed: FieldSet = {}
        seen = set()
        for item in nv:
            pe = self.item_key(item, kind, keys)
            if pe in seen:
                continue
            seen.add(pe)
            oi = old_items.get(pe, _MISSING)
            if oi is _MISSING:
                changed[pe] = self.added(item, isch, ipath) if kind == "map" else {}
            elif oi == item:
                continue
            elif kind == "map" and isinstance(oi, dict) and isinstance(item, dict):
                c, r = self._diff_map(oi, item, isch, ipath)
                if c:
                    changed[pe] = c
                if r:
                    removed[pe] = r
            else:
                changed[pe] = {}
        for pe, oi in old_items.items():
            if pe not in seen:
                removed[pe] = self.added(oi, isch, ipath) if kind == "map" else {}
        return changed or None, removed or None

    # -- Apply: merge and prune

    def merge_value(self, lv: Any, av: Any, sch: Obj | None, path: str) -> Any:
        """`av` (applied) merged over `lv` (live, our own copy)."""
        if isinstance(av, dict):
            if not isinstance(lv, dict) or self.map_atomic(sch):
                lv = {}
            for k, v in av.items():
                if v is None:
                    lv.pop(k, None)
                    continue
                csch, _ = self.child(sch, k)
                lv[k] = self.merge_value(lv.get(k), v, csch, f"{path}.{k}")
            return lv
        if isinstance(av, list):
            kind, keys = self.list_kind(sch, path)
            if kind == "atomic":
                return deep_copy(av)
            return self._merge_list(lv if isinstance(lv, list) else [], av, kind, keys, sch, path)
        return av

    def _merge_list(self, lv: list[Any], av: list[Any], kind: str, keys: tuple[str, ...], sch: Obj | None,
                    path: str) -> list[Any]:
        # A port of structured-merge-diff's mergingWalker.visitListItems: live-only
        # items keep their place, shared and new items follow the applied order.
        isch, ipath = self.items(sch), path + "[]"
        lk = [self.item_key(i, kind, keys) for i in lv]
        rk = [self.item_key(i, kind, keys) for i in av]
        lobs: dict[str, Any] = {}
        for pe, item in zip(lk, lv, strict=True):
            lobs.setdefault(pe, item)
        robs: dict[str, Any] = {}
        for pe, item in zip(rk, av, strict=True):
            robs.setdefault(pe, item)
        shared = [pe for pe in rk if pe in lobs]
        si = 0
        nxt = shared[0] if shared else None
        done: set[str] = set()
        out: list[Any] = []

        def take(pe: str) -> None:
            if pe in done:
                return
            done.add(pe)
            if kind == "map":
                out.append(self.merge_value(lobs.get(pe), robs[pe], isch, ipath))
            else:
                out.append(deep_copy(robs[pe]))

        li = ri = 0
        nl, nr = len(lk), len(rk)
        while li < nl or ri < nr:
            if li < nl and ri < nr:
                pe = lk[li]
                if pe == rk[ri]:
                    take(pe)
                    li += 1
                    ri += 1
                    si += 1
                    nxt = shared[si] if si < len(shared) else None
                    continue
                if pe in robs and nxt is not None and nxt != pe:
                    li += 1
                    continue
            if li < nl:
                pe = lk[li]
                if pe not in robs:
                    out.append(lv[li])
                    li += 1
                    continue
                if pe in done:
                    li += 1
                    continue
            if ri < nr:
                pe = rk[ri]
                take(pe)
                ri += 1
                if nxt is not None and nxt == pe:
                    si += 1
                    nxt = shared[si] if si < len(shared) else None
        return out

    def prune(self, obj: Obj, prune: FieldSet, owned: FieldSet, schema: Obj | None) -> None:
        """Remove from `obj` (in place) the members of `prune` nobody in `owned` still claims."""
        for pk, pnode in prune.items():
            if not pk.startswith("f:"):
                continue
            k = pk[2:]
            if k not in obj:
                continue
            onode = owned.get(pk)
            if k == "metadata":
                if isinstance(obj[k], dict):
                    self._prune_map(obj[k], pnode, onode or {}, None, "metadata")
                continue
            self._prune_field(obj, k, pnode, onode, self.child(schema, k)[0], k)

    def _prune_field(self, obj: dict[str, Any], k: str, pnode: FieldSet, onode: FieldSet | None,
                     sch: Obj | None, path: str) -> None:
        if _is_member(pnode) and onode is None:
            del obj[k]
            return
        value = obj[k]
        # structured-merge-diff (kube 1.32) turns a container emptied by pruning
        # into null, so the field goes, unless someone owns the container itself.
        keep_empty = onode is not None and _is_member(onode)
        if isinstance(value, dict) and value:
            self._prune_map(value, pnode, onode or {}, sch, path)
            if not value and not keep_empty:
                del obj[k]
        elif isinstance(value, list) and value:
            pruned = self._prune_list(value, pnode, onode or {}, sch, path)
            if pruned or keep_empty:
                obj[k] = pruned
            else:
                del obj[k]

    def _prune_map(self, m: dict[str, Any], prune: FieldSet, owned: FieldSet, sch: Obj | None,
                   path: str) -> None:
        for pk, pnode in prune.items():
            if not pk.startswith("f:"):
                continue
            k = pk[2:]
            if k in m:
                self._prune_field(m, k, pnode, owned.get(pk), self.child(sch, k)[0], f"{path}.{k}")

    def _prune_list(self, items: list[Any], prune: FieldSet, owned: FieldSet, sch: Obj | None,
                    path: str) -> list[Any]:
        kind, keys = self.list_kind(sch, path)
        if kind == "atomic":
            return items
        isch, ipath = self.items(sch), path + "[]"
        out = []
        for item in items:
            pe = self.item_key(item, kind, keys)
            pnode = prune.get(pe)
            if pnode is None:
                out.append(item)
                continue
            onode = owned.get(pe)
            if _is_member(pnode) and onode is None:
                continue
            if isinstance(item, dict):
                self._prune_map(item, pnode, onode or {}, isch, ipath)
            out.append(item)
        return out


def fieldset_of(obj: Obj, schema: Obj | None, hints: Hints) -> FieldSet:
    """The field set (FieldsV1 trie) an applied configuration `obj` claims.

    apiVersion, kind and server-owned metadata (name, namespace, uid,
    resourceVersion, generation, creationTimestamp, managedFields, ...) are
    never part of it, as in kube.
    """
    return _Typer(hints).applied_set(obj, schema)


# --------------------------------------------------------------------------- managedFields entries


def _fields(entry: Mapping[str, Any]) -> FieldSet:
    f = entry.get("fieldsV1")
    return f if isinstance(f, dict) else {}


def _identity(entry: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """What makes two entries the same manager (BuildManagerIdentifier): Apply ignores apiVersion."""
    op = str(entry.get("operation") or "")
    return (str(entry.get("manager") or ""), op, "" if op == "Apply" else str(entry.get("apiVersion") or ""),
            str(entry.get("subresource") or ""))


def _identifier_json(entry: Mapping[str, Any]) -> str:
    manager, op, version, sub = _identity(entry)
    d: dict[str, str] = {"manager": manager, "operation": op}
    if version:
        d["apiVersion"] = version
    if sub:
        d["subresource"] = sub
    return orjson.dumps(d).decode()


def _print_manager(entry: Mapping[str, Any]) -> str:
    """conflict.go printManager: `"name"`, plus subresource, plus `using <apiVersion>` for Update."""
    manager, op, version, sub = _identity(entry)
    out = json.dumps(manager, ensure_ascii=False)
    if sub:
        out += f" with subresource {json.dumps(sub, ensure_ascii=False)}"
    if op == "Update":
        out += f" using {version}"
    return out


def _entry(manager: str, operation: str, api_version: str, time: str | None, fields: FieldSet,
           subresource: str) -> Obj:
    """A ManagedFieldsEntry; `fields` must be our own trie, already in canonical order."""
    # Key order is the order kube serialises ManagedFieldsEntry in.
    e: Obj = {"manager": manager, "operation": operation, "apiVersion": api_version}
    if time:
        e["time"] = time
    e["fieldsType"] = "FieldsV1"
    e["fieldsV1"] = fields
    if subresource:
        e["subresource"] = subresource
    return e


def _sort_key(entry: Mapping[str, Any]) -> tuple[str, str, str, str, str]:
    # sortEncodedManagedFields: operation, then time (oldest first), manager, apiVersion, subresource.
    return (str(entry.get("operation") or ""), str(entry.get("time") or ""), str(entry.get("manager") or ""),
            str(entry.get("apiVersion") or ""), str(entry.get("subresource") or ""))


def _store(meta: dict[str, Any], entries: list[Obj]) -> None:
    if entries:
        entries.sort(key=_sort_key)
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)


def _cap_update_managers(entries: list[Obj]) -> list[Obj]:
    """capmanagers.go: beyond 10 Update entries, the oldest are merged into `ancient-changes`."""
    updaters = [e for e in entries if e.get("operation") == "Update"]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return entries
    updaters.sort(key=lambda e: (str(e.get("time") or ""), _identifier_json(e)))
    out = list(entries)
    buckets = {str(e.get("apiVersion") or ""): e for e in out
               if e.get("manager") == ANCIENT_CHANGES and e.get("operation") == "Update"
               and not e.get("subresource")}
    first: dict[str, Obj] = {}
    length = len(updaters)
    for e in updaters:
        if length <= MAX_UPDATE_MANAGERS:
            break
        if e in buckets.values():
            continue
        version = str(e.get("apiVersion") or "")
        if version not in first and version not in buckets:
            first[version] = e
            continue
        bucket = buckets.get(version)
        if bucket is None:
            f = first[version]
            out.remove(f)
            bucket = _entry(ANCIENT_CHANGES, "Update", version, f.get("time"), _canonical(_fields(f)), "")
            out.append(bucket)
            buckets[version] = bucket
        merged = _entry(ANCIENT_CHANGES, "Update", version, e.get("time"),
                        _union_root(_fields(bucket), _fields(e)), "")
        out[out.index(bucket)] = merged
        buckets[version] = merged
        out.remove(e)
        length -= 1
    return out


def _conflict_error(conflicts: list[tuple[Obj, FieldSet]]) -> StatusError:
    """409 like fieldmanager's NewConflictError (message text of conflict.go)."""
    conflicts = sorted(conflicts, key=lambda c: _identifier_json(c[0]))
    causes: list[dict[str, str]] = []
    lines: list[str] = []
    single = ""
    for entry, fields in conflicts:
        who = _print_manager(entry)
        lines.append(f"conflicts with {who}:")
        for p in _paths(fields):
            causes.append({"type": "FieldManagerConflict", "message": f"conflict with {who}", "field": p})
            lines.append(f"- {p}")
            single = f"conflict with {who}: {p}"
    if len(causes) == 1:
        message = f"Apply failed with 1 conflict: {single}"
    else:
        message = f"Apply failed with {len(causes)} conflicts: " + "\n".join(lines)
    return StatusError(409, "Conflict", message, causes=causes)


# --------------------------------------------------------------------------- Apply


def server_side_apply(live: Obj | None, applied: Obj, *, manager: str, force: bool, api_version: str,
                      schema: Obj | None, hints: Hints, now: str, subresource: str = "") -> Obj:
    """Server-side apply `applied` (a full configuration) by `manager`; returns the new object.

    `live` is the stored object (None when apply creates it). The result has
    `metadata.managedFields` updated. Raises a 409 Conflict (reason Conflict,
    causes of type FieldManagerConflict) when a field changes that another
    manager owns and `force` is false; with `force` the field moves over.
    Fields the endpoint resets (status on the main resource) should be
    removed from `applied` by the caller first.
    """
    if not isinstance(applied, dict):
        raise errors.bad_request("the applied configuration must be an object")
    am = applied.get("metadata")
    if isinstance(am, dict) and am.get("managedFields") is not None:
        raise errors.bad_request("metadata.managedFields must be nil")
    typer = _Typer(hints)
    new_set = typer.applied_set(applied, schema)
    if live is None:
        merged = _merge_root(typer, {}, applied, schema)
        entry = _entry(manager, "Apply", api_version, now, _canonical(new_set), subresource)
        _store(merged.setdefault("metadata", {}), [entry] if new_set else [])
        return merged

    # One copy of live: it becomes the result; its managedFields are our own entries to edit.
    merged = deep_copy(live)
    merged_meta = merged.get("metadata")
    if not isinstance(merged_meta, dict):
        merged_meta = merged["metadata"] = {}
    entries = [e for e in (merged_meta.pop("managedFields", None) or []) if isinstance(e, dict) and e]
    if not entries:
        # skipnonapplied.go: an object nobody tracked yet is owned by a synthetic
        # Update manager, so applying over it reports conflicts instead of silently taking over.
        owned = typer.compare({}, live, schema)[0]
        if owned:
            entries = [_entry(BEFORE_FIRST_APPLY, "Update", api_version, now, _canonical(owned), "")]

    mine: Obj | None = None
    for e in entries:
        who, op, _, sub = _identity(e)
        if who == manager and op == "Apply" and sub == subresource:
            mine = e
    others = [e for e in entries if e is not mine]

    merged = _merge_root(typer, merged, applied, schema)
    last = _fields(mine) if mine is not None else {}
    if last:
        owned_now = new_set
        for e in others:
            owned_now = _union_root(owned_now, _fields(e))
        stale = _sub_root(last, owned_now)
        if stale:
            typer.prune(merged, stale, owned_now, schema)

    changed, removed = typer.compare(live, merged, schema)
    conflicts: list[tuple[Obj, FieldSet]] = []
    if changed:
        for e in others:
            c = _intersect_root(_fields(e), changed)
            if c:
                conflicts.append((e, c))
    if conflicts and not force:
        raise _conflict_error(conflicts)

    taken = {id(e): c for e, c in conflicts}
    out: list[Obj] = []
    for e in others:
        fields = _fields(e)
        new_fields = fields
        if id(e) in taken:
            new_fields = _sub_root(new_fields, taken[id(e)])
        if removed:
            new_fields = _sub_root(new_fields, removed)
        if new_fields is fields:
            out.append(e)
        elif new_fields:
            out.append({**e, "fieldsV1": new_fields})
    if new_set:
        # managedFieldsUpdater: the Apply time only moves when the object changed.
        object_changed = bool(changed or removed)
        time = now if object_changed or mine is None or not mine.get("time") else mine.get("time")
        out.append(_entry(manager, "Apply", api_version, time, _canonical(new_set), subresource))
    _store(merged.setdefault("metadata", {}), _cap_update_managers(out))
    return merged


def _merge_root(typer: _Typer, base: Obj, applied: Obj, schema: Obj | None) -> Obj:
    for k, v in applied.items():
        if k == "metadata":
            if not isinstance(v, dict):
                continue
            meta = base.get("metadata")
            if not isinstance(meta, dict):
                meta = base["metadata"] = {}
            for mk, mv in v.items():
                if mv is None:
                    # Server-owned fields sent as null (kubectl writes `creationTimestamp: null`) are ignored.
                    if mk not in _STRIP_META:
                        meta.pop(mk, None)
                    continue
                if mk == "managedFields":
                    continue
                meta[mk] = typer.merge_value(meta.get(mk), mv, None, f"metadata.{mk}")
            continue
        if v is None:
            base.pop(k, None)
            continue
        base[k] = typer.merge_value(base.get(k), v, typer.child(schema, k)[0], k)
    return base


# --------------------------------------------------------------------------- Update


def track_update(old: Obj | None, new: Obj, *, manager: str, api_version: str, subresource: str = "",
                 schema: Obj | None, hints: Hints, now: str) -> None:
    """Record a non-apply write by `manager` in `new["metadata"]["managedFields"]` (in place).

    The manager's Update entry (one per manager, apiVersion and subresource)
    gains every field that was added or changed between `old` and `new`;
    other entries lose those fields and every removed field; empty entries
    are dropped. As in kube, managedFields sent with the request are honoured
    unless they are empty (then the stored ones are kept) or a single empty
    entry `[{}]` (which resets them); writes to a subresource always keep the
    stored ones. `new` must not share structure with `old`.
    """
    meta = new.get("metadata")
    if not isinstance(meta, dict):
        return
    sent = meta.get("managedFields")
    old_meta = old.get("metadata") if isinstance(old, dict) else None
    stored = old_meta.get("managedFields") if isinstance(old_meta, dict) else None
    if subresource or not sent:
        entries_src = stored or []
        own = False
    elif sent == [{}]:
        entries_src, own = [], True
    else:
        entries_src, own = sent, True
    if not manager:
        if not own and entries_src:
            meta["managedFields"] = deep_copy(entries_src)
        return
    # The stored entries are shared, not copied: entries are never edited in place (an entry that changes is
    # rebuilt, and the field-set algebra copies on write), and stored objects are replaced, never edited.
    entries = [e for e in entries_src if isinstance(e, dict) and e]

    typer = _Typer(hints)
    changed, removed = typer.compare(old or {}, new, schema)
    if not changed and not removed:
        if entries_src is not sent or sent == [{}]:
            _store(meta, entries)
        return

    me = (manager, "Update", api_version, subresource)
    mine: Obj | None = None
    out: list[Obj] = []
    for e in entries:
        if _identity(e) == me:
            mine = e
            continue
        fields = _fields(e)
        new_fields = fields
        if changed:
            new_fields = _sub_root(new_fields, changed)
        if removed:
            new_fields = _sub_root(new_fields, removed)
        if new_fields is fields:
            out.append(e)
        elif new_fields:
            out.append({**e, "fieldsV1": new_fields})
    prev = _fields(mine) if mine is not None else {}
    if removed:
        prev = _sub_root(prev, removed)
    if changed:
        out.append(_entry(manager, "Update", api_version, now, _union_root(prev, changed), subresource))
    elif prev and mine is not None:
        out.append({**mine, "fieldsV1": prev} if prev is not _fields(mine) else mine)
    _store(meta, _cap_update_managers(out))
