"""Object semantics of the REST API, independent of HTTP.

Every verb is split into a synchronous part that reads the in-memory state,
checks preconditions, builds the new object and *stages* it in the store
(atomic, because nothing awaits in between), and an awaitable that completes
once the write is durable. The HTTP layer awaits it before answering; the
server's own controllers (garbage collector, namespace and node lifecycle)
go through exactly the same code, so they produce the same events.
"""

from __future__ import annotations

import base64
import bisect
import collections
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import defaults, errors
from .admission_policy import INTERNAL_USER, AdmissionRequest, PolicyAdmission
from .apply import server_side_apply, track_update
from .crd_validation import rule_causes
from .errors import Cause, StatusError, field_cause
from .limits import data_size_causes
from .metadata import generate_name, validate_metadata_update, validate_object_meta
from .objects import Obj, clone, get_path, new_uid, now_rfc3339, set_path
from .patch import json_patch, merge_patch, strategic_merge_patch
from .registry import Registry
from .resources import ResourceInfo
from .security import User
from .selectors import FieldSelector, LabelSelector, label_selector_from_dict
from .storage import EncodeError, ObjectTooLarge, Store, encode
from .strategies import PREPARE, STATUS_LIKE, VALIDATE, VALIDATE_UPDATE
from .wire import load_json, load_yaml
from .workload_strategies import ServiceAllocator

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"

_DONE: Awaitable[None] | None = None

# Finalizers the server itself understands.
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"


@dataclass
class WriteResult:
    """The outcome of a write: the object to return, its HTTP code, and durability."""

    obj: Obj
    code: int = 200
    durable: Awaitable[None] | None = None
    warnings: list[str] = field(default_factory=list)

    async def wait(self) -> None:
        """Wait until the write is durable (no-op for dry runs)."""
        if self.durable is not None:
            await self.durable


@dataclass
class WriteOptions:
    """Query options shared by create, update and patch."""

    dry_run: bool = False
    field_validation: str = "Warn"  # Strict | Warn | Ignore
    field_manager: str = ""
    force: bool = False
    #: Who writes (checks and admission policies, as request.userInfo); None: the server's own control loops.
    user: User | None = None


#: A check of a write after validation (the new object, the old one or None, the options): raises a
#: StatusError to refuse it. RBAC's escalation prevention is one.
WriteCheck = Callable[[ResourceInfo, Obj, "Obj | None", WriteOptions], None]


#: Resources whose names kube checks only as path segments (besides RBAC's).
_ANY_NAME = frozenset({"certificates.k8s.io/certificatesigningrequests", "/events"})


def _resource_id(info: ResourceInfo) -> str:
    return f"{info.group}/{info.plural}"


