"""KubeClient against the real embedded API server: CRUD, patches, lists, watch, errors, tokens.

Every test runs once per HTTP transport (aiohttp, the default, and h11, the agent's light one).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubenode.apiserver.server import RunningServer, ServerConfig, start_server
from kubenode.client import (
    CONFIGMAPS,
    CRDS,
    NAMESPACES,
    NODES,
    PODS,
    SERVICEACCOUNTS,
    AlreadyExists,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    KubeClient,
    NotFound,
    Resource,
    Unauthorized,
    UnsupportedMediaType,
    WatchEvent,
)

from .clients import config_for, first_events
from .crds import WIDGET_CRD

NS = "default"


@pytest.fixture
async def client(server: RunningServer, transport: str) -> AsyncIterator[KubeClient]:
    async with KubeClient(config_for(server.kubeconfig, transport)) as c:
        yield c


async def drain(stream: AsyncIterator[WatchEvent]) -> None:
    async for _ in stream:
        pass


def cm(name: str, **labels: str) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": NS, "labels": labels}, "data": {"k": "v"}}


async def test_create_get_replace_delete(client: KubeClient) -> None:
    created = await client.create(CONFIGMAPS, cm("a"))
    assert created["metadata"]["uid"] and created["kind"] == "ConfigMap"
    got = await client.get(CONFIGMAPS, "a", NS)
    assert got["data"] == {"k": "v"}
    got["data"]["k"] = "w"
    replaced = await client.replace(CONFIGMAPS, got)
    assert replaced["data"]["k"] == "w"
    # The stale resourceVersion of `got` is an optimistic-concurrency precondition.
    with pytest.raises(Conflict):
        await client.replace(CONFIGMAPS, got)
    with pytest.raises(AlreadyExists):
        await client.create(CONFIGMAPS, cm("a"))
    with pytest.raises(Conflict):
        await client.delete(CONFIGMAPS, "a", NS, preconditions={"uid": "not-the-uid"})
    await client.delete(
        CONFIGMAPS, "a", NS, propagation_policy="Background", preconditions={"uid": created["metadata"]["uid"]}
    )
    with pytest.raises(NotFound) as exc:
        await client.get(CONFIGMAPS, "a", NS)
    assert exc.value.status == 404 and exc.value.reason == "NotFound"


async def test_invalid_carries_causes(client: KubeClient) -> None:
    with pytest.raises(Invalid) as exc:
        await client.create(CONFIGMAPS, cm("Not_A_Valid_Name"))
    assert exc.value.status == 422 and exc.value.causes


async def test_patch_types(client: KubeClient) -> None:
    await client.create(CONFIGMAPS, cm("p"))
    merged = await client.patch(CONFIGMAPS, "p", {"data": {"m": "1"}}, NS)
    assert merged["data"] == {"k": "v", "m": "1"}
    jsonp = await client.patch(CONFIGMAPS, "p", [{"op": "remove", "path": "/data/k"}], NS, patch_type="json")
    assert jsonp["data"] == {"m": "1"}
    strategic = await client.patch(CONFIGMAPS, "p", {"metadata": {"labels": {"s": "1"}}}, NS, patch_type="strategic")
    assert strategic["metadata"]["labels"]["s"] == "1"
    applied = await client.patch(
        CONFIGMAPS,
        "p",
        {"metadata": {"name": "p"}, "data": {"a": "1"}},
        NS,
        patch_type="apply",
        field_manager="tester",
        force=True,
    )
    assert applied["data"]["a"] == "1"
    managers = {m["manager"] for m in applied["metadata"].get("managedFields", [])}
    assert "tester" in managers


async def test_status_subresource(client: KubeClient) -> None:
    node = await client.create(NODES, {"metadata": {"name": "n1"}, "spec": {}})
    patched = await client.patch_status(NODES, "n1", {"status": {"capacity": {"cpu": "4"}}})
    assert patched["status"]["capacity"]["cpu"] == "4"
    # The main endpoint ignores status; the status endpoint keeps only status.
    node = await client.get(NODES, "n1")
    node["status"]["capacity"]["cpu"] = "8"
    node["spec"]["unschedulable"] = True
    replaced = await client.replace_status(NODES, node)
    assert replaced["status"]["capacity"]["cpu"] == "8" and not replaced["spec"].get("unschedulable")


async def test_list_pages_and_selectors(client: KubeClient) -> None:
    for i in range(7):
        await client.create(CONFIGMAPS, cm(f"l{i}", parity="even" if i % 2 == 0 else "odd"))
    items, rv = await client.list(CONFIGMAPS, NS, limit=3)
    names = [i["metadata"]["name"] for i in items]
    assert [n for n in names if n.startswith("l")] == [f"l{i}" for i in range(7)]
    assert int(rv) > 0 and all(i["kind"] == "ConfigMap" and i["apiVersion"] == "v1" for i in items)
    odd, _ = await client.list(CONFIGMAPS, NS, label_selector="parity=odd", limit=2)
    assert [i["metadata"]["name"] for i in odd] == ["l1", "l3", "l5"]
    one, _ = await client.list(CONFIGMAPS, None, field_selector="metadata.name=l4")
    assert [i["metadata"]["name"] for i in one] == ["l4"]


async def test_watch_streams_events(client: KubeClient) -> None:
    _, rv = await client.list(CONFIGMAPS, NS)
    stream = client.watch(CONFIGMAPS, NS, resource_version=rv, timeout_seconds=10)
    task = asyncio.create_task(first_events(stream, 3))
    await client.create(CONFIGMAPS, cm("w"))
    await client.patch(CONFIGMAPS, "w", {"data": {"x": "1"}}, NS)
    await client.delete(CONFIGMAPS, "w", NS)
    events = await asyncio.wait_for(task, 10)
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        ("ADDED", "w"),
        ("MODIFIED", "w"),
        ("DELETED", "w"),
    ]


async def test_watch_bookmarks_and_server_timeout(client: KubeClient) -> None:
    _, rv = await client.list(CONFIGMAPS, NS)
    types = []
    async with asyncio.timeout(10):
        # The server ends the stream after timeoutSeconds; the iterator then simply stops.
        async for ev in client.watch(CONFIGMAPS, NS, resource_version=rv, timeout_seconds=1, allow_bookmarks=True):
            types.append(ev.type)
    assert "BOOKMARK" in types


async def test_watch_too_old_raises_gone(tmp_path: Path, transport: str) -> None:
    srv = await start_server(ServerConfig(data_dir=tmp_path / "d", port=0, watch_history=4))
    try:
        async with KubeClient(config_for(srv.kubeconfig, transport)) as c:
            first = await c.create(CONFIGMAPS, cm("x0"))
            for i in range(1, 10):
                await c.create(CONFIGMAPS, cm(f"x{i}"))
            with pytest.raises(Gone) as exc:
                await asyncio.wait_for(
                    drain(c.watch(CONFIGMAPS, NS, resource_version=first["metadata"]["resourceVersion"])), 10
                )
            assert exc.value.status == 410 and exc.value.reason == "Expired"
    finally:
        await srv.stop()


async def test_evict(client: KubeClient) -> None:
    await client.create(
        PODS, {"metadata": {"name": "p", "namespace": NS}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    )
    await client.evict("p", NS)
    with pytest.raises(NotFound):
        await client.get(PODS, "p", NS)


async def test_token_request_and_authentication(server: RunningServer, client: KubeClient) -> None:
    await client.create(SERVICEACCOUNTS, {"metadata": {"name": "robot", "namespace": NS}})
    issued = await client.create_token(NS, "robot", audiences=["api"], expiration_seconds=3600)
    assert issued.token and issued.expiration_timestamp
    base = client.config
    async with KubeClient(dataclasses.replace(base, token=issued.token)) as robot:
        with pytest.raises(Forbidden):  # authenticated, but no rule allows a service account anything
            await robot.list(CONFIGMAPS, NS)
    async with KubeClient(dataclasses.replace(base, token="bogus")) as stranger:
        with pytest.raises(Unauthorized):
            await stranger.list(CONFIGMAPS, NS)


async def test_strategic_merge_on_custom_resource_is_415(client: KubeClient) -> None:
    await client.create(CRDS, WIDGET_CRD)
    res = Resource("example.com", "v1", "widgets", "Widget", namespaced=True)
    await client.create(res, {"metadata": {"name": "w1", "namespace": NS}, "spec": {"size": "small"}})
    with pytest.raises(UnsupportedMediaType):
        await client.patch(res, "w1", {"spec": {"size": "large"}}, NS, patch_type="strategic")
    merged = await client.patch(res, "w1", {"spec": {"size": "large"}}, NS)
    assert merged["spec"]["size"] == "large"


async def test_client_side_rate_limit(server: RunningServer, transport: str) -> None:
    cfg = dataclasses.replace(config_for(server.kubeconfig, transport), qps=20.0, burst=1)
    async with KubeClient(cfg) as c:
        started = time.monotonic()
        for _ in range(6):
            await c.get(NAMESPACES, "default")
        # 1 burst token, then 5 more at 20/s: at least 0.25 s.
        assert time.monotonic() - started >= 0.24
