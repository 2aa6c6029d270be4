"""Watch semantics: initial events, resume, 410 Expired, bookmarks, timeouts, selectors."""

from __future__ import annotations

import asyncio
from typing import Any

from kubenode.apiserver.server import RunningServer

from .kube import Kube

CM = "/api/v1/namespaces/default/configmaps"


async def collect(kube: Kube, path: str, params: dict[str, str], n: int, within: float = 10) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    async def run() -> None:
        async for ev in kube.watch(path, params):
            out.append(ev)
            if len(out) >= n:
                return

    await asyncio.wait_for(run(), within)
    return out


async def test_watch_from_zero_sends_initial_added(kube: Kube) -> None:
    await kube.post(CM, {"metadata": {"name": "a"}})
    await kube.post(CM, {"metadata": {"name": "b"}})
    events = await collect(kube, CM, {"resourceVersion": "0", "timeoutSeconds": "5"}, 2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a"), ("ADDED", "b")]


async def test_watch_resumes_after_resource_version(kube: Kube) -> None:
    r = await kube.post(CM, {"metadata": {"name": "a"}})
    rv = r.json["metadata"]["resourceVersion"]
    task = asyncio.create_task(collect(kube, CM, {"resourceVersion": rv, "timeoutSeconds": "10"}, 3))
    await asyncio.sleep(0.2)
    await kube.patch(CM + "/a", {"data": {"x": "1"}})
    await kube.post(CM, {"metadata": {"name": "b"}})
    await kube.delete(CM + "/a")
    events = await task
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)


async def test_label_selector_watch_turns_transitions_into_added_deleted(kube: Kube) -> None:
    r = await kube.post(CM, {"metadata": {"name": "s", "labels": {"app": "x"}}})
    rv = r.json["metadata"]["resourceVersion"]
    task = asyncio.create_task(collect(kube, CM, {"resourceVersion": rv, "labelSelector": "app=y",
                                                  "timeoutSeconds": "10"}, 2))
    await asyncio.sleep(0.2)
    await kube.patch(CM + "/s", {"metadata": {"labels": {"app": "y"}}})
    await kube.patch(CM + "/s", {"metadata": {"labels": {"app": "z"}}})
    events = await task
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]


async def test_watch_too_old_is_410_expired(tmp_path: Any) -> None:
    from kubenode.apiserver.server import ServerConfig, start_server

    srv = await start_server(ServerConfig(data_dir=tmp_path / "d", port=0, watch_history=4))
    kube = Kube(srv)
    try:
        first = await kube.post(CM, {"metadata": {"name": "x0"}})
        for i in range(1, 12):
            await kube.post(CM, {"metadata": {"name": f"x{i}"}})
        events = await collect(kube, CM, {"resourceVersion": first.json["metadata"]["resourceVersion"]}, 1)
        assert events[0]["type"] == "ERROR"
        assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
        assert "too old resource version" in events[0]["object"]["message"]
    finally:
        await kube.close()
        await srv.stop()


async def test_bookmarks_and_timeout(kube: Kube) -> None:
    r = await kube.get(CM)
    rv = r.json["metadata"]["resourceVersion"]
    events: list[dict[str, Any]] = []
    async for ev in kube.watch(CM, {"resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": "1"}):
        events.append(ev)
    # the stream ended by itself after timeoutSeconds, with at least one bookmark
    assert events and all(e["type"] == "BOOKMARK" for e in events)
    assert events[0]["object"]["metadata"]["resourceVersion"]


async def test_send_initial_events(kube: Kube) -> None:
    await kube.post(CM, {"metadata": {"name": "i1"}})
    events = await collect(kube, CM, {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
                                      "allowWatchBookmarks": "true", "timeoutSeconds": "5"}, 2)
    assert events[0]["type"] == "ADDED"
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    r = await kube.get(CM, params={"watch": "true", "sendInitialEvents": "true"})
    assert r.status == 422


async def test_watch_single_object_by_name(kube: Kube, server: RunningServer) -> None:
    await kube.post(CM, {"metadata": {"name": "one"}})
    await kube.post(CM, {"metadata": {"name": "two"}})
    events = await collect(kube, CM, {"fieldSelector": "metadata.name=two", "resourceVersion": "0",
                                      "timeoutSeconds": "3"}, 1)
    assert events[0]["object"]["metadata"]["name"] == "two"


async def test_table_watch(kube: Kube) -> None:
    await kube.post(CM, {"metadata": {"name": "t"}, "data": {"a": "1"}})
    out: list[dict[str, Any]] = []
    async with kube.session.get(kube.base + CM, params={"watch": "true", "resourceVersion": "0",
                                                        "timeoutSeconds": "1"},
                                headers={"Authorization": f"Bearer {kube.token}",
                                         "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
                                ssl=kube.ssl) as resp:
        import orjson

        async for line in resp.content:
            if line.strip():
                out.append(orjson.loads(line))
    assert out[0]["object"]["kind"] == "Table"
    assert out[0]["object"]["columnDefinitions"][0]["name"] == "Name"
    assert out[0]["object"]["rows"][0]["cells"][0] == "t"
