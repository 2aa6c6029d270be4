"""The embedded API server: routing, authentication, content negotiation and watch streams.

One catch-all route parses Kubernetes REST paths itself (faster and simpler
than hundreds of aiohttp routes that would change whenever a CRD does), then
hands the parsed request to `ObjectAPI` for the object semantics.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web

from . import builtins_certificates, discovery, errors, openapi, rbac, reviews, service_account_tokens
from .authn import RequestAuthenticator
from .authz import MASTERS, Attributes, Authorizer
from .builtins import BUILTIN_RESOURCES
from .errors import StatusError
from .hardening import Limits, WatchCounter
from .objects import Obj
from .registry import Registry
from .resources import ResourceInfo
from .rest import ObjectAPI, WriteOptions, WriteResult, apply_scale, scale_of
from .security import TokenStore, User
from .selectors import FieldSelector, LabelSelector, parse_field_selector, parse_label_selector
from .signer_authz import signer_check
from .storage import Change, StorageError, Store
from .tables import render_table
from .watch import Expired, WatchHub
from .wire import (
    JSON,
    MAX_BODY,
    check_delete_options,
    check_list_options,
    decode_body,
    json_response,
    query_bool,
    query_int,
    read_body,
    request_media_type,
    status_response,
    wants_table,
)

log = logging.getLogger("kubenode.apiserver")

VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-kubenode",
    "gitCommit": "",
    "gitTreeState": "clean",
    "buildDate": "2026-11-25T00:00:00Z",
    "goVersion": "python",
    "compiler": "cpython",
    "platform": "linux/amd64",
}

USER_KEY = web.RequestKey("user", User)
#: Bounds of TokenRequest.spec.expirationSeconds (kube: 10 minutes to 2^32 seconds).
MIN_TOKEN_SECONDS, MAX_TOKEN_SECONDS = 600, 2**32
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass
class Target:
    """A parsed resource path."""

    info: ResourceInfo
    namespace: str | None  # None: all namespaces (list) or cluster-scoped
    name: str
    subresource: str
    watch_path: bool  # legacy /watch/ prefix


class APIServer:
    """The embedded server's state and its aiohttp application."""

    def __init__(self, store: Store, tokens: TokenStore | None, *, authorizer: Authorizer | None = None,
                 bookmark_interval: float = 5.0, watch_history: int = 50_000, limits: Limits | None = None) -> None:
        self.store = store
        self.limits = limits or Limits()
        self.watches = WatchCounter(self.limits.max_watches_per_user)
        self.registry = Registry(BUILTIN_RESOURCES)
        self.api = ObjectAPI(store, self.registry)
        self.hub = WatchHub(store.rv, watch_history)
        self.tokens = tokens
        self.authn = RequestAuthenticator(store, tokens) if tokens is not None else None
        self.authorizer = authorizer or Authorizer()
        # RBAC is the last link of the chain (rules registered before it, e.g. kube's Node authorizer, first).
        self.rbac = rbac.RBACIndex(store)
        self.authorizer.add(self.rbac.rule, listable=True)
        self.api.write_checks.append(rbac.write_check(self.rbac, self.authorizer.allowed))
        self.api.write_checks.append(signer_check(self.authorizer.allowed))
        self.bookmark_interval = bookmark_interval
        self._doc_cache: dict[Any, tuple[int, Any]] = {}
        self._watchers: set[asyncio.Task[Any]] = set()
        store.add_listener(self._on_commit)
        self._load_crds()

    # ------------------------------------------------------------------ CRDs
    def _load_crds(self) -> None:
        for _, crd in self.store.items("apiextensions.k8s.io/customresourcedefinitions"):
            self._serve_crd(crd)

    def _serve_crd(self, crd: Obj) -> None:
        from .builtins import crd_to_resource_infos

        name = crd["metadata"]["name"]
        try:
            infos = crd_to_resource_infos(crd)
        except (KeyError, TypeError, ValueError) as exc:  # validated on write; be safe on old data
            log.warning("cannot serve CRD %s: %s", name, exc)
            return
        self.registry.set_crd(name, infos)

    def _on_commit(self, changes: list[Change]) -> None:
        for c in changes:
            if c.key.startswith("apiextensions.k8s.io/customresourcedefinitions/"):
                if c.type == "DELETED":
                    self.registry.remove_crd(c.obj["metadata"]["name"])
                else:
                    self._serve_crd(c.obj)
        self.hub.publish(changes)

    # ------------------------------------------------------------------ app
    def build_app(self) -> web.Application:
        """The aiohttp application serving the whole API."""
        app = web.Application(client_max_size=MAX_BODY + 1, middlewares=[self._middleware])
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, app: web.Application) -> None:
        self.hub.close()
        for task in list(self._watchers):
            task.cancel()

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            user = self._authenticate(request)
            request[USER_KEY] = user
            return await handler(request)
        except StatusError as err:
            resp = status_response(err)
            if err.code == 408:
                resp.force_close()  # the rest of the body is not coming: do not wait for it on this connection
            return resp
        except StorageError as err:  # the write was not stored: say why (disk full → 507)
            return status_response(errors.StatusError(err.code, err.reason, err.message,
                                                      retry_after=err.retry_after))
        except web.HTTPRequestEntityTooLarge:
            return status_response(errors.too_large(MAX_BODY))
        except web.HTTPException:
            raise
        except asyncio.CancelledError:
            raise
        except ConnectionError as exc:  # the client went away mid-request: one line, no traceback
            peer = request.remote
            log.info("client %s aborted %s %s: %s", peer, request.method, request.path, exc or type(exc).__name__)
            return status_response(errors.StatusError(400, "BadRequest", "the client closed the connection"))
        except Exception as exc:  # a bug must still answer a Status, and be logged
            log.exception("internal error on %s %s", request.method, request.path)
            return status_response(errors.internal(str(exc)))

    def _authenticate(self, request: web.Request) -> User:
        if self.tokens is None:
            return User("kubenode:anonymous-admin", ("system:masters",))
        assert self.authn is not None
        user = self.authn.authenticate(request.transport, request.headers.get("Authorization"), time.time())
        if user is None:
            if request.path in PUBLIC_PATHS:
                return User("system:anonymous", ("system:unauthenticated",))
            raise errors.unauthorized()
        return _impersonated(request, user, self.authorizer.allowed)

    def _authorize_path(self, request: web.Request) -> None:
        """Non-resource requests (discovery, OpenAPI, version, health) need RBAC's nonResourceURLs."""
        user = request[USER_KEY]
        if MASTERS in user.groups:
            return
        verb = request.method.lower()
        ok, why = self.authorizer.allowed(Attributes(user, verb, "", "", "", "", "", path=request.path))
        if not ok:
            raise errors.StatusError(403, "Forbidden", f'forbidden: User "{user.name}" cannot {verb} path '
                                     f'"{request.path}"' + (f": {why}" if why else ""))

    def _authorize(self, request: web.Request, verb: str, t: Target) -> None:
        user = request[USER_KEY]
        attrs = Attributes(user, verb, t.info.group, t.info.plural, t.subresource, t.namespace or "", t.name)
        ok, why = self.authorizer.allowed(attrs)
        if not ok:
            raise errors.forbidden(user.name, verb, t.info.plural + (f"/{t.subresource}" if t.subresource else ""),
                                   t.info.group, t.name, t.namespace or "", why)

    # ------------------------------------------------------------------ dispatch
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if not parts or parts[0] not in ("api", "apis") or len(parts) <= (2 if parts[0] == "api" else 3):
            self._authorize_path(request)
        if not parts:
            return json_response({"paths": sorted(self._root_paths())})
        head = parts[0]
        if head in ("healthz", "livez", "readyz"):
            return self._health(request, head)
        if head == "version":
            return json_response(VERSION_INFO)
        if head == "openapi":
            return self._openapi(request, parts[1:])
        if head == "api":
            if len(parts) == 1:
                return self._discovery_root(request, legacy=True)
            return await self._group_version(request, "", parts[1], parts[2:])
        if head == "apis":
            if len(parts) == 1:
                return self._discovery_root(request, legacy=False)
            if len(parts) == 2:
                return self._api_group(parts[1])
            return await self._group_version(request, parts[1], parts[2], parts[3:])
        raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")

    def _health(self, request: web.Request, which: str) -> web.Response:
        """/readyz fails while storage refuses writes (it recovers by itself); /livez and /healthz only
        when the writer itself cannot run, as kube's etcd check: a restart would not free the disk."""
        checks: list[tuple[str, str | None]] = [("ping", None)]
        failure = self.store.failure
        if which == "readyz":
            checks.append(("storage", failure.message if failure is not None else None))
        checks.append(("storage-writer", None if self.store.writer_alive() else "the storage writer stopped"))
        failed = [(n, why) for n, why in checks if why is not None]
        if not failed and "verbose" not in request.query:
            return web.Response(text="ok")
        lines = [f"[-]{n} failed: {why}" if why is not None else f"[+]{n} ok" for n, why in checks]
        lines.append(f"{which} check failed" if failed else f"{which} check passed")
        return web.Response(text="\n".join(lines) + "\n", status=500 if failed else 200)

    def _root_paths(self) -> list[str]:
        paths = {"/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version", "/openapi/v2",
                 "/openapi/v3"}
        for g, v in self.registry.group_versions():
            if g:
                paths.add(f"/apis/{g}")
                paths.add(f"/apis/{g}/{v}")
        return list(paths)

    def _cached(self, key: Any, build: Callable[[], Any]) -> Any:
        hit = self._doc_cache.get(key)
        if hit is not None and hit[0] == self.registry.generation:
            return hit[1]
        value = build()
        self._doc_cache[key] = (self.registry.generation, value)
        return value

    def _discovery_root(self, request: web.Request, *, legacy: bool) -> web.Response:
        ctype = discovery.wants_aggregated(request.headers.get("Accept", ""))
        resources = self.registry.all()
        if ctype is not None:
            body = self._cached(("agg", legacy, ctype), lambda: orjson.dumps(
                discovery.aggregated_discovery(resources, legacy_core=legacy,
                                              api_version=discovery.aggregated_api_version(ctype))))
            return web.Response(body=body, headers={"Content-Type": ctype})
        if legacy:
            return json_response(discovery.api_versions(request.host))
        body = self._cached("groups", lambda: orjson.dumps(discovery.api_group_list(resources)))
        return web.Response(body=body, content_type=JSON)

    def _api_group(self, group: str) -> web.Response:
        resources = [r for r in self.registry.all() if r.group == group]
        if not resources:
            raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
        return json_response(discovery.api_group(group, resources))

    def _openapi(self, request: web.Request, rest: list[str]) -> web.Response:
        if rest == ["v2"]:
            return web.Response(body=openapi.OPENAPI_V2_STUB,
                                headers={"Content-Type": openapi.OPENAPI_V2_CONTENT_TYPE})
        if rest == ["v3"]:
            body = self._cached("oa3", lambda: orjson.dumps(openapi.openapi_v3_index(self.registry.all())))
            return web.Response(body=body, content_type=JSON)
        if len(rest) >= 3 and rest[0] == "v3":
            if rest[1] == "api" and len(rest) == 3:
                group, version = "", rest[2]
            elif rest[1] == "apis" and len(rest) == 4:
                group, version = rest[2], rest[3]
            else:
                raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
            resources = [r for r in self.registry.all() if r.group == group and r.version == version]
            if not resources:
                raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
            body = self._cached(("oa3", group, version), lambda: orjson.dumps(
                openapi.openapi_v3_document(group, version, resources)))
            headers = {"Content-Type": JSON}
            if "hash" in request.query:
                headers["Cache-Control"] = "public, immutable"
            return web.Response(body=body, headers=headers)
        raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")

    # ------------------------------------------------------------------ resources
    async def _group_version(self, request: web.Request, group: str, version: str,
                             rest: list[str]) -> web.StreamResponse:
        if (group, version) not in self.registry.group_versions():
            raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            resources = [r for r in self.registry.all() if r.group == group and r.version == version]
            return json_response(self._cached(("rl", group, version),
                                              lambda: discovery.api_resource_list(group, version, resources)))
        t = self._parse_target(group, version, rest)
        method = request.method
        if (t.info.group, t.info.plural) in reviews.REVIEW_RESOURCES:
            if method != "POST" or t.name or t.subresource or t.namespace is not None:
                raise errors.method_not_allowed(
                    f"{t.info.plural} only accepts POST to /apis/{t.info.group}/{t.info.version}/{t.info.plural}")
            self._authorize(request, "create", t)
            body = decode_body(await read_body(request, self.limits.body_timeout), request_media_type(request))
            answer = reviews.review(t.info.group, t.info.plural, body, request[USER_KEY], self.authorizer,
                                    self.rbac)
            return json_response(answer, 201)
        if method == "GET":
            return await self._get(request, t)
        if method == "POST":
            return await self._post(request, t)
        if method == "PUT":
            return await self._put(request, t)
        if method == "PATCH":
            return await self._patch(request, t)
        if method == "DELETE":
            return await self._delete(request, t)
        raise errors.method_not_allowed(f"the server does not allow the method {method} here")

    def _parse_target(self, group: str, version: str, rest: list[str]) -> Target:
        watch_path = False
        if rest[0] == "watch":
            watch_path, rest = True, rest[1:]
        namespace: str | None = None
        if rest and rest[0] == "namespaces" and len(rest) >= 3 and not (
            len(rest) == 3 and rest[2] in ("status", "finalize") and not group
        ):
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
        plural = rest[0]
        info = self.registry.lookup(group, version, plural)
        if info is None:
            raise errors.StatusError(
                404, "NotFound", "the server could not find the requested resource", kind=plural, group=group)
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if info.namespaced and namespace is None and name:
            raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
        if not info.namespaced and namespace is not None:
            raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
        if sub and not self._has_subresource(info, sub):
            raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
        return Target(info, namespace, name, sub, watch_path)

    @staticmethod
    def _has_subresource(info: ResourceInfo, sub: str) -> bool:
        if sub == "status":
            return info.status_subresource
        if sub == "scale":
            return info.scale is not None
        if sub == "finalize":
            return info.plural == "namespaces" and not info.group
        return sub in info.extra_subresources

    def _ns(self, t: Target) -> str:
        return (t.namespace or "") if t.info.namespaced else ""

    # ---- GET
    async def _get(self, request: web.Request, t: Target) -> web.StreamResponse:
        if not t.name:
            if t.watch_path or query_bool(request, "watch"):
                self._authorize(request, "watch", t)
                return await self._watch(request, t)
            self._authorize(request, "list", t)
            return self._list(request, t)
        if t.watch_path:
            self._authorize(request, "watch", t)
            return await self._watch(request, t, name=t.name)
        self._authorize(request, "get", t)
        obj = self.api.get(t.info, self._ns(t), t.name)
        if t.subresource == "scale":
            return json_response(scale_of(t.info, obj))
        if wants_table(request) and not t.subresource:
            return json_response(self._table(request, t.info, [obj], {}))
        return json_response(obj)

    def _selectors(self, request: web.Request, info: ResourceInfo) -> tuple[LabelSelector | None,
                                                                              FieldSelector | None]:
        ls = fs = None
        raw_ls = request.query.get("labelSelector", "")
        raw_fs = request.query.get("fieldSelector", "")
        try:
            if raw_ls:
                ls = parse_label_selector(raw_ls)
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
        try:
            if raw_fs:
                fs = parse_field_selector(raw_fs, info.field_selectors)
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
        return ls, fs

    def _list(self, request: web.Request, t: Target) -> web.Response:
        ls, fs = self._selectors(request, t.info)
        limit = query_int(request, "limit")
        check_list_options(request, watch=False)
        rv_match = request.query.get("resourceVersionMatch", "")
        want_rv = request.query.get("resourceVersion", "")
        if rv_match == "Exact" and want_rv and want_rv != str(self.store.rv):
            raise errors.expired(f"too old resource version: {want_rv} ({self.store.rv})")
        items, rv, cont, remaining = self.api.list_objects(
            t.info, t.namespace if t.info.namespaced else None, label_selector=ls, field_selector=fs, limit=limit,
            continue_token=request.query.get("continue", ""))
        list_meta: Obj = {"resourceVersion": rv}
        if cont:
            list_meta["continue"] = cont
        if remaining is not None:
            list_meta["remainingItemCount"] = remaining
        if wants_table(request):
            return json_response(self._table(request, t.info, items, list_meta))
        body = b"".join((
            b'{"kind":', orjson.dumps(t.info.list_kind), b',"apiVersion":', orjson.dumps(t.info.api_version),
            b',"metadata":', orjson.dumps(list_meta), b',"items":', orjson.dumps(items), b"}",
        ))
        return web.Response(body=body, content_type=JSON)

    def _table(self, request: web.Request, info: ResourceInfo, objs: list[Obj], list_meta: Obj,
               with_columns: bool = True) -> Obj:
        return render_table(
            info.printer_columns, objs, include_object=request.query.get("includeObject", "Metadata"),
            now=time.time(), resource_version=list_meta.get("resourceVersion", ""),
            continue_token=list_meta.get("continue", ""), remaining_item_count=list_meta.get("remainingItemCount"),
            with_column_definitions=with_columns)

    # ---- writes
    def _write_options(self, request: web.Request) -> WriteOptions:
        dry = request.query.getall("dryRun", [])
        for d in dry:
            if d != "All":
                raise errors.bad_request(f'unsupported dryRun value "{d}"; the only supported value is "All"')
        fv = request.query.get("fieldValidation", "Warn") or "Warn"
        if fv not in ("Strict", "Warn", "Ignore"):
            raise errors.bad_request(
                f'fieldValidation must be one of "Ignore", "Warn" or "Strict", got "{fv}"')
        manager = request.query.get("fieldManager", "")
        if not manager:
            agent = request.headers.get("User-Agent", "")
            manager = agent.split("/")[0][:128] if agent else ""
        return WriteOptions(dry_run=bool(dry), field_validation=fv, field_manager=manager,
                            force=query_bool(request, "force"), user=request[USER_KEY])

    async def _respond(self, res: WriteResult) -> web.Response:
        await res.wait()
        headers = None
        if res.warnings:
            headers = {"Warning": ", ".join(f'299 - "{w}"' for w in res.warnings[:50])}
        return json_response(res.obj, res.code, headers)

    async def _post(self, request: web.Request, t: Target) -> web.Response:
        raw = await read_body(request, self.limits.body_timeout)
        if t.name and t.subresource == "eviction" and t.info.plural == "pods" and not t.info.group:
            self._authorize(request, "create", t)
            return await self._evict(request, t, raw)
        if t.name and t.subresource == "token" and t.info.plural == "serviceaccounts" and not t.info.group:
            self._authorize(request, "create", t)
            return await self._token_request(request, t, raw)
        if t.name or t.subresource:
            raise errors.method_not_allowed(
                "POST is only allowed on collections, pods/eviction and serviceaccounts/token")
        if t.info.namespaced and t.namespace is None:
            raise errors.method_not_allowed(
                "POST to a namespaced resource needs a namespace: /api[s]/.../namespaces/NS/" + t.info.plural)
        body = decode_body(raw, request_media_type(request))
        # Authorize with the name being created, so a rule can restrict *which* object a user may create.
        meta = body.get("metadata") if isinstance(body, dict) else None
        name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
        self._authorize(request, "create", dataclasses.replace(t, name=name))
        if t.info.group == builtins_certificates.GROUP and t.info.plural == "certificatesigningrequests":
            builtins_certificates.set_requester(body, request[USER_KEY])
        res = self.api.create(t.info, self._ns(t), body, self._write_options(request))
        return await self._respond(res)

    async def _evict(self, request: web.Request, t: Target, raw: bytes) -> web.Response:
        body = decode_body(raw, request_media_type(request))
        if not isinstance(body, dict) or body.get("kind", "Eviction") != "Eviction":
            raise errors.bad_request("the body of an eviction must be a policy/v1 Eviction")
        meta = body.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise errors.bad_request("Eviction: metadata must be an object", [errors.field_cause(
                "FieldValueInvalid", "metadata", "Invalid value: must be an object")])
        name = (meta or {}).get("name", t.name)
        if name != t.name:
            raise errors.bad_request("name in URL does not match name in Eviction object")
        options = check_delete_options(body.get("deleteOptions"), "deleteOptions")
        res = self.api.delete(t.info, self._ns(t), t.name, options,
                              dry_run=bool(request.query.getall("dryRun", [])), user=request[USER_KEY])
        await res.wait()
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "code": 201}, 201)

    async def _token_request(self, request: web.Request, t: Target, raw: bytes) -> web.Response:
        """TokenRequest: a bearer token for a ServiceAccount (authentication.k8s.io/v1), as kube ≥ 1.30.

        The token is bound to the ServiceAccount's UID and, with `spec.boundObjectRef`, to a Pod, Secret or
        Node (`service_account_tokens.py`); it expires after `spec.expirationSeconds` (default 3600, at least
        10 minutes, as kube requires).
        """
        body = decode_body(raw, request_media_type(request)) if raw.strip() else {}
        if not isinstance(body, dict) or body.get("kind", "TokenRequest") != "TokenRequest":
            raise errors.bad_request("the body must be an authentication.k8s.io/v1 TokenRequest")
        if self.tokens is None:
            raise errors.StatusError(503, "ServiceUnavailable", "token issuing is disabled on this server")
        spec = body.get("spec")
        spec = {} if spec is None else spec
        if not isinstance(spec, dict):
            raise errors.invalid("TokenRequest", "authentication.k8s.io", t.name, [errors.field_cause(
                "FieldValueInvalid", "spec", "Invalid value: must be an object")])
        audiences = spec.get("audiences")
        if audiences is not None and (not isinstance(audiences, list)
                                      or not all(isinstance(a, str) for a in audiences)):
            raise errors.bad_request("TokenRequest: spec.audiences must be a list of strings", [errors.field_cause(
                "FieldValueInvalid", "spec.audiences", "Invalid value: must be a list of strings")])
        bound = spec.get("boundObjectRef")
        if bound is not None and not isinstance(bound, dict):
            raise errors.bad_request("TokenRequest: spec.boundObjectRef must be an object", [errors.field_cause(
                "FieldValueInvalid", "spec.boundObjectRef", "Invalid value: must be an object")])
        seconds = spec.get("expirationSeconds")
        if seconds is None:
            seconds = service_account_tokens.DEFAULT_SECONDS
        if (not isinstance(seconds, int) or isinstance(seconds, bool)
                or not MIN_TOKEN_SECONDS <= seconds <= MAX_TOKEN_SECONDS):
            raise errors.invalid("TokenRequest", "authentication.k8s.io", t.name, [errors.field_cause(
                "FieldValueInvalid", "spec.expirationSeconds",
                f"Invalid value: {seconds!r}: may not specify a duration less than 10 minutes or longer than "
                f"2^32 seconds")])
        sa = self.api.get(t.info, self._ns(t), t.name)
        ns = self._ns(t)
        user, bound = service_account_tokens.token_identity(self.store, sa, spec)
        expires_at = time.time() + seconds
        token = await asyncio.to_thread(self.tokens.issue, user, expires_at, bound)
        expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at))
        return json_response({
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": t.name, "namespace": ns, "uid": sa["metadata"].get("uid")},
            "spec": {"audiences": spec.get("audiences") or [], "expirationSeconds": seconds,
                     "boundObjectRef": spec.get("boundObjectRef")},
            "status": {"token": token, "expirationTimestamp": expiry},
        }, 201)

    async def _put(self, request: web.Request, t: Target) -> web.Response:
        if not t.name:
            raise errors.method_not_allowed("PUT needs an object name")
        self._authorize(request, "update", t)
        body = decode_body(await read_body(request, self.limits.body_timeout), request_media_type(request))
        opts = self._write_options(request)
        if t.subresource == "scale":
            current = self.api.get(t.info, self._ns(t), t.name)
            if not isinstance(body, dict):
                raise errors.bad_request("the body must be an autoscaling/v1 Scale")
            new = apply_scale(t.info, current, body)
            res = self.api.update(t.info, self._ns(t), t.name, new, opts, subresource="scale")
            await res.wait()
            return json_response(scale_of(t.info, res.obj))
        if t.subresource == "finalize":
            res = self.api.update(t.info, "", t.name, body, opts)
            return await self._respond(res)
        res = self.api.update(t.info, self._ns(t), t.name, body, opts, subresource=t.subresource)
        return await self._respond(res)

    async def _patch(self, request: web.Request, t: Target) -> web.Response:
        if not t.name:
            raise errors.method_not_allowed("PATCH needs an object name")
        self._authorize(request, "patch", t)
        raw = await read_body(request, self.limits.body_timeout)
        opts = self._write_options(request)
        ctype = request.headers.get("Content-Type", "")
        if t.subresource == "scale":
            from .patch import json_patch, merge_patch
            from .rest import _parse_json

            base = ctype.split(";")[0].strip().lower()
            accepted = ["application/json-patch+json", "application/merge-patch+json"]
            if t.info.builtin:
                accepted.append("application/strategic-merge-patch+json")
            if base not in accepted:
                raise errors.unsupported_media_type(base, accepted)
            current = self.api.get(t.info, self._ns(t), t.name)
            scale = scale_of(t.info, current)
            doc = _parse_json(raw)
            patched = json_patch(scale, doc) if base == accepted[0] else merge_patch(scale, doc)
            new = apply_scale(t.info, current, patched)
            res = self.api.update(t.info, self._ns(t), t.name, new, opts, subresource="scale")
            await res.wait()
            return json_response(scale_of(t.info, res.obj))
        res = self.api.patch(t.info, self._ns(t), t.name, ctype, raw, opts, subresource=t.subresource)
        return await self._respond(res)

    async def _delete(self, request: web.Request, t: Target) -> web.Response:
        raw = await read_body(request, self.limits.body_timeout)
        options: Obj = {}
        if raw.strip():
            decoded = decode_body(raw, request_media_type(request))
            if not isinstance(decoded, dict):
                raise errors.bad_request("the body of a DELETE must be a DeleteOptions object")
            options = check_delete_options(decoded)
        for q in ("propagationPolicy", "orphanDependents"):
            if q in request.query and q not in options:
                options[q] = request.query[q] if q == "propagationPolicy" else query_bool(request, q)
        dry = bool(request.query.getall("dryRun", [])) or bool(options.get("dryRun"))
        if not t.name:
            self._authorize(request, "deletecollection", t)
            ls, fs = self._selectors(request, t.info)
            items, _, _, _ = self.api.list_objects(t.info, t.namespace if t.info.namespaced else None,
                                            label_selector=ls, field_selector=fs)
            results = [self.api.delete(t.info, o["metadata"].get("namespace", ""), o["metadata"]["name"], options,
                                       dry_run=dry, user=request[USER_KEY]) for o in items]
            for r in results:
                await r.wait()
            return json_response({"kind": t.info.list_kind, "apiVersion": t.info.api_version,
                                  "metadata": {"resourceVersion": str(self.store.rv)},
                                  "items": [r.obj for r in results if r.obj.get("kind") != "Status"]})
        self._authorize(request, "delete", t)
        res = self.api.delete(t.info, self._ns(t), t.name, options, dry_run=dry, user=request[USER_KEY])
        return await self._respond(res)

    # ---- WATCH
    async def _watch(self, request: web.Request, t: Target, name: str = "") -> web.StreamResponse:
        who = request[USER_KEY].name
        if not self.watches.acquire(who):
            raise errors.too_many_requests(
                f"too many concurrent watches for {who} (at most {self.watches.limit}); close some and retry",
                retry_after=1)
        try:
            return await self._watch_counted(request, t, name)
        finally:
            self.watches.release(who)

    async def _watch_counted(self, request: web.Request, t: Target, name: str = "") -> web.StreamResponse:
        ls, fs = self._selectors(request, t.info)
        if name:
            fs = parse_field_selector(f"metadata.name={name}", frozenset())
        rv_param = request.query.get("resourceVersion", "")
        send_initial = request.query.get("sendInitialEvents", "")
        bookmarks = query_bool(request, "allowWatchBookmarks")
        if send_initial and request.query.get("resourceVersionMatch") != "NotOlderThan":
            raise errors.invalid("ListOptions", "meta.k8s.io", "", [errors.field_cause(
                "FieldValueForbidden", "resourceVersionMatch",
                "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")])
        timeout = query_int(request, "timeoutSeconds", 0)
        check_list_options(request, watch=True)
        if not timeout:
            timeout = int(1800 * (1 + random.random()))
        table = wants_table(request)
        namespace = t.namespace if t.info.namespaced else None
        prefix = t.info.prefix(namespace)
        resource = f"{t.info.group}/{t.info.plural}"
        initial: list[Obj] = []
        if send_initial == "true" or (send_initial == "" and rv_param in ("", "0")):
            start_rv = self.store.rv
            initial, _, _, _ = self.api.list_objects(t.info, namespace, label_selector=ls, field_selector=fs)
        else:
            try:
                start_rv = int(rv_param) if rv_param else self.store.rv
            except ValueError:
                raise errors.bad_request(f'invalid resourceVersion "{rv_param}"') from None
        response = web.StreamResponse(status=200, headers={
            "Content-Type": JSON, "Cache-Control": "no-cache, private", "Transfer-Encoding": "chunked"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        task = asyncio.current_task()
        if task is not None:
            self._watchers.add(task)
        info = t.info
        first_table = [True]
        lost: asyncio.Future[None] | None = getattr(request.protocol, "lost", None)

        def encode(etype: str, obj: Obj) -> bytes:
            if table:
                tbl = self._table(request, info, [obj], {"resourceVersion": obj["metadata"].get(
                    "resourceVersion", "")}, with_columns=first_table[0])
                first_table[0] = False
                return orjson.dumps({"type": etype, "object": tbl}) + b"\n"
            return b'{"type":"' + etype.encode() + b'","object":' + orjson.dumps(info and self.api.as_version(
                info, obj)) + b"}\n"

        def bookmark(rv: int, annotations: Obj | None = None) -> bytes:
            m: Obj = {"resourceVersion": str(rv)}
            if annotations:
                m["annotations"] = annotations
            return orjson.dumps({"type": "BOOKMARK", "object": {"kind": info.kind, "apiVersion": info.api_version,
                                                                  "metadata": m}}) + b"\n"

        try:
            try:
                cursor = self.hub.cursor(resource, start_rv)
            except Expired as exc:
                err = errors.expired(str(exc)).to_status()
                await response.write(orjson.dumps({"type": "ERROR", "object": err}) + b"\n")
                return response
            if initial:
                await response.write(b"".join(encode("ADDED", o) for o in initial))
            if send_initial == "true" and bookmarks:
                await response.write(bookmark(start_rv, {INITIAL_EVENTS_END: "true"}))
            deadline = time.monotonic() + timeout
            last_sent = start_rv
            next_bookmark = time.monotonic() + self.bookmark_interval
            while not self.hub.closed:
                changes, cursor = self.hub.read(resource, cursor)
                out: list[bytes] = []
                for c in changes:
                    if c.rv <= start_rv:
                        continue
                    if prefix and not c.key.startswith(prefix):
                        continue
                    etype = self._event_type(c, ls, fs)
                    if etype is None:
                        continue
                    if etype == c.type and not table and c.obj.get("apiVersion") == info.api_version:
                        if c.line is None:  # built once per change; the stored row is already its JSON
                            body = c.data if c.data is not None else orjson.dumps(c.obj)
                            c.line = b'{"type":"' + etype.encode() + b'","object":' + body + b"}\n"
                        out.append(c.line)
                    else:
                        out.append(encode(etype, c.obj))
                    last_sent = c.rv
                if out:
                    await response.write(b"".join(out))
                now = time.monotonic()
                if now >= deadline:
                    break
                if bookmarks and now >= next_bookmark:
                    await response.write(bookmark(max(last_sent, self.hub.published_rv)))
                    next_bookmark = now + self.bookmark_interval
                wait_for = min(deadline - now, 3600.0)  # any int64 timeout is valid; waits stay bounded
                if bookmarks:
                    wait_for = min(wait_for, next_bookmark - now)
                if lost is not None and lost.done():
                    break  # the client went away: end now, and free what this watch holds
                waiters: list[asyncio.Future[None]] = [self.hub.next_batch()]
                if lost is not None:
                    waiters.append(lost)
                await asyncio.wait(waiters, timeout=max(wait_for, 0.001), return_when=asyncio.FIRST_COMPLETED)
        except Expired as exc:
            err = errors.expired(str(exc)).to_status()
            with contextlib.suppress(ConnectionError, RuntimeError):
                await response.write(orjson.dumps({"type": "ERROR", "object": err}) + b"\n")
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if task is not None:
                self._watchers.discard(task)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
        return response

    @staticmethod
    def _event_type(c: Change, ls: LabelSelector | None, fs: FieldSelector | None) -> str | None:
        """The event a filtered watcher sees: a change that moves in or out of the selection is ADDED/DELETED."""
        if (ls is None or ls.empty) and fs is None:
            return c.type

        def match(o: Obj | None) -> bool:
            if o is None:
                return False
            if ls is not None and not ls.empty and not ls.matches(o["metadata"].get("labels")):
                return False
            return fs is None or fs.matches(o)

        if c.type == "ADDED":
            return "ADDED" if match(c.obj) else None
        if c.type == "DELETED":
            return "DELETED" if match(c.prev) else None
        now_m, before_m = match(c.obj), match(c.prev)
        if now_m and before_m:
            return "MODIFIED"
        if now_m:
            return "ADDED"
        if before_m:
            return "DELETED"
        return None


def _impersonated(request: web.Request, user: User,
                  allowed: Callable[[Attributes], tuple[bool, str]] | None = None) -> User:
    """The user a request acts as: `user`, or whom its Impersonate-* headers name (`kubectl --as`).

    As kube, the caller needs the `impersonate` verb (RBAC, through `allowed`) on every user, group and
    ServiceAccount it names; `system:masters` have it, and without `allowed` only they may impersonate.
    The impersonated user is `system:authenticated`, a ServiceAccount named without groups gets its
    ServiceAccount groups, `Impersonate-Uid` sets the UID (`kubectl --as-uid`) and each
    `Impersonate-Extra-<key>` header adds a value to extra `<key>` (lower-cased, percent-decoded).
    """
    name = request.headers.get("Impersonate-User", "")
    groups = request.headers.getall("Impersonate-Group", [])
    uid = request.headers.get("Impersonate-Uid", "")
    extra: dict[str, list[str]] = {}
    for header, value in request.headers.items():
        if header.lower().startswith(_EXTRA_PREFIX):
            extra.setdefault(unquote(header[len(_EXTRA_PREFIX):].lower()), []).append(value)
    others = bool(uid or extra)  # only system:masters (kube asks RBAC about uids and userextras)
    if not name and not groups and not others:
        return user
    if not name:
        raise errors.bad_request("impersonating groups, a UID or extra fields requires impersonating a user "
                                 "(Impersonate-User, kubectl --as)")
    if MASTERS not in user.groups:
        if allowed is None or others:
            raise errors.forbidden(user.name, "impersonate", "users", "", name, "",
                                   "only members of system:masters may impersonate UIDs and extra fields"
                                   if others and allowed is not None else
                                   "only members of system:masters may impersonate")
        sa = name.split(":") if name.startswith("system:serviceaccount:") and name.count(":") == 3 else None
        targets = [("serviceaccounts", sa[2], sa[3]) if sa else ("users", "", name),
                   *(("groups", "", g) for g in groups)]
        for resource, ns, target in targets:
            ok, why = allowed(Attributes(user, "impersonate", "", resource, "", ns, target))
            if not ok:
                raise errors.forbidden(user.name, "impersonate", resource, "", target, ns, why)
    if not groups and name.startswith("system:serviceaccount:") and name.count(":") == 3:
        ns = name.split(":")[2]
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{ns}"]
    if "system:authenticated" not in groups:
        groups = [*groups, "system:authenticated"]
    return User(name, tuple(groups), uid, tuple(sorted((k, tuple(v)) for k, v in extra.items())))


_EXTRA_PREFIX = "impersonate-extra-"
