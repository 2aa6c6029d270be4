"""Hostile requests for every route the server publishes, as hypothesis strategies (the fuzz suite and the
soak script `bench/fuzz_soak.py` share them).

Routes come from the server's own `/openapi/v3` documents (every path template, every method, every
parameter), plus the routes OpenAPI does not list (discovery, health, `/watch/` paths, subresources
without a schema). Each request mixes a valid skeleton with hostile parts: random JSON where an object
is expected, wrong types in DeleteOptions and subresource bodies, deep nesting, invalid UTF-8, query
parameters out of range, unknown or mismatched content types, protobuf bytes.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

import orjson
from hypothesis import strategies as st

from kubenode.apiserver.protobuf import MAGIC

CONTENT_TYPES = [
    "application/json", "application/yaml", "application/merge-patch+json", "application/json-patch+json",
    "application/strategic-merge-patch+json", "application/apply-patch+yaml", "application/vnd.kubernetes.protobuf",
    "application/cbor", "text/plain", "", "application/json; charset=utf-16", "garbage/&&&", "multipart/form-data",
]

QUERY_VALUES: list[str] = [
    "", "0", "1", "-1", "1e400", "9" * 40, "true", "false", "All", "Exact", "NotOlderThan", "Bogus", "Strict",
    "Background", "Foreground", "Orphan", "x=y", "!", "a in (b", "metadata.name=kept", "\u00e9\u0000", "%ff",
    "eyJ2Ijoia3ViZW5vZGUvMSJ9", "NaN", "0x10", " 5",
]

QUERY_NAMES = [
    "limit", "continue", "resourceVersion", "resourceVersionMatch", "timeoutSeconds", "labelSelector",
    "fieldSelector", "dryRun", "fieldManager", "fieldValidation", "propagationPolicy", "gracePeriodSeconds",
    "orphanDependents", "sendInitialEvents", "allowWatchBookmarks", "force", "pretty", "includeObject",
]

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
NAMES = ["kept", "missing", "x" * 300, "UPPER", "a/b", "..", "%2e", "default", "n1"]
NAMESPACES = ["default", "kube-system", "missing-ns", "BAD_NS"]


def json_values(depth: int = 4) -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
    return st.recursive(scalars, lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=10), kids, max_size=4)), max_leaves=12)


def _nest(depth: int, leaf: Any) -> Any:
    for i in range(depth):
        leaf = {"k": leaf} if i % 2 else [leaf]
    return leaf


def _dumps(value: Any) -> bytes:
    """JSON of `value`; integers beyond 64 bits are sent too (orjson refuses them, the json module does not)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value).encode()


@dataclass
class Route:
    """One method on one path template (`{name}`-style placeholders)."""

    method: str
    template: str
    kind: str = ""
    api_version: str = ""


def skeleton(route: Route, name: str) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": name}}
    if route.kind:
        body["kind"] = route.kind
    if route.api_version:
        body["apiVersion"] = route.api_version
    return body


FIELDS_TO_BREAK = ["metadata", "spec", "status", "data", "deleteOptions", "preconditions", "propagationPolicy",
                   "gracePeriodSeconds", "orphanDependents", "dryRun", "kind", "apiVersion", "labels",
                   "annotations", "finalizers", "ownerReferences", "managedFields", "uid", "resourceVersion",
                   "generation", "creationTimestamp", "namespace", "name", "generateName", "items", "replicas"]


@st.composite
def bodies(draw: st.DrawFn, route: Route, name: str) -> tuple[bytes | None, str]:
    """(raw body or None, content type)."""
    ctype = draw(st.sampled_from(CONTENT_TYPES))
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return None, ctype
    if choice == 1:
        return draw(st.binary(max_size=64)), ctype
    if choice == 2:
        return MAGIC + draw(st.binary(max_size=64)), "application/vnd.kubernetes.protobuf"
    if choice == 3:
        depth = draw(st.sampled_from([150, 199, 201, 253, 260, 1000, 5000]))
        return orjson.dumps(_nest(min(depth, 250), {})) if depth <= 250 else (
            b"[" * depth + b"]" * depth), draw(st.sampled_from(["application/json", "application/yaml"]))
    if choice == 4:
        return _dumps(draw(json_values())), ctype
    if choice == 5:
        ops = draw(st.lists(st.fixed_dictionaries({"op": st.sampled_from(
            ["add", "remove", "replace", "move", "copy", "test", "bogus"]), "path": st.sampled_from(
            ["/metadata/name", "/metadata", "/", "", "/data/x", "/metadata/labels/a", "/spec/-", "/x/0/y", "~"]),
        }, optional={"value": json_values(), "from": st.sampled_from(["/metadata", "/data", "", "/nope"])}),
            max_size=3))
        return _dumps(ops), "application/json-patch+json"
    body = skeleton(route, name)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["top", "metadata", "deep"]))
        key = draw(st.sampled_from(FIELDS_TO_BREAK))
        value = draw(json_values())
        if where == "top":
            body[key] = value
        elif where == "metadata" and isinstance(body.get("metadata"), dict):
            body["metadata"][key] = value
        else:
            body.setdefault("deleteOptions", {})
            if isinstance(body["deleteOptions"], dict):
                body["deleteOptions"][key] = value
    if choice == 9:
        return _dumps(body).replace(b'"', b"'", 1), ctype  # almost JSON
    return _dumps(body), ctype


