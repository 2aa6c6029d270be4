"""The embedded server on each event loop `kubenode apiserver` can run on (kubenode.cli.eventloop).

The other integration tests run on pytest-asyncio's loop (asyncio's own); here one scenario runs, through
`eventloop.run` exactly as the CLI starts the server, on uvloop and on asyncio: TLS with a bearer token and
with a client certificate, a create, merge and strategic-merge patches, a watch that sees them, a slow
request head cut off by the header deadline, and a clean stop.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from kubenode.apiserver.hardening import Limits
from kubenode.apiserver.security import client_ssl_context
from kubenode.apiserver.server import ServerConfig, start_server
from kubenode.cli import eventloop

from ..client_certificates import client_certificate

LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


async def _scenario(data: Path) -> dict[str, Any]:
    srv = await start_server(ServerConfig(data_dir=data, port=0, limits=Limits(header_timeout=1.0)))
    seen: dict[str, Any] = {"loop": type(asyncio.get_running_loop()).__module__.split(".")[0]}
    try:
        ssl_ctx = client_ssl_context(srv.pki.ca_cert)
        headers = {"Authorization": f"Bearer {srv.admin_token}", "Content-Type": "application/json"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_ctx)) as s:
            async def call(method: str, path: str, body: Any = None, ctype: str = "application/json") -> Any:
                async with s.request(method, srv.url + path, data=orjson.dumps(body) if body is not None else None,
                                     headers={**headers, "Content-Type": ctype}) as r:
                    return r.status, orjson.loads(await r.read())

            st, lease = await call("POST", LEASES, {"metadata": {"name": "n1"}, "spec": {"holderIdentity": "n1"}})
            assert st == 201, lease
            async with s.get(srv.url + LEASES, headers=headers, params={
                    "watch": "true", "resourceVersion": lease["metadata"]["resourceVersion"],
                    "timeoutSeconds": "30"}) as w:
                renew = {"spec": {"renewTime": "2026-12-03T07:00:00.000000Z"}}
                st, patched = await call("PATCH", f"{LEASES}/n1", renew, "application/merge-patch+json")
                assert st == 200, patched
                st, smp = await call("PATCH", f"{LEASES}/n1", {"metadata": {"labels": {"zone": "a"}}},
                                     "application/strategic-merge-patch+json")
                assert st == 200, smp
                events = []
                async for line in w.content:
                    if line.strip():
                        events.append(orjson.loads(line))
                    if len(events) == 2:
                        break
            seen["events"] = [(e["type"], e["object"]["metadata"]["resourceVersion"]) for e in events]
            seen["rvs"] = [patched["metadata"]["resourceVersion"], smp["metadata"]["resourceVersion"]]
            seen["lease"] = smp["spec"], smp["metadata"]["labels"]
        cert_ctx = client_ssl_context(srv.pki.ca_cert)
        cert_ctx.load_cert_chain(*map(str, client_certificate(srv.pki.ca_cert.parent, organization="system:nodes",
                                                             common_name="system:node:n1", name="n1")))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=cert_ctx)) as s, s.post(
                srv.url + WHOAMI, data=b'{"kind":"SelfSubjectReview","apiVersion":"authentication.k8s.io/v1"}',
                headers={"Content-Type": "application/json"}) as r:
            seen["whoami"] = r.status, orjson.loads(await r.read())["status"]["userInfo"]["username"]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", srv.port, ssl=client_ssl_context(srv.pki.ca_cert), server_hostname="127.0.0.1")
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and the rest of the head never comes
            await writer.drain()
            with contextlib.suppress(ConnectionError):
                seen["slow head"] = await asyncio.wait_for(reader.read(), 20)  # a bound on the wait, not a timing
        finally:
            writer.close()
    finally:
        await srv.stop()
    return seen


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_the_server_on_each_event_loop(tmp_path: Path, loop: str) -> None:
    seen = eventloop.run(_scenario(tmp_path / "data"), loop)
    assert seen["loop"] == loop
    assert seen["events"] == [("MODIFIED", seen["rvs"][0]), ("MODIFIED", seen["rvs"][1])]
    assert seen["lease"] == ({"holderIdentity": "n1", "renewTime": "2026-12-03T07:00:00.000000Z"}, {"zone": "a"})
    assert seen["whoami"] == (201, "system:node:n1")
    assert seen["slow head"] == b""  # closed by the server, nothing answered
