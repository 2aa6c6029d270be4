"""Fuzz every route of the embedded server (from its own /openapi/v3): no 5xx, a 4xx stores nothing, and the
server stays up and ready.

The server runs on a loop of its own thread so hypothesis drives it synchronously; its control loops are
stopped so that nothing but the fuzzed request can write. The CI budget is `FUZZ_EXAMPLES` (default 250)
examples; `bench/fuzz_soak.py` runs the same requests for as long as you like.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubenode.apiserver.security import client_ssl_context
from kubenode.apiserver.server import RunningServer, ServerConfig, start_server

from .crds import WIDGET_CRD
from .fuzz_requests import Connection, Route, requests, routes_from_openapi

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "250"))


@dataclass
class Target:
    server: RunningServer
    loop: asyncio.AbstractEventLoop
    conn: Connection
    routes: list[Route]

    def run(self, coro: Any) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(60)


def _serve(data: Path) -> Iterator[Target]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzz-server", daemon=True)
    thread.start()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(60)

    server: RunningServer = run(start_server(ServerConfig(data_dir=data, port=0, bookmark_interval=0.5)))
    run(server.loops.stop())
    conn = Connection("127.0.0.1", server.port, client_ssl_context(server.pki.ca_cert), server.admin_token)
    target = Target(server, loop, conn, [])
    for path, body in [("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "kept"}}),
                       ("/api/v1/nodes", {"metadata": {"name": "n1"}}),
                       ("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "kept"}})]:
        status, raw = conn.request("POST", path, {"Content-Type": "application/json"}, orjson.dumps(body))
        assert status == 201, raw
    status, raw = conn.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                               {"Content-Type": "application/json"}, orjson.dumps(WIDGET_CRD))
    assert status == 201, raw

    def served() -> bool:
        return conn.request("GET", "/openapi/v3", {}, None)[1].count(b"example.com") > 0

    deadline = time.monotonic() + 30
    while not served():
        assert time.monotonic() < deadline, "the CRD was never served"
        time.sleep(0.05)
    target.routes = routes_from_openapi(conn.get_json)
    try:
        yield target
    finally:
        conn.close()
        run(server.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    yield from _serve(tmp_path_factory.mktemp("fuzz") / "data")


def check(target: Target, method: str, path: str, headers: dict[str, str], body: bytes | None) -> None:
    """One request: never a 5xx; a 4xx is a Status and stores nothing."""
    store = target.server.store
    rv = store.rv
    status, raw = target.conn.request(method, path, headers, body)
    request = f"{method} {path} {headers} {body[:300] if body else body!r}"
    assert status < 500, f"{status} for {request}: {raw[:500]!r}"
    if 400 <= status < 500:
        assert store.rv == rv, f"a {status} stored something: {request}: {raw[:300]!r}"
        if path.startswith(("/api", "/apis")) and not path.startswith("/apis?"):
            status_obj = orjson.loads(raw)
            assert status_obj["kind"] == "Status" and status_obj["code"] == status, raw[:300]


def test_routes_come_from_openapi(target: Target) -> None:
    templates = {r.template for r in target.routes}
    assert "/api/v1/namespaces/{namespace}/configmaps/{name}" in templates
    assert any(t.endswith("/status") for t in templates) and any(t.endswith("/scale") for t in templates)
    assert len(target.routes) > 100


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_fuzz_every_route(target: Target, data: Any) -> None:
    method, path, headers, body = data.draw(requests(target.routes))[:4]
    check(target, method, path, headers, body)


KNOWN = [
    ("DELETE", "/api/v1/namespaces/default/configmaps/kept", b'{"preconditions":"x"}'),
    ("DELETE", "/api/v1/namespaces/default/configmaps/kept", b'{"preconditions":{"uid":5}}'),
    ("DELETE", "/api/v1/namespaces/default/configmaps/kept", b'{"propagationPolicy":5}'),
    ("DELETE", "/api/v1/namespaces/default/configmaps/kept", b'{"gracePeriodSeconds":"x"}'),
    ("DELETE", "/api/v1/namespaces/default/configmaps/kept", b'{"dryRun":"All"}'),
    ("DELETE", "/api/v1/namespaces/default/configmaps/kept", b"[]"),
    ("POST", "/api/v1/namespaces/default/pods/kept/eviction", b'{"deleteOptions":"x"}'),
    ("POST", "/api/v1/namespaces/default/pods/kept/eviction", b'{"metadata":"x"}'),
    ("PUT", "/api/v1/namespaces/default/configmaps/kept", b'{"metadata":{"name":"kept","labels":"x"}}'),
    ("PUT", "/api/v1/namespaces/default/configmaps/kept", b'{"metadata":"x"}'),
    ("POST", "/api/v1/namespaces/default/serviceaccounts/kept/token", b'{"spec":{"audiences":"x"}}'),
    ("POST", "/api/v1/namespaces/default/serviceaccounts/kept/token", b'{"spec":{"boundObjectRef":7}}'),
    ("GET", "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1e400", None),
    ("GET", "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=99999999999999999999999", None),
    ("GET", "/api/v1/namespaces/default/configmaps?resourceVersionMatch=Bogus&resourceVersion=1", None),
    ("GET", "/api/v1/namespaces/default/configmaps?resourceVersionMatch=Exact", None),
    ("GET", "/api/v1/namespaces/default/configmaps?limit=99999999999999999999999", None),
    ("GET", "/api/v1/namespaces/default/configmaps?resourceVersion=abc&watch=1&timeoutSeconds=1", None),
    ("PATCH", "/api/v1/namespaces/default/configmaps/kept", b'[{"op":"add","path":"/metadata/labels/a"}]'),
]


@pytest.mark.parametrize(("method", "path", "body"), KNOWN, ids=[f"{m} {p[-40:]} {b!r:.30}" for m, p, b in KNOWN])
def test_known_hostile_requests_are_4xx(target: Target, method: str, path: str, body: bytes | None) -> None:
    ctype = "application/json-patch+json" if method == "PATCH" else "application/json"
    status, raw = target.conn.request(method, path, {"Content-Type": ctype, "Accept": "application/json"}, body)
    assert 400 <= status < 500, (status, raw[:400])


def test_server_is_still_ready_and_holds_its_objects(target: Target) -> None:
    status, raw = target.conn.request("GET", "/readyz", {}, None)
    assert status == 200, raw
    for path in ("/api/v1/namespaces/default/configmaps", "/api/v1/nodes", "/api/v1/namespaces"):
        assert isinstance(target.conn.get_json(path)["items"], list)