@st.composite
def requests(draw: st.DrawFn, routes: list[Route]) -> tuple[str, str, dict[str, str], bytes | None, str]:
    """(method, path with query, headers, body, content type)."""
    route = draw(st.sampled_from(routes))
    name = draw(st.sampled_from(NAMES))
    path = route.template.replace("{namespace}", draw(st.sampled_from(NAMESPACES))).replace("{name}", name)
    method = route.method if draw(st.integers(0, 4)) else draw(st.sampled_from(METHODS))
    query = draw(st.dictionaries(st.sampled_from(QUERY_NAMES), st.sampled_from(QUERY_VALUES), max_size=4))
    if method == "GET" and draw(st.booleans()):
        query["watch"] = draw(st.sampled_from(["1", "true", "false", "x"]))
    if query.get("watch") in ("1", "true") or "/watch/" in path:
        query["timeoutSeconds"] = draw(st.sampled_from(["1", "0", "1e400", "-5", "99999999999999999999"]))
    raw, ctype = draw(bodies(route, name)) if method in ("POST", "PUT", "PATCH", "DELETE") else (None, "")
    headers: dict[str, str] = {}
    if ctype:
        headers["Content-Type"] = ctype
    accept = draw(st.sampled_from(["application/json", "application/json;as=Table;v=v1;g=meta.k8s.io",
                                   "application/yaml", "*/*", "application/vnd.kubernetes.protobuf", "x/y"]))
    headers["Accept"] = accept
    qs = urllib.parse.urlencode(query)
    return method, path + (f"?{qs}" if qs else ""), headers, raw, ctype


def routes_from_openapi(get_json: Any) -> list[Route]:
    """Every (method, path template) of the server's own /openapi/v3, plus what OpenAPI does not list."""
    out: list[Route] = []
    index = get_json("/openapi/v3")
    for entry in index["paths"].values():
        doc = get_json(entry["serverRelativeURL"])
        for template, item in doc["paths"].items():
            for method, op in item.items():
                if method == "parameters":
                    continue
                gvk = (op.get("x-kubernetes-group-version-kind") or {})
                group, version, kind = gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")
                api_version = f"{group}/{version}" if group else version
                out.append(Route(method.upper(), template, kind, api_version))
    for extra in ["/", "/api", "/apis", "/version", "/healthz", "/livez", "/readyz", "/openapi/v2", "/openapi/v3",
                  "/apis/apps", "/api/v1/watch/namespaces/{namespace}/configmaps",
                  "/api/v1/namespaces/{namespace}/pods/{name}/eviction",
                  "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                  "/api/v1/namespaces/{name}/finalize", "/api/v1/namespaces/{namespace}/configmaps/{name}/bogus",
                  "/nonsense/path", "/apis/nope.example.com/v1/things"]:
        for method in ("GET", "POST", "PUT"):
            out.append(Route(method, extra))
    return out


class Connection:
    """A keep-alive HTTPS connection to the server; reconnects after the server closed it."""

    def __init__(self, host: str, port: int, ctx: ssl.SSLContext, token: str) -> None:
        self.host, self.port, self.ctx, self.token = host, port, ctx, token
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPSConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=60)
            self._local.conn = conn
        return conn

    def request(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> tuple[int, bytes]:
        """Send and read the answer; a watch's stream is read up to its first line only."""
        hdrs = dict(headers, Authorization=f"Bearer {self.token}")
        for attempt in (0, 1):
            conn = self._conn()
            try:
                conn.request(method, path, body=body, headers=hdrs)
                resp = conn.getresponse()
                if resp.getheader("Transfer-Encoding") == "chunked" and resp.status == 200 and "watch" in path:
                    resp.close()
                    self.close()  # the stream stays open server-side until it notices
                    return resp.status, b""
                return resp.status, resp.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get_json(self, path: str) -> Any:
        status, body = self.request("GET", path, {"Accept": "application/json"}, None)
        assert status == 200, (path, status, body[:300])
        return orjson.loads(body)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