class ObjectAPI:
    """Create, read, update, patch and delete objects of any served resource."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self.snapshots = ListSnapshots()
        #: Run, in order, on every validated create and update (see WriteCheck).
        self.write_checks: list[WriteCheck] = []
        self.services = ServiceAllocator(store)
        self.policies = PolicyAdmission(store, registry)

    # ------------------------------------------------------------------ reads
    def get(self, info: ResourceInfo, namespace: str, name: str) -> Obj:
        """The stored object, converted to `info`'s version; 404 when missing."""
        obj = self.store.get(info.key(namespace, name))
        if obj is None:
            raise errors.not_found(info.plural, info.group, name)
        return self.as_version(info, obj)

    def as_version(self, info: ResourceInfo, obj: Obj) -> Obj:
        """`obj` as served by `info` (CRD versions share storage: conversion strategy None)."""
        if obj.get("apiVersion") == info.api_version:
            return obj
        out = dict(obj)
        out["apiVersion"] = info.api_version
        return out

    def list_objects(
        self,
        info: ResourceInfo,
        namespace: str | None,
        *,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
        limit: int = 0,
        continue_token: str = "",
    ) -> tuple[list[Obj], str, str, int | None]:
        """Matching objects sorted by key, the list resourceVersion, the continue token, remaining count.

        A paged list is consistent, as kube's (etcd serves every page at the first page's revision): the
        first page keeps the sorted (key, object) pairs it saw — references, as stored objects are replaced,
        never edited — and later pages read that snapshot. A snapshot lives `SNAPSHOT_TTL` seconds and at
        most `MAX_SNAPSHOTS` are kept; a token whose snapshot is gone (expired, or a restarted server) is 410
        Expired with a token that continues from the current state, as kube answers after compaction.
        """
        rv = str(self.store.rv)
        start_after, snapshot_id = "", ""
        pairs: list[tuple[str, Obj]] | None = None
        prefix = info.prefix(namespace)
        resource = _resource_id(info)
        scope = f"{resource}|{prefix}"
        if continue_token:
            start_after, rv, snapshot_id = _decode_continue(continue_token)
            if snapshot_id:
                pairs = self.snapshots.get(snapshot_id, scope)
                if pairs is None:
                    raise errors.StatusError(
                        410, "Expired", "The provided continue parameter is too old to display a consistent list "
                        "result. You can start a new list without the continue parameter, or use the continue "
                        "token in this response to retrieve the remainder of the results. Continuing with the "
                        "provided token results in an inconsistent list - objects that were created, modified, or "
                        "deleted between the time the first chunk was returned and now may show up in the list.",
                        list_continue=_encode_continue(start_after, str(self.store.rv), ""))
                self.snapshots.move_to_end(snapshot_id)
        name = field_selector.exact("metadata.name") if field_selector else None
        if pairs is None and name is not None and (namespace is not None or not info.namespaced):
            one = self.store.get(info.key(namespace or "", name))
            pairs = [(info.key(namespace or "", name), one)] if one is not None else []
        elif pairs is None:
            pairs = sorted(self.store.items(resource, prefix), key=lambda kv: kv[0])
        items: list[Obj] = []
        last_key = ""
        remaining: int | None = None
        first = bisect.bisect_right(pairs, start_after, key=lambda kv: kv[0]) if start_after else 0
        for i in range(first, len(pairs)):
            key, obj = pairs[i]
            if label_selector is not None and not label_selector.empty and not label_selector.matches(
                obj["metadata"].get("labels")
            ):
                continue
            if field_selector is not None and not field_selector.matches(obj):
                continue
            if limit and len(items) >= limit:
                # kube reports remainingItemCount only when no selector filters the list
                if (label_selector is None or label_selector.empty) and field_selector is None:
                    remaining = len(pairs) - i
                break
            items.append(self.as_version(info, obj))
            last_key = key
        else:
            last_key = ""
        token = ""
        if last_key and limit and len(items) >= limit:
            if not snapshot_id and not continue_token:
                snapshot_id = self.snapshots.add(scope, pairs)
            token = _encode_continue(last_key, rv, snapshot_id)
        return items, rv, token, remaining

    # ------------------------------------------------------------------ create
    def create(self, info: ResourceInfo, namespace: str, body: Any, opts: WriteOptions,
               *, subresource: str = "") -> WriteResult:
        """POST a new object."""
        obj = self._check_body(info, body, namespace)
        m = obj["metadata"]
        _drop_empty_collections(m)
        if not m.get("name") and m.get("generateName"):
            m["name"] = generate_name(str(m["generateName"]))
        name = m.get("name") or ""
        if not name:
            raise errors.invalid(info.kind, info.group, "", [
                field_cause("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")
            ])
        if info.namespaced:
            self._check_namespace_active(namespace)
        key = info.key(namespace if info.namespaced else "", name)
        if self.store.latest(key) is not None:
            raise errors.already_exists(info.plural, info.group, name)
        for k in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "generation", "selfLink"):
            m.pop(k, None)
        m["uid"] = new_uid()
        m["creationTimestamp"] = now_rfc3339()
        if info.track_generation:
            m["generation"] = 1
        if info.status_subresource and not info.builtin:
            obj.pop("status", None)  # status is written only through /status
        warnings = self._admit(info, obj, None, opts, "CREATE", subresource)
        if opts.field_manager:
            track_update(None, obj, manager=opts.field_manager, api_version=info.api_version, schema=info.schema,
                         hints=info.smp_hints, now=now_rfc3339())
        return self._stage(info, key, obj, 201, opts, warnings)

    # ------------------------------------------------------------------ update
    def update(self, info: ResourceInfo, namespace: str, name: str, body: Any, opts: WriteOptions,
               *, subresource: str = "") -> WriteResult:
        """PUT a whole object (or its status)."""
        new = self._check_body(info, body, namespace)
        key = info.key(namespace if info.namespaced else "", name)
        old = self.store.latest(key)
        if new["metadata"].get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({new['metadata'].get('name')}) does not match the name on the URL "
                f"({name})")
        new["metadata"]["name"] = name
        if old is None:
            raise errors.not_found(info.plural, info.group, name)
        want_rv = new["metadata"].get("resourceVersion")
        if want_rv and want_rv != old["metadata"].get("resourceVersion"):
            raise errors.conflict(info.plural, info.group, name)
        return self._update(info, key, old, new, opts, subresource)

    def _update(self, info: ResourceInfo, key: str, old: Obj, new: Obj, opts: WriteOptions,
                subresource: str, *, manager_op: str = "Update") -> WriteResult:
        status_like = STATUS_LIKE.get((_resource_id(info), subresource))
        if subresource == "status" or status_like is not None:
            status = new.get("status")
            managed = new["metadata"].get("managedFields")
            # Everything but the status is the stored object's; its status is replaced, so it is not copied (a
            # Node's status is most of it). `status` is the request's own (every path hands in a fresh copy).
            if managed is None:
                new = clone({k: v for k, v in old.items() if k != "status"})
            else:  # the stored managedFields are replaced below: do not copy them first
                new = clone({k: (v if k != "metadata" else {mk: mv for mk, mv in v.items() if mk != "managedFields"})
                             for k, v in old.items() if k != "status"})
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
            if managed is not None:
                new["metadata"]["managedFields"] = managed
            if status_like is not None:
                status_like(new, old)
        else:
            if info.status_subresource:
                if "status" in old:
                    new["status"] = clone(old["status"])
                else:
                    new.pop("status", None)
        nm, om = new["metadata"], old["metadata"]
        uid = nm.get("uid")
        if uid and uid != om.get("uid"):
            # As kube: a uid in the body is a precondition (the object may have been deleted and re-created).
            raise errors.conflict(info.plural, info.group, om.get("name", ""),
                                  f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                                  f"{om.get('uid', '')}")
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            # Omitted (or null) system fields keep their value, as kube's BeforeUpdate; a different value is
            # refused by validate_metadata_update below.
            if nm.get(k) in (None, "") or k == "deletionGracePeriodSeconds":
                if k in om:
                    nm[k] = om[k]
                else:
                    nm.pop(k, None)
        if not info.namespaced:
            nm.pop("namespace", None)
        elif not nm.get("namespace"):
            nm["namespace"] = om.get("namespace", "")
        nm["resourceVersion"] = om.get("resourceVersion")
        _drop_empty_collections(nm)
        causes = validate_metadata_update(om, nm)
        if causes:
            raise errors.invalid(info.kind, info.group, nm.get("name", ""), causes)
        if om.get("deletionTimestamp"):
            added = set(nm.get("finalizers") or []) - set(om.get("finalizers") or [])
            if added:
                raise errors.invalid(info.kind, info.group, nm.get("name", ""), [field_cause(
                    "FieldValueForbidden", "metadata.finalizers",
                    f"Forbidden: no new finalizers can be added if the object is being deleted, found new "
                    f"finalizers {sorted(added)}")])
        warnings = self._admit(info, new, old, opts, "UPDATE", subresource)
        if info.track_generation:
            gen = om.get("generation", 1)
            if _spec_changed(old, new):
                gen += 1
            nm["generation"] = gen
        if manager_op == "Update" and opts.field_manager:
            track_update(old, new, manager=opts.field_manager, api_version=info.api_version,
                         subresource=subresource, schema=info.schema, hints=info.smp_hints, now=now_rfc3339())
        if _equal_ignoring_rv(old, new):
            # A no-op write does not bump the resourceVersion, as in kube.
            return WriteResult(self.as_version(info, old), 200, None, warnings)
        if om.get("deletionTimestamp") and not nm.get("finalizers"):
            # Like kube, an update that removes the last finalizer answers with the object, not a Status.
            deleted = self._stage_delete(info, key, new, opts)
            return WriteResult(self.as_version(info, new), 200, deleted.durable, warnings)
        return self._stage(info, key, new, 200, opts, warnings)

    # ------------------------------------------------------------------ patch
    def patch(self, info: ResourceInfo, namespace: str, name: str, content_type: str, raw: bytes,
              opts: WriteOptions, *, subresource: str = "") -> WriteResult:
        """PATCH with merge, JSON, strategic-merge (built-ins only) or apply semantics."""
        key = info.key(namespace if info.namespaced else "", name)
        old = self.store.latest(key)
        ctype = content_type.split(";")[0].strip().lower()
        if ctype in (APPLY_PATCH,):
            return self._apply(info, namespace, name, key, old, raw, opts, subresource)
        accepted = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
        if info.builtin:
            accepted.append(STRATEGIC_PATCH)
        if ctype not in accepted:
            raise errors.unsupported_media_type(ctype, accepted)
        if old is None:
            raise errors.not_found(info.plural, info.group, name)
        doc = _parse_json(raw)
        base = self.as_version(info, old)
        if ctype == MERGE_PATCH:
            if not isinstance(doc, dict):
                raise errors.bad_request("the body of a merge patch must be a JSON object")
            new = merge_patch(base, doc)
        elif ctype == JSON_PATCH:
            new = json_patch(base, doc)
        else:
            if not isinstance(doc, dict):
                raise errors.bad_request("the body of a strategic merge patch must be a JSON object")
            new = strategic_merge_patch(base, doc, info.smp_hints)
        if not isinstance(new, dict):
            raise errors.bad_request("the patch produced something that is not an object")
        if ctype == JSON_PATCH:
            # merge_patch and strategic_merge_patch build their result from a copy of the object and the freshly
            # parsed patch, each part placed once; a JSON patch `copy` may place one value twice, which later
            # in-place edits must not see twice.
            new = clone(new)
        if not isinstance(new.get("metadata"), dict):
            new["metadata"] = {}
        want_rv = new["metadata"].get("resourceVersion")
        if want_rv and want_rv != old["metadata"].get("resourceVersion"):
            raise errors.conflict(info.plural, info.group, name)
        self._check_identity(info, new)
        return self._update(info, key, old, new, opts, subresource)

    def _apply(self, info: ResourceInfo, namespace: str, name: str, key: str, old: Obj | None, raw: bytes,
               opts: WriteOptions, subresource: str) -> WriteResult:
        if not opts.field_manager:
            raise errors.bad_request("PATCH with apply requires the fieldManager query parameter")
        applied = _parse_yaml_or_json(raw)
        if not isinstance(applied, dict):
            raise errors.bad_request("the body of an apply patch must be an object")
        self._check_identity(info, applied)
        am = applied.get("metadata")
        if not isinstance(am, dict) or am.get("name", name) != name:
            raise errors.bad_request("metadata.name in the applied configuration must match the URL")
        if info.status_subresource:
            # The endpoint resets what it does not own, so the manager must not claim it either.
            if subresource == "status":
                applied = {k: v for k, v in applied.items() if k in ("apiVersion", "kind", "metadata", "status")}
            else:
                applied = {k: v for k, v in applied.items() if k != "status"}
        base = self.as_version(info, old) if old is not None else None
        merged = server_side_apply(base, applied, manager=opts.field_manager, force=opts.force,
                                   api_version=info.api_version, schema=info.schema, hints=info.smp_hints,
                                   now=now_rfc3339())
        merged = clone(merged)
        merged.setdefault("metadata", {})["name"] = name
        if old is None:
            if info.namespaced:
                merged["metadata"]["namespace"] = namespace
            res = self.create(info, namespace, merged, WriteOptions(
                dry_run=opts.dry_run, field_validation=opts.field_validation, user=opts.user))
            return res
        return self._update(info, key, old, merged, opts, subresource, manager_op="Apply")

    # ------------------------------------------------------------------ delete
    def delete(self, info: ResourceInfo, namespace: str, name: str, options: Mapping[str, Any],
               *, dry_run: bool = False, user: User | None = None) -> WriteResult:
        """DELETE with propagationPolicy, preconditions and finalizers."""
        key = info.key(namespace if info.namespaced else "", name)
        old = self.store.latest(key)
        if old is None:
            raise errors.not_found(info.plural, info.group, name)
        pre = options.get("preconditions") or {}
        om = old["metadata"]
        if pre.get("uid") and pre["uid"] != om.get("uid"):
            raise errors.conflict(info.plural, info.group, name,
                                  f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: "
                                  f"{om.get('uid')}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != om.get("resourceVersion"):
            raise errors.conflict(info.plural, info.group, name,
                                  f"Precondition failed: ResourceVersion in precondition: "
                                  f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                                  f"{om.get('resourceVersion')}")
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options.get("orphanDependents") else "Background"
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise errors.invalid("DeleteOptions", "", "", [field_cause(
                "FieldValueNotSupported", "propagationPolicy",
                f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan", "nil"')])
        opts = WriteOptions(dry_run=dry_run, user=user)
        warnings = self._admit_policies(info, None, old, opts, "DELETE", "")
        finalizers = list(om.get("finalizers") or [])
        extra = {"Foreground": FOREGROUND, "Orphan": ORPHAN}.get(policy or "")
        if info.plural == "namespaces" and not info.group:
            return _warned(self._delete_namespace(info, key, old, opts), warnings)
        if extra and extra not in finalizers:
            finalizers.append(extra)
        if not finalizers:
            return _warned(self._stage_delete(info, key, old, opts), warnings)
        # Still present (finalizers): 200 with the object, as kube answers; 202 only when the client asked for
        # cascading deletion the old way (orphanDependents=false), a compatibility rule of kube's DELETE handler.
        code = 202 if options.get("orphanDependents") is False else 200
        if om.get("deletionTimestamp") and finalizers == list(om.get("finalizers") or []):
            return WriteResult(self.as_version(info, old), code, None, warnings)
        new = clone(old)
        nm = new["metadata"]
        if not nm.get("deletionTimestamp"):
            nm["deletionTimestamp"] = now_rfc3339()
            nm["deletionGracePeriodSeconds"] = 0
        nm["finalizers"] = finalizers
        return self._stage(info, key, new, code, opts, warnings)

    def _delete_namespace(self, info: ResourceInfo, key: str, old: Obj, opts: WriteOptions) -> WriteResult:
        if old["metadata"].get("deletionTimestamp"):
            return WriteResult(self.as_version(info, old), 200)
        new = clone(old)
        new["metadata"]["deletionTimestamp"] = now_rfc3339()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        new.setdefault("status", {})["phase"] = "Terminating"
        return self._stage(info, key, new, 200, opts, [])

    def _stage_delete(self, info: ResourceInfo, key: str, last: Obj, opts: WriteOptions) -> WriteResult:
        if info.return_deleted_object:
            # The last state, with the deletion's resourceVersion (as in its DELETED watch event).
            if opts.dry_run:
                return WriteResult(self.as_version(info, last), 200)
            gone, durable = self.store.stage(key, None)
            return WriteResult(self.as_version(info, gone), 200, durable)
        name = last["metadata"].get("name", "")
        status = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": name, "group": info.group, "kind": info.plural,
                        "uid": last["metadata"].get("uid", "")},
        }
        if opts.dry_run:
            return WriteResult(status, 200)
        _, durable = self.store.stage(key, None)
        return WriteResult(status, 200, durable)

    # ------------------------------------------------------------------ helpers
    def _check_body(self, info: ResourceInfo, body: Any, namespace: str) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON or YAML object")
        obj = body
        self._check_identity(info, obj)
        obj["apiVersion"] = info.api_version
        obj["kind"] = info.kind
        m = obj.get("metadata")
        if m is None:
            m = obj["metadata"] = {}
        if not isinstance(m, dict):
            raise errors.bad_request("metadata must be an object")
        if info.namespaced:
            ns = m.get("namespace")
            if ns and ns != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request")
            m["namespace"] = namespace
        else:
            m.pop("namespace", None)
        return obj

    def _check_identity(self, info: ResourceInfo, obj: Obj) -> None:
        kind = obj.get("kind")
        api_version = obj.get("apiVersion")
        for field_name, value in (("kind", kind), ("apiVersion", api_version)):
            if value is not None and not isinstance(value, str):
                raise errors.bad_request(f"{field_name} must be a string", [field_cause(
                    "FieldValueInvalid", field_name, "Invalid value: must be a string")])
        if kind and kind != info.kind:
            raise errors.bad_request(f"the kind of the object ({kind}) does not match the resource ({info.kind})")
        if api_version:
            group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
            if group != info.group or not self.registry.lookup(group, api_version.rsplit("/", 1)[-1],
                                                                info.plural):
                raise errors.bad_request(
                    f"the API version in the data ({api_version}) does not match the expected API version "
                    f"({info.api_version})")

    def _check_namespace_active(self, namespace: str) -> None:
        ns = self.store.latest(f"/namespaces//{namespace}")
        if ns is None:
            raise errors.not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.StatusError(
                403, "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being terminated",
                name=namespace, kind="namespaces")

    def _admit(self, info: ResourceInfo, obj: Obj, old: Obj | None, opts: WriteOptions, operation: str,
               subresource: str) -> list[str]:
        """Prune, default and validate `obj` in place, then ValidatingAdmissionPolicies; returns warnings."""
        warnings: list[str] = []
        rid = _resource_id(info)
        defaults.apply(rid, obj, old)
        prepare = PREPARE.get(rid)
        if prepare is not None:
            prepare(obj, old)
        m = obj["metadata"]
        name = m.get("name", "")
        causes: list[Cause] = validate_object_meta(
            m, namespaced=info.namespaced,
            name_rule="dns-label" if info.plural == "namespaces" and not info.group
            # kube: RBAC names are path segments; "We don't care what you call your certificate requests"
            # (kubelets name theirs node-csr-<base64url digest>, upper case and underscores included), and v1
            # Events get only legacy validation (client-go names them <object name>.<hex time>).
            else "path-segment" if info.group == "rbac.authorization.k8s.io" or rid in _ANY_NAME else "dns-subdomain",
        )
        schema = self.registry.schema(info)
        if schema is not None:
            unknown = schema.prune(obj)
            if unknown and opts.field_validation == "Strict":
                msgs = [f'unknown field "{f}"' for f in unknown]
                raise errors.StatusError(
                    400, "BadRequest",
                    f"{info.kind} in version \"{info.version}\" cannot be handled as a {info.kind}: "
                    f"strict decoding error: {', '.join(msgs)}",
                    name=name, group=info.group, kind=info.kind,
                    causes=[field_cause("FieldValueInvalid", f, f'unknown field "{f}"') for f in unknown],
                )
            if unknown and opts.field_validation == "Warn":
                warnings.extend(f'unknown field "{f}"' for f in unknown)
            schema.apply_defaults(obj)
            causes.extend(schema.validate(obj))
            if not causes:
                causes.extend(rule_causes(schema.schema, obj, old))
        validate = VALIDATE.get(rid)
        if validate is not None:
            causes.extend(validate(obj))
        validate_update = VALIDATE_UPDATE.get(rid)
        if validate_update is not None and old is not None:
            causes.extend(validate_update(obj, old))
        causes.extend(data_size_causes(info.group, info.plural, obj))
        if not causes and rid == "/services":
            # Like kube's Service REST storage: cluster IP and node ports are allocated once the object is valid.
            causes.extend(self.services.allocate(info.key(m.get("namespace", ""), name), obj))
        if causes:
            raise errors.invalid(info.kind, info.group, name, causes)
        for check in self.write_checks:
            check(info, obj, old, opts)
        warnings.extend(self._admit_policies(info, obj, old, opts, operation, subresource))
        return warnings

    def _admit_policies(self, info: ResourceInfo, obj: Obj | None, old: Obj | None, opts: WriteOptions,
                        operation: str, subresource: str) -> list[str]:
        if not self.policies.active():
            return []
        meta = (obj if obj is not None else old or {}).get("metadata") or {}
        return self.policies.admit(AdmissionRequest(
            info=info, operation=operation, name=str(meta.get("name") or ""),
            namespace=str(meta.get("namespace") or ""), subresource=subresource, obj=obj, old=old,
            user=opts.user or INTERNAL_USER, dry_run=opts.dry_run))

    def _stage(self, info: ResourceInfo, key: str, obj: Obj, code: int, opts: WriteOptions,
               warnings: list[str]) -> WriteResult:
        try:
            if opts.dry_run:
                encode(obj)  # a dry run answers what the real write would
                return WriteResult(obj, code, None, warnings)
            stored, durable = self.store.stage(key, obj)
        except ObjectTooLarge as exc:
            raise errors.StatusError(413, "RequestEntityTooLarge", f"Request entity too large: {exc}",
                                     name=obj["metadata"].get("name", ""), group=info.group,
                                     kind=info.plural) from None
        except EncodeError as exc:
            raise errors.bad_request(f"{info.kind} cannot be stored: {exc}") from None
        return WriteResult(stored, code, durable, warnings)


def _warned(res: WriteResult, warnings: list[str]) -> WriteResult:
    res.warnings.extend(warnings)
    return res


def _drop_empty_collections(meta: Obj) -> None:
    """Empty labels/annotations/finalizers/ownerReferences are absent, as with ObjectMeta's `omitempty`."""
    for k in ("labels", "annotations", "finalizers", "ownerReferences"):
        if k in meta and meta[k] in ({}, [], None):
            del meta[k]


def _spec_changed(old: Obj, new: Obj) -> bool:
    keys = (set(old) | set(new)) - {"metadata", "status", "apiVersion", "kind"}
    return any(old.get(k) != new.get(k) for k in keys)


def _equal_ignoring_rv(old: Obj, new: Obj) -> bool:
    if old.keys() != new.keys():
        return False
    for k, v in new.items():
        if k == "metadata":
            om = old["metadata"]
            nm = v
            if {a for a in om if a != "managedFields"} != {a for a in nm if a != "managedFields"}:
                return False
            if any(om.get(a) != nm.get(a) for a in nm if a not in ("managedFields", "resourceVersion")):
                return False
        elif old[k] != v:
            return False
    return True


def _encode_continue(last_key: str, rv: str, snapshot: str) -> str:
    data: Obj = {"v": "kubenode/1", "k": last_key, "rv": rv}
    if snapshot:
        data["s"] = snapshot
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode()


def _decode_continue(token: str) -> tuple[str, str, str]:
    """(last key, resourceVersion, snapshot id or "" for a continuation from the current state)."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
        return str(data["k"]), str(data["rv"]), str(data.get("s") or "")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise errors.bad_request(f"continue key is not valid: {exc}") from None


#: How long the first page of a paged list keeps its snapshot for the next pages (kube: until compaction,
#: every 5 minutes by default), and how many snapshots at most (the least recently read goes first).
SNAPSHOT_TTL = 300.0
MAX_SNAPSHOTS = 64


class ListSnapshots:
    """The sorted (key, object) pairs of paged lists in progress, by id."""

    def __init__(self, ttl: float = SNAPSHOT_TTL, most: int = MAX_SNAPSHOTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.most, self.clock = ttl, most, clock
        #: id → (created, scope, pairs); the scope names the list (resource and key prefix) it belongs to
        self._items: collections.OrderedDict[str, tuple[float, str, list[tuple[str, Obj]]]] = (
            collections.OrderedDict())

    def __len__(self) -> int:
        return len(self._items)

    def add(self, scope: str, pairs: list[tuple[str, Obj]]) -> str:
        """Keep `pairs` of the list `scope`; returns the snapshot's id."""
        self._expire()
        while len(self._items) >= self.most:
            self._items.popitem(last=False)
        snapshot_id = secrets.token_hex(8)
        self._items[snapshot_id] = (self.clock(), scope, pairs)
        return snapshot_id

    def get(self, snapshot_id: str, scope: str) -> list[tuple[str, Obj]] | None:
        """The pairs of a live snapshot of the list `scope`, or None (expired, never existed, another list's:
        a token is only good for the list that issued it)."""
        self._expire()
        entry = self._items.get(snapshot_id)
        return entry[2] if entry is not None and entry[1] == scope else None

    def move_to_end(self, snapshot_id: str) -> None:
        """Mark a snapshot as just read (eviction order; its expiry still counts from its creation)."""
        if snapshot_id in self._items:
            self._items.move_to_end(snapshot_id)

    def _expire(self) -> None:
        now = self.clock()
        for sid in [sid for sid, (made, _, _) in self._items.items() if now - made > self.ttl]:
            del self._items[sid]


def _parse_json(raw: bytes) -> Any:
    try:
        return load_json(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.bad_request(f"error decoding patch: {exc}") from None
    except ValueError as exc:
        raise errors.bad_request(f"error decoding patch: {exc}") from None


def _parse_yaml_or_json(raw: bytes) -> Any:
    try:
        return load_json(raw)
    except orjson.JSONDecodeError:
        pass
    except ValueError as exc:
        raise errors.bad_request(f"error decoding patch: {exc}") from None
    import yaml

    try:
        return load_yaml(raw)
    except yaml.YAMLError as exc:
        raise errors.bad_request(f"error decoding YAML: {exc}") from None
    except ValueError as exc:
        raise errors.bad_request(f"error decoding YAML: {exc}") from None


def scale_of(info: ResourceInfo, obj: Obj) -> Obj:
    """The autoscaling/v1 Scale view of an object with a scale subresource."""
    assert info.scale is not None
    m = obj["metadata"]
    scale: Obj = {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: m[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in m},
        "spec": {},
        "status": {"replicas": get_path(obj, info.scale.status_replicas_path) or 0},
    }
    replicas = get_path(obj, info.scale.spec_replicas_path)
    if replicas is not None:
        scale["spec"]["replicas"] = replicas
    if info.scale.label_selector_path:
        sel = get_path(obj, info.scale.label_selector_path)
        if isinstance(sel, dict):  # a built-in's spec.selector: Scale shows its string form, as kube does
            sel = str(label_selector_from_dict(sel))
        if sel is not None:
            scale["status"]["selector"] = sel
    return scale


def apply_scale(info: ResourceInfo, obj: Obj, scale: Obj) -> Obj:
    """A copy of `obj` with the replicas of `scale` written to the spec path."""
    assert info.scale is not None
    for part in ("spec", "metadata"):
        if scale.get(part) is not None and not isinstance(scale[part], dict):
            raise errors.bad_request(f"Scale: {part} must be an object", [field_cause(
                "FieldValueInvalid", part, "Invalid value: must be an object")])
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.invalid("Scale", "autoscaling", obj["metadata"].get("name", ""), [field_cause(
            "FieldValueInvalid", "spec.replicas",
            f"Invalid value: {orjson.dumps(replicas).decode()}: must be greater than or equal to 0")])
    new = clone(obj)
    set_path(new, info.scale.spec_replicas_path, replicas)
    want_rv = (scale.get("metadata") or {}).get("resourceVersion")
    if want_rv:
        new["metadata"]["resourceVersion"] = want_rv
    return new


__all__ = ["ObjectAPI", "StatusError", "WriteOptions", "WriteResult", "apply_scale", "scale_of"]
