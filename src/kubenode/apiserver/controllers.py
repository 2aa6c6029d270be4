"""Controllers the embedded control plane runs beside the API server.

On a real cluster these live in kube-controller-manager and the
apiextensions server: ownerReference garbage collection (background,
foreground and orphan deletion), namespace cleanup, CRD instance cleanup,
node lifecycle (Ready=Unknown when a node's Lease is not renewed) and the
`default` ServiceAccount of every namespace (`serviceaccounts.py`). They are
level-triggered: a change only marks work as due, and each pass recomputes
what to do from the whole current state, so a restart or a missed change is
harmless. Their writes go through `ObjectAPI`, like any client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

from kubenode.apimachinery.tasks import cancel_and_wait

from . import errors
from .objects import Obj, clone, now_rfc3339
from .rest import FOREGROUND, ORPHAN, ObjectAPI, WriteOptions, WriteResult
from .serviceaccounts import ServiceAccountController
from .storage import Change, PassLog, Store
from .strategies import CRD_CLEANUP_FINALIZER
from .tables import parse_timestamp

log = logging.getLogger("kubenode.apiserver.controllers")

NODE_LEASE_NAMESPACE = "kube-node-lease"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
SYSTEM = WriteOptions(field_manager="")


class ControlLoops:
    """Garbage collector, namespace and CRD cleanup, and the node lifecycle controller."""

    def __init__(self, api: ObjectAPI, store: Store, *, node_grace_seconds: float = 40.0,
                 node_check_interval: float = 2.0) -> None:
        self._gc_passes = PassLog(log, "garbage collection pass")
        self._node_passes = PassLog(log, "node lifecycle pass")
        self.api = api
        self.store = store
        self.node_grace = node_grace_seconds
        self.node_interval = node_check_interval
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        #: owner uid -> dependent keys
        self._dependents: dict[str, set[str]] = {}
        #: object key -> owner uids (to undo the index)
        self._owners_of: dict[str, tuple[str, ...]] = {}
        self._uids: dict[str, str] = {}  # uid -> key
        for res in store.resources():
            for key, obj in store.items(res):
                self._index(key, obj)
        store.add_listener(self._on_commit)
        self.serviceaccounts = ServiceAccountController(api, store)

    # ------------------------------------------------------------------ index
    def _index(self, key: str, obj: Obj | None) -> None:
        for uid in self._owners_of.pop(key, ()):
            deps = self._dependents.get(uid)
            if deps is not None:
                deps.discard(key)
                if not deps:
                    del self._dependents[uid]
        if obj is None:
            return
        uid = obj["metadata"].get("uid")
        if uid:
            self._uids[uid] = key
        refs = obj["metadata"].get("ownerReferences") or ()
        owners = tuple(r.get("uid", "") for r in refs if r.get("uid"))
        if owners:
            self._owners_of[key] = owners
            for o in owners:
                self._dependents.setdefault(o, set()).add(key)

    def _on_commit(self, changes: list[Change]) -> None:
        wake = False
        for c in changes:
            if c.type == "DELETED":
                uid = c.obj["metadata"].get("uid")
                if uid and self._uids.get(uid) == c.key:
                    del self._uids[uid]
                self._index(c.key, None)
                wake = wake or bool(uid and uid in self._dependents) or c.key.startswith(
                    "apiextensions.k8s.io/customresourcedefinitions/")
            else:
                self._index(c.key, c.obj)
                if c.obj["metadata"].get("deletionTimestamp"):
                    wake = True
        if wake:
            self._dirty.set()

    # ------------------------------------------------------------------ run
    def start(self) -> None:
        """Start the loops on the running event loop."""
        self._dirty.set()
        self._tasks = [
            asyncio.create_task(self._cleanup_loop(), name="kubenode-gc"),
            asyncio.create_task(self._node_loop(), name="kubenode-node-lifecycle"),
            asyncio.create_task(self.serviceaccounts.run(), name="kubenode-serviceaccounts"),
        ]

    async def stop(self) -> None:
        """Stop the loops and wait for them."""
        await cancel_and_wait(*self._tasks)
        self._tasks = []

    async def _cleanup_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                pending = self.cleanup_pass()
                for r in pending:
                    await r.wait()
                if pending:
                    # What we just wrote may unblock more (level-triggered: run until a pass is idle).
                    self._dirty.set()
                self._gc_passes.ok()
            except Exception as exc:  # keep the collector alive; the next change retries
                self._gc_passes.failed(exc)
                await asyncio.sleep(1)
                self._dirty.set()

    async def _node_loop(self) -> None:
        while True:
            try:
                for r in self.node_pass(time.time()):
                    await r.wait()
                self._node_passes.ok()
            except Exception as exc:
                self._node_passes.failed(exc)
            await asyncio.sleep(self.node_interval)

    # ------------------------------------------------------------------ passes
    def _info_for_key(self, key: str):  # type: ignore[no-untyped-def]
        group, plural, _ = key.split("/", 2)
        for info in self.api.registry.all():
            if info.group == group and info.plural == plural:
                return info
        return None

    def _delete_key(self, key: str, policy: str | None = None) -> WriteResult | None:
        obj = self.store.latest(key)
        info = self._info_for_key(key)
        if obj is None or info is None:
            return None
        m = obj["metadata"]
        try:
            return self.api.delete(info, m.get("namespace", ""), m["name"],
                                   {"propagationPolicy": policy} if policy else {})
        except errors.StatusError as exc:
            log.debug("delete %s: %s", key, exc.message)
            return None

    def _update_key(self, key: str, new: Obj) -> WriteResult | None:
        info = self._info_for_key(key)
        if info is None:
            return None
        m = new["metadata"]
        try:
            return self.api.update(info, m.get("namespace", ""), m["name"], new, SYSTEM)
        except errors.StatusError as exc:
            log.debug("update %s: %s", key, exc.message)
            return None

    def _remove_finalizer(self, key: str, finalizer: str) -> WriteResult | None:
        obj = self.store.latest(key)
        if obj is None or finalizer not in (obj["metadata"].get("finalizers") or []):
            return None
        new = clone(obj)
        new["metadata"]["finalizers"] = [f for f in new["metadata"]["finalizers"] if f != finalizer]
        return self._update_key(key, new)

    def cleanup_pass(self) -> list[WriteResult]:
        """One level-triggered pass of GC, namespace and CRD cleanup; returns the staged writes."""
        out: list[WriteResult | None] = []
        # Dependents of owners that no longer exist.
        for owner_uid in list(self._dependents):
            if owner_uid in self._uids:
                continue
            for dep_key in list(self._dependents.get(owner_uid, ())):
                dep = self.store.latest(dep_key)
                if dep is None or dep["metadata"].get("deletionTimestamp"):
                    continue
                refs = dep["metadata"].get("ownerReferences") or []
                alive = [r for r in refs if r.get("uid") in self._uids]
                if alive:
                    new = clone(dep)
                    new["metadata"]["ownerReferences"] = alive
                    out.append(self._update_key(dep_key, new))
                else:
                    out.append(self._delete_key(dep_key))
        # Owners being deleted in the foreground or with orphaning.
        for owner_uid in list(self._uids):
            key = self._uids[owner_uid]
            obj = self.store.latest(key)
            if obj is None or not obj["metadata"].get("deletionTimestamp"):
                continue
            fins = obj["metadata"].get("finalizers") or []
            deps = list(self._dependents.get(owner_uid, ()))
            if ORPHAN in fins:
                for dep_key in deps:
                    dep = self.store.latest(dep_key)
                    if dep is None:
                        continue
                    new = clone(dep)
                    new["metadata"]["ownerReferences"] = [
                        r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != owner_uid]
                    if not new["metadata"]["ownerReferences"]:
                        del new["metadata"]["ownerReferences"]
                    out.append(self._update_key(dep_key, new))
                if not deps:
                    out.append(self._remove_finalizer(key, ORPHAN))
            elif FOREGROUND in fins:
                blocking = False
                for dep_key in deps:
                    dep = self.store.latest(dep_key)
                    if dep is None:
                        continue
                    blocking = True
                    if not dep["metadata"].get("deletionTimestamp"):
                        out.append(self._delete_key(dep_key, "Foreground"))
                if not blocking:
                    out.append(self._remove_finalizer(key, FOREGROUND))
            if key.startswith("/namespaces/"):
                out.extend(self._namespace_cleanup(key, obj))
            elif key.startswith("apiextensions.k8s.io/customresourcedefinitions/"):
                out.extend(self._crd_cleanup(key, obj))
        return [r for r in out if r is not None]

    def _namespace_cleanup(self, key: str, ns: Obj) -> Iterable[WriteResult | None]:
        name = ns["metadata"]["name"]
        remaining = False
        for info in self.api.registry.all():
            if not info.namespaced:
                continue
            # one version per resource is enough: storage is shared
            for k, obj in self.store.items(f"{info.group}/{info.plural}", info.prefix(name)):
                remaining = True
                if not obj["metadata"].get("deletionTimestamp"):
                    yield self._delete_key(k)
        if remaining:
            return
        spec_fins = (ns.get("spec") or {}).get("finalizers") or []
        if "kubernetes" in spec_fins:
            new = clone(ns)
            new["spec"]["finalizers"] = [f for f in spec_fins if f != "kubernetes"]
            ns = new
        if not ns["metadata"].get("finalizers"):
            if self.store.latest(key) is None:  # its delete is staged already
                return
            _, durable = self.store.stage(key, None)
            yield WriteResult(ns, 200, durable)
        elif ns is not self.store.latest(key):
            yield self._update_key(key, ns)

    def _crd_cleanup(self, key: str, crd: Obj) -> Iterable[WriteResult | None]:
        spec = crd.get("spec") or {}
        resource = f"{spec.get('group', '')}/{(spec.get('names') or {}).get('plural', '')}"
        remaining = False
        for k, obj in self.store.items(resource):
            remaining = True
            if not obj["metadata"].get("deletionTimestamp"):
                yield self._delete_key(k)
        if not remaining:
            yield self._remove_finalizer(key, CRD_CLEANUP_FINALIZER)

    def node_pass(self, now: float) -> list[WriteResult]:
        """Mark nodes whose Lease went stale Ready=Unknown and taint them unreachable."""
        out: list[WriteResult | None] = []
        for key, node in self.store.items("/nodes"):
            name = node["metadata"]["name"]
            lease = self.store.latest(f"coordination.k8s.io/leases/{NODE_LEASE_NAMESPACE}/{name}")
            renew = None
            if lease is not None:
                raw = (lease.get("spec") or {}).get("renewTime")
                if raw:
                    with contextlib.suppress(ValueError):
                        renew = parse_timestamp(raw)
            conds = (node.get("status") or {}).get("conditions") or []
            ready = next((c for c in conds if c.get("type") == "Ready"), None)
            if renew is None:
                hb = (ready or {}).get("lastHeartbeatTime") or node["metadata"].get("creationTimestamp")
                try:
                    renew = parse_timestamp(hb) if hb else now
                except ValueError:
                    renew = now
            stale = now - renew > self.node_grace
            if stale and (ready is None or ready.get("status") != "Unknown"):
                out.append(self._mark_unknown(key, node))
            elif not stale and ready is not None and ready.get("status") == "True":
                out.append(self._untaint(key, node))
        return [r for r in out if r is not None]

    def _mark_unknown(self, key: str, node: Obj) -> WriteResult | None:
        new = clone(node)
        stamp = now_rfc3339()
        status = new.setdefault("status", {})
        conds = status.setdefault("conditions", [])
        if not any(c.get("type") == "Ready" for c in conds):
            conds.append({"type": "Ready"})
        for c in conds:
            if c.get("status") != "Unknown":
                c["status"] = "Unknown"
                c["lastTransitionTime"] = stamp
            c["reason"] = "NodeStatusUnknown"
            c["message"] = "Kubelet stopped posting node status."
        info = self._info_for_key(key)
        if info is None:
            return None
        try:
            res = self.api.update(info, "", node["metadata"]["name"], new, SYSTEM, subresource="status")
        except errors.StatusError:
            return None
        self._taint(key)
        return res

    def _taint(self, key: str) -> WriteResult | None:
        node = self.store.latest(key)
        if node is None:
            return None
        taints = (node.get("spec") or {}).get("taints") or []
        if any(t.get("key") == UNREACHABLE_TAINT for t in taints):
            return None
        new = clone(node)
        new.setdefault("spec", {}).setdefault("taints", []).append(
            {"key": UNREACHABLE_TAINT, "effect": "NoSchedule", "timeAdded": now_rfc3339()})
        return self._update_key(key, new)

    def _untaint(self, key: str, node: Obj) -> WriteResult | None:
        taints = (node.get("spec") or {}).get("taints") or []
        if not any(t.get("key") == UNREACHABLE_TAINT for t in taints):
            return None
        new = clone(node)
        new["spec"]["taints"] = [t for t in taints if t.get("key") != UNREACHABLE_TAINT]
        if not new["spec"]["taints"]:
            del new["spec"]["taints"]
        return self._update_key(key, new)
