"""The asynchronous Kubernetes REST client: one HTTP transport (aiohttp or h11), raw dict bodies.

Every call goes through :meth:`KubeClient._request`, which applies the
client-side token bucket, sets the Authorization and User-Agent headers,
retries ``429 TooManyRequests`` after the server's Retry-After (like
client-go), and turns failure ``Status`` bodies into :mod:`.errors` exceptions.
Objects are plain dicts decoded by orjson: the hot paths (list, watch) never
build model objects. The HTTP itself is a :class:`~.transport.Transport`
chosen by ``ClientConfig.transport`` (imported only when chosen).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import orjson

from .config import ClientConfig
from .errors import TooManyRequests, Unauthorized, error_from_response, error_from_status
from .ratelimit import TokenBucket
from .resources import PODS, SERVICEACCOUNTS, Resource
from .transport import Transport, new_transport

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PatchType = Literal["merge", "json", "apply", "strategic"]

PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",  # JSON is valid YAML; the server accepts it as is
}

# 429s are retried this many seconds apart when the server sends no Retry-After.
DEFAULT_RETRY_AFTER = 1.0


class WatchEvent(NamedTuple):
    """One watch event: ``type`` is ADDED, MODIFIED, DELETED or BOOKMARK; ``object`` the raw object."""

    type: str
    object: Obj


class IssuedToken(NamedTuple):
    """The answer to a TokenRequest."""

    token: str
    expiration_timestamp: str


class KubeClient:
    """Asynchronous client for one API server (use ``async with`` or call :meth:`close`)."""

    def __init__(self, config: ClientConfig, *, session: aiohttp.ClientSession | None = None,
                 transport: Transport | None = None) -> None:
        """Create the client; ``transport`` (or an aiohttp ``session``) lets tests or embedders supply their own."""
        self.config = config
        self._limiter = TokenBucket(config.qps, config.burst)
        self._own_session = session is None and transport is None
        if session is not None:
            from .aiohttp_transport import AiohttpTransport

            transport = AiohttpTransport(session=session)
        self._transport = transport or self._new_transport()
        # Client-certificate rotation (like client-go's cert rotation): when the certificate files change,
        # new requests go through a new transport with the new certificate; the old one closes with the client.
        self._cert_version = config.client_cert_version()
        self._next_cert_check = 0.0
        self._retired: list[Transport] = []

    def _new_transport(self) -> Transport:
        return new_transport(self.config.transport, ssl_context=self.config.ssl_context,
                             limit=self.config.connection_limit)

    def _check_certificate(self) -> None:
        """Switch to a new session if the client certificate files were replaced (checked at most once a second)."""
        if not self._own_session or self.config.ssl_factory is None:
            return
        now = time.monotonic()
        if now < self._next_cert_check:
            return
        self._next_cert_check = now + 1.0
        version = self.config.client_cert_version()
        if version is None or version == self._cert_version:
            return
        try:
            ctx = self.config.ssl_factory()
        except (OSError, ssl.SSLError, ValueError) as exc:  # half-written files: try again next time
            log.warning("cannot load the rotated client certificate yet: %s", exc)
            return
        self._cert_version = version
        self.config.ssl_context = ctx
        self._retired.append(self._transport)
        self._transport = self._new_transport()
        log.info("client certificate rotated: new connections use the new certificate")

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP transport (only if this client created it)."""
        if self._own_session:
            await self._transport.close()
            for old in self._retired:
                await old.close()
            self._retired = []

    # ------------------------------------------------------------------ plumbing

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.config.user_agent}
        auth = self.config.authorization()
        if auth:
            headers["Authorization"] = auth
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def _request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                       body: Any = None, content_type: str = "application/json") -> Any:
        """Send one request and return the decoded JSON body; raise :class:`ApiError` on failure."""
        data = None if body is None else orjson.dumps(body)
        self._check_certificate()
        attempt = 0
        while True:
            await self._limiter.acquire()
            resp = await self._transport.request(
                method, self.config.server + path, params=params, body=data,
                headers=self._headers(content_type if data is not None else None),
                time_limit=self.config.request_timeout)
            if resp.status < 400:
                return orjson.loads(resp.body) if resp.body else None
            err = error_from_response(resp.status, resp.body, resp.headers)
            if isinstance(err, Unauthorized) and self.config.token_file and attempt == 0:
                # The projected token may have rotated under us: re-read it once.
                self.config.invalidate_token()
                attempt += 1
                continue
            if not isinstance(err, TooManyRequests) or attempt >= self.config.max_retries:
                raise err
            attempt += 1
            delay = err.retry_after if err.retry_after is not None else DEFAULT_RETRY_AFTER
            log.debug("%s %s throttled (429); retrying in %.1fs", method, path, delay)
            await asyncio.sleep(delay)

    def _write_params(self, field_manager: str | None, dry_run: bool) -> dict[str, str]:
        params = {"fieldManager": field_manager or self.config.field_manager}
        if dry_run:
            params["dryRun"] = "All"
        return params

    # ------------------------------------------------------------------ reads

    async def server_version(self) -> Obj:
        """GET /version (gitVersion, major, minor, ...)."""
        obj: Obj = await self._request("GET", "/version")
        return obj

    async def get(self, res: Resource, name: str, namespace: str | None = None, *,
                  subresource: str | None = None) -> Obj:
        """GET one object (or its subresource)."""
        obj: Obj = await self._request("GET", res.path(namespace, name, subresource))
        return obj

    async def list(self, res: Resource, namespace: str | None = None, *, label_selector: str | None = None,
                   field_selector: str | None = None, limit: int | None = None,
                   resource_version: str | None = None,
                   transform: Callable[[Obj], Obj] | None = None) -> tuple[list[Obj], str]:
        """LIST a collection, following ``continue`` pages of size ``limit``; return ``(items, list_rv)``.

        ``transform`` is applied to each item as its page arrives (an informer's compaction: a large
        collection is never held twice, raw and transformed).

        ``list_rv`` is the first page's resourceVersion: watching from it sees
        every change after the list began. Items get ``kind``/``apiVersion``
        filled in, since the server may omit them inside a list.
        """
        params: dict[str, str] = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if limit:
            params["limit"] = str(limit)
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        items: list[Obj] = []
        list_rv: str | None = None
        path = res.path(namespace)
        while True:
            page: Obj = await self._request("GET", path, params=params)
            meta = page.get("metadata") or {}
            if list_rv is None:
                list_rv = str(meta.get("resourceVersion", ""))
            for item in page.get("items") or ():
                item.setdefault("kind", res.kind)
                item.setdefault("apiVersion", res.api_version)
                items.append(item if transform is None else transform(item))
            token = meta.get("continue")
            if not token:
                return items, list_rv
            # A continue token carries the original resourceVersion; sending both is an error.
            params.pop("resourceVersion", None)
            params["continue"] = token

    async def watch(self, res: Resource, namespace: str | None = None, *, resource_version: str | None = None,
                    label_selector: str | None = None, field_selector: str | None = None,
                    timeout_seconds: int | None = None,
                    allow_bookmarks: bool = False) -> AsyncGenerator[WatchEvent, None]:
        """Stream watch events until the server ends the stream.

        An in-stream ``ERROR`` event is raised as the matching :class:`ApiError`
        (``Gone`` for 410 Expired: re-list). Use ``contextlib.aclosing`` when
        leaving the loop early so the connection is released at once.
        """
        params: dict[str, str] = {"watch": "true"}
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if timeout_seconds is not None:
            params["timeoutSeconds"] = str(timeout_seconds)
        if allow_bookmarks:
            params["allowWatchBookmarks"] = "true"
        await self._limiter.acquire()
        # No total timeout: a watch lives for timeout_seconds. A read timeout slightly longer than that
        # detects a silently dead connection (partition) instead of hanging forever.
        read_timeout = None if timeout_seconds is None else timeout_seconds + 30.0
        self._check_certificate()
        async with self._transport.stream("GET", self.config.server + res.path(namespace), params=params,
                                          headers=self._headers(None), connect_timeout=self.config.request_timeout,
                                          read_timeout=read_timeout) as resp:
            if resp.status >= 400:
                raise error_from_response(resp.status, await resp.read(), resp.headers)
            # Split lines by hand (a readline would cap line length, and one object may be large); a line
            # split over chunks is kept as parts and joined once, never re-copied chunk after chunk.
            partial: list[bytes] = []
            async for chunk in resp.iter_chunks():
                start = 0
                while (nl := chunk.find(b"\n", start)) >= 0:
                    line = chunk[start:nl]
                    if partial:
                        partial.append(line)
                        line = b"".join(partial)
                        partial.clear()
                    if line.strip():
                        yield _decode_event(line)
                    start = nl + 1
                if start < len(chunk):
                    partial.append(chunk[start:] if start else chunk)
            rest = b"".join(partial)
            if rest.strip():
                yield _decode_event(rest)

    # ------------------------------------------------------------------ writes

    async def create(self, res: Resource, body: Obj, namespace: str | None = None, *,
                     field_manager: str | None = None, dry_run: bool = False) -> Obj:
        """POST a new object; ``namespace`` defaults to ``body.metadata.namespace``."""
        ns = namespace if namespace is not None else _ns_of(body)
        obj: Obj = await self._request("POST", res.path(ns), params=self._write_params(field_manager, dry_run),
                                       body=_with_type(res, body))
        return obj

    async def replace(self, res: Resource, body: Obj, namespace: str | None = None, *,
                      field_manager: str | None = None, dry_run: bool = False) -> Obj:
        """PUT an object; its ``metadata.resourceVersion`` (if set) is the optimistic-concurrency precondition."""
        return await self._put(res, body, namespace, None, field_manager, dry_run)

    async def replace_status(self, res: Resource, body: Obj, namespace: str | None = None, *,
                             field_manager: str | None = None) -> Obj:
        """PUT the status subresource (only ``status`` changes are kept)."""
        return await self._put(res, body, namespace, "status", field_manager, False)

    async def _put(self, res: Resource, body: Obj, namespace: str | None, subresource: str | None,
                   field_manager: str | None, dry_run: bool) -> Obj:
        name = (body.get("metadata") or {}).get("name")
        if not name:
            raise ValueError("replace needs metadata.name")
        ns = namespace if namespace is not None else _ns_of(body)
        obj: Obj = await self._request("PUT", res.path(ns, name, subresource),
                                       params=self._write_params(field_manager, dry_run), body=_with_type(res, body))
        return obj

    async def patch(self, res: Resource, name: str, body: Any, namespace: str | None = None, *,
                    patch_type: PatchType = "merge", subresource: str | None = None,
                    field_manager: str | None = None, force: bool | None = None, dry_run: bool = False) -> Obj:
        """PATCH an object: merge (RFC 7386), json (RFC 6902 list of ops), strategic, or server-side apply.

        For ``apply`` the body must be a full intent with apiVersion/kind
        (filled in from ``res`` when missing) and ``force`` takes ownership of
        conflicting fields.
        """
        try:
            content_type = PATCH_CONTENT_TYPES[patch_type]
        except KeyError:
            raise ValueError(f"unknown patch type {patch_type!r}") from None
        params = self._write_params(field_manager, dry_run)
        if force is not None:
            params["force"] = "true" if force else "false"
        if patch_type == "apply" and isinstance(body, dict):
            body = _with_type(res, body)
        obj: Obj = await self._request("PATCH", res.path(namespace, name, subresource), params=params,
                                       body=body, content_type=content_type)
        return obj

    async def patch_status(self, res: Resource, name: str, body: Any, namespace: str | None = None, *,
                           patch_type: PatchType = "merge", field_manager: str | None = None,
                           force: bool | None = None) -> Obj:
        """PATCH the status subresource."""
        return await self.patch(res, name, body, namespace, patch_type=patch_type, subresource="status",
                                field_manager=field_manager, force=force)

    async def delete(self, res: Resource, name: str, namespace: str | None = None, *,
                     propagation_policy: Literal["Background", "Foreground", "Orphan"] | None = None,
                     preconditions: Mapping[str, str] | None = None,
                     grace_period_seconds: int | None = None) -> Obj:
        """DELETE an object; returns the object (still present while finalizers remain) or a Status.

        ``preconditions`` may hold ``uid`` and/or ``resourceVersion``: the
        delete fails with :class:`Conflict` if the object changed.
        """
        options: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        if preconditions:
            options["preconditions"] = dict(preconditions)
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        obj: Obj = await self._request("DELETE", res.path(namespace, name), body=options)
        return obj

    async def evict(self, pod_name: str, namespace: str, *, delete_options: Mapping[str, Any] | None = None) -> None:
        """Evict a pod through the Eviction API (429 means a disruption budget forbids it now)."""
        body: Obj = {"apiVersion": "policy/v1", "kind": "Eviction",
                     "metadata": {"name": pod_name, "namespace": namespace}}
        if delete_options:
            body["deleteOptions"] = dict(delete_options)
        await self._request("POST", PODS.path(namespace, pod_name, "eviction"), body=body)

    async def create_token(self, namespace: str, service_account: str, audiences: Iterable[str] = (),
                           expiration_seconds: int | None = None, bound_object: Obj | None = None) -> IssuedToken:
        """Issue a bearer token for a ServiceAccount (TokenRequest, ``authentication.k8s.io/v1``).

        `bound_object` binds the token to a Pod, Secret or Node (`spec.boundObjectRef`: the object itself,
        as read from the API): it dies with that object, and a Pod's names the Pod's node.
        """
        spec: Obj = {"audiences": list(audiences)}
        if expiration_seconds is not None:
            spec["expirationSeconds"] = expiration_seconds
        if bound_object is not None:
            meta = bound_object.get("metadata") or {}
            spec["boundObjectRef"] = {"kind": bound_object.get("kind", ""),
                                      "apiVersion": bound_object.get("apiVersion", ""),
                                      "name": meta.get("name", ""), "uid": meta.get("uid", "")}
        body: Obj = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        answer: Obj = await self._request("POST", SERVICEACCOUNTS.path(namespace, service_account, "token"),
                                          body=body)
        status = answer.get("status") or {}
        return IssuedToken(str(status.get("token", "")), str(status.get("expirationTimestamp", "")))


def _decode_event(line: bytes) -> WatchEvent:
    ev = orjson.loads(line)
    etype = ev.get("type", "")
    obj = ev.get("object") or {}
    if etype == "ERROR":
        raise error_from_status(obj)
    return WatchEvent(etype, obj)


def _ns_of(body: Obj) -> str | None:
    ns = (body.get("metadata") or {}).get("namespace")
    return str(ns) if ns else None


def _with_type(res: Resource, body: Obj) -> Obj:
    if body.get("kind") and body.get("apiVersion"):
        return body
    return {"apiVersion": res.api_version, "kind": res.kind, **body}

