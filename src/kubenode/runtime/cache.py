"""The informer's local copy of one resource: raw dicts keyed by namespace/name, with indexes.

Readers get the very dicts the informer stored — no copies, because controllers
read far more than they write — so they must treat them as read-only and
copy before mutating (``copy.deepcopy``). Everything runs on one event loop,
so no locks are needed.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .labels import LabelSelector, compile_selector, labels_of

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], Iterable[str]]


def object_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` for namespaced objects, ``name`` for cluster-scoped ones (like client-go)."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace") or ""
    name = meta.get("name") or ""
    return f"{ns}/{name}" if ns else name


#: String values under these keys are unique per object (or per write, to the microsecond): sharing them would
#: only fill the table. Second-resolution timestamps are shared: an object's conditions mostly carry the same
#: one, and a controller stamps a whole batch of objects within the same second.
_UNIQUE_KEYS = frozenset({"uid", "resourceVersion", "renewTime", "acquireTime", "eventTime", "bootID", "machineID",
                          "systemUUID"})
_MAX_SHARED_LEN = 64
_MAX_SHARED = 200_000


class _Strings:
    """One copy of each repeated string (field names, label keys and values, reasons, zones, versions).

    Objects decoded from JSON each bring their own copy of every string, even
    ``"status"`` or ``"True"``; across a fleet of 50,000 Nodes those copies are
    most of a cache's memory. The table is bounded: when it is full it starts
    afresh (objects already stored keep their strings; only sharing with newer
    ones is lost), so unique values that slip in cannot grow it forever. (`compact` shares through the
    interpreter's interned strings instead, see `_intern`; this table is for a private, bounded share.)
    """

    def __init__(self, limit: int = _MAX_SHARED) -> None:
        self.limit = limit
        self.table: dict[str, str] = {}

    def share(self, s: str) -> str:
        got = self.table.get(s)
        if got is not None:
            return got
        if len(self.table) >= self.limit:
            self.table.clear()
        self.table[s] = s
        return s


def _intern(s: str) -> str:
    """The interpreter's one copy of `s` (`sys.intern`; a str subclass stays as it is).

    What `compact` shares through. Unlike a table of our own, the interpreter's interned strings are
    mortal: each lives as long as some object refers to it, so there is no bound to keep and no table to
    start afresh — at 50,000 machines the 200,000 entries of a `_Strings` table fill up (names, provider
    ids, addresses: four to six per machine) and every later object would get its own copies again.
    """
    return sys.intern(s) if type(s) is str else s


def _compact_value(value: Any, key: str, share: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return share(value) if len(value) <= _MAX_SHARED_LEN and key not in _UNIQUE_KEYS else value
    if isinstance(value, dict):
        return {share(k): _compact_value(v, k, share) for k, v in value.items()}
    if isinstance(value, list):
        return [_compact_value(v, key, share) for v in value]
    return value


#: Containers under ``status`` with at most this many items, whose every value is shared, are shared whole.
_MAX_SHARED_ITEMS = 16
_MAX_SHARED_SUBTREES = 100_000


class _Subtrees:
    """One copy of each repeated ``status`` subtree (a Node's capacity, its conditions of one second).

    A dict costs 200-400 bytes before its strings; a hollow Node's status is
    six condition dicts, two resource lists and its addresses, most of them
    equal to another Node's (the same shape, the same heartbeat second). The
    key is the subtree's content (types included: ``True`` is not ``1``); the
    table is bounded like :class:`_Strings`. Sharing is safe because cached
    objects are read-only (module docstring): a reader that mutated one would
    already be corrupting the informer's copy of the cluster.
    """

    def __init__(self, limit: int = _MAX_SHARED_SUBTREES) -> None:
        self.limit = limit
        self.table: dict[tuple[Any, ...], Any] = {}

    def share(self, key: tuple[Any, ...], value: Any) -> Any:
        got = self.table.get(key)
        if got is not None:
            return got
        if len(self.table) >= self.limit:
            self.table.clear()
        self.table[key] = value
        return value


_subtrees = _Subtrees()


def _shared_value(value: Any, key: str) -> tuple[Any, Any]:
    """(compacted value, its content key when the whole subtree can be shared, else None): under status."""
    if isinstance(value, str):
        if len(value) <= _MAX_SHARED_LEN and key not in _UNIQUE_KEYS:
            s = _intern(value)
            return s, s
        return value, None
    if isinstance(value, dict):
        out: Obj = {}
        parts: list[Any] | None = ["d"] if 0 < len(value) <= _MAX_SHARED_ITEMS else None
        for k, v in value.items():
            k = _intern(k)
            out[k], ck = _shared_value(v, k)
            if parts is not None:
                if ck is None:
                    parts = None
                else:
                    parts.append(k)
                    parts.append(ck)
        return (_subtrees.share(t, out), t) if parts is not None and (t := tuple(parts)) else (out, None)
    if isinstance(value, list):
        items: list[Any] = []
        lparts: list[Any] | None = ["l"] if 0 < len(value) <= _MAX_SHARED_ITEMS else None
        for v in value:
            cv, ck = _shared_value(v, key)
            items.append(cv)
            if lparts is not None:
                if ck is None:
                    lparts = None
                else:
                    lparts.append(ck)
        return (_subtrees.share(t, items), t) if lparts is not None and (t := tuple(lparts)) else (items, None)
    if value is None or isinstance(value, (bool, int, float)):
        return value, (type(value), value)
    return value, None


def compact(obj: Obj) -> Obj:
    """The object as an informer keeps it: without ``metadata.managedFields``, its repeated strings shared.

    ``managedFields`` (server-side apply's field ownership) is half of a
    typical Node's JSON and no controller reads it from a cache (client-go's
    ``TransformStripManagedFields`` drops it likewise); sharing the strings
    that repeat across objects divides what is left by about two and a half,
    and ``status`` subtrees equal to another object's (a condition of the same
    second, a Node's capacity) are one shared dict (:class:`_Subtrees`).
    A new dict is returned; ``obj`` is not changed. An update built from a
    compacted object keeps the stored managedFields: the server keeps them when
    a write sends none, as kube-apiserver does.
    """
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    out: Obj = {}
    for k, v in obj.items():
        if k == "status" and isinstance(v, dict):
            # Its repeated subtrees are shared whole (the status dict itself stays the object's own).
            out[_intern(k)] = {_intern(sk): _shared_value(sv, sk)[0] for sk, sv in v.items()}
        else:
            out[_intern(k)] = _compact_value(v, k, _intern)
    return out


def _ns_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


class Cache:
    """Objects of one resource, looked up by key, namespace, labels or a named index."""

    def __init__(self, transform: Callable[[Obj], Obj] | None = None) -> None:
        """``transform`` (e.g. :func:`compact`) is applied to what :meth:`remember` stores; the informer
        applies the same to what it lists and watches before calling :meth:`upsert` and :meth:`replace`."""
        self.transform = transform
        self._items: dict[str, Obj] = {}
        self._by_ns: dict[str, dict[str, Obj]] = {}
        self._index_funcs: dict[str, IndexFunc] = {}
        self._indexes: dict[str, dict[str, set[str]]] = {}
        self._index_values: dict[str, dict[str, tuple[str, ...]]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, namespace: str, name: str) -> Obj | None:
        """The object ``namespace/name`` (namespace ``""`` for cluster-scoped), or ``None``."""
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def get_by_key(self, key: str) -> Obj | None:
        """The object with :func:`object_key` ``key``, or ``None``."""
        return self._items.get(key)

    def keys(self) -> builtins.list[str]:
        """All keys."""
        return list(self._items)

    def list(self, namespace: str | None = None, label_selector: LabelSelector | None = None) -> builtins.list[Obj]:
        """Objects in ``namespace`` (all if ``None``) whose labels match ``label_selector``."""
        if namespace is None:
            source: Iterable[Obj] = self._items.values()
        else:
            source = self._by_ns.get(namespace, {}).values()
        if label_selector is None:
            return list(source)
        match = compile_selector(label_selector)
        return [o for o in source if match(labels_of(o))]

    def add_index(self, name: str, fn: IndexFunc) -> None:
        """Maintain index ``name``: ``fn(obj)`` gives the values under which ``obj`` is found by :meth:`by_index`."""
        if name in self._index_funcs:
            raise ValueError(f"index {name!r} already exists")
        self._index_funcs[name] = fn
        self._indexes[name] = {}
        self._index_values[name] = {}
        for key, obj in self._items.items():
            self._index_add(name, key, obj)

    def by_index(self, name: str, value: str) -> builtins.list[Obj]:
        """Objects whose index ``name`` contains ``value``."""
        try:
            keys = self._indexes[name].get(value, ())
        except KeyError:
            raise KeyError(f"no index named {name!r}") from None
        return [self._items[k] for k in keys]

    # ---- mutation, used by the informer only

    def upsert(self, obj: Obj) -> Obj | None:
        """Store ``obj``; return the object it replaced."""
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key)
        self._items[key] = obj
        self._by_ns.setdefault(_ns_of(obj), {})[key] = obj
        for name in self._index_funcs:
            self._index_add(name, key, obj)
        return old

    def remember(self, written: Obj) -> bool:
        """Store an object the caller just wrote, unless the cache already holds a newer version.

        Controllers put their own writes into the cache so that a quick second
        reconcile sees them before the watch delivers them; but blindly storing
        the write's answer could replace a newer version (another writer's
        update that raced ahead on the watch) with an older one, and nothing
        would correct it until the object changes again. resourceVersions are
        opaque in Kubernetes, so they are only compared when both are integers
        (etcd's and the embedded server's are); otherwise the watch decides.
        Returns whether it was stored.
        """
        meta = written.get("metadata") or {}
        cached = self.get(str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        new_rv = str(meta.get("resourceVersion") or "")
        old_rv = str(((cached or {}).get("metadata") or {}).get("resourceVersion") or "")
        if cached is None or (new_rv.isdigit() and old_rv.isdigit() and int(new_rv) > int(old_rv)):
            self.upsert(self.transform(written) if self.transform is not None else written)
            return True
        return False

    def delete(self, obj: Obj) -> Obj | None:
        """Remove the object with ``obj``'s key; return what was stored."""
        key = object_key(obj)
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key)
            ns_items = self._by_ns.get(_ns_of(old))
            if ns_items is not None:
                ns_items.pop(key, None)
                if not ns_items:
                    del self._by_ns[_ns_of(old)]
        return old

    def replace(self, objs: Iterable[Obj]) -> builtins.list[tuple[Obj | None, Obj | None]]:
        """Make the cache hold exactly ``objs``; return the ``(old, new)`` pairs that changed.

        Objects whose resourceVersion did not change are not reported, so a
        re-list after a watch gap only wakes controllers for real changes.
        """
        changes: builtins.list[tuple[Obj | None, Obj | None]] = []
        seen: set[str] = set()
        for obj in objs:
            key = object_key(obj)
            seen.add(key)
            old = self._items.get(key)
            if old is not None and _rv(old) == _rv(obj):
                continue
            self.upsert(obj)
            changes.append((old, obj))
        for key in [k for k in self._items if k not in seen]:
            gone = self.delete(self._items[key])
            changes.append((gone, None))
        return changes

    def _index_add(self, name: str, key: str, obj: Obj) -> None:
        values = tuple(self._index_funcs[name](obj))
        self._index_values[name][key] = values
        index = self._indexes[name]
        for v in values:
            index.setdefault(v, set()).add(key)

    def _unindex(self, key: str) -> None:
        for name, index in self._indexes.items():
            for v in self._index_values[name].pop(key, ()):
                keys = index.get(v)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[v]


def _rv(obj: Mapping[str, Any]) -> Any:
    return (obj.get("metadata") or {}).get("resourceVersion")
