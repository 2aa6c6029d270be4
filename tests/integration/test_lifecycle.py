"""Garbage collection, namespaces, CRD cleanup, node lifecycle and durability across restarts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kubenode.apiserver.server import RunningServer, ServerConfig, start_server

from .crds import widget
from .kube import Kube
from .test_crud import W, make_crd

CM = "/api/v1/namespaces/default/configmaps"


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met before the deadline")


async def owner_and_dependent(kube: Kube, owner: str, dep: str) -> dict[str, Any]:
    o = (await kube.post(CM, {"metadata": {"name": owner}})).json
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": owner, "uid": o["metadata"]["uid"],
           "blockOwnerDeletion": True}
    r = await kube.post(CM, {"metadata": {"name": dep, "ownerReferences": [ref]}})
    assert r.status == 201, r
    return o


async def gone(kube: Kube, path: str) -> bool:
    return (await kube.get(path)).status == 404


async def test_background_gc_deletes_dependents(kube: Kube) -> None:
    await owner_and_dependent(kube, "own", "dep")
    assert (await kube.delete(CM + "/own", {"propagationPolicy": "Background"})).status == 200
    await eventually(lambda: gone(kube, CM + "/dep"))


async def test_foreground_waits_for_dependents(kube: Kube) -> None:
    await owner_and_dependent(kube, "own", "dep")
    r = await kube.delete(CM + "/own", {"propagationPolicy": "Foreground"})
    assert r.status == 200 and "foregroundDeletion" in r.json["metadata"]["finalizers"]
    await eventually(lambda: gone(kube, CM + "/dep"))
    await eventually(lambda: gone(kube, CM + "/own"))


async def test_orphan_keeps_dependents(kube: Kube) -> None:
    await owner_and_dependent(kube, "own", "dep")
    await kube.delete(CM + "/own", {"propagationPolicy": "Orphan"})
    await eventually(lambda: gone(kube, CM + "/own"))
    dep = (await kube.get(CM + "/dep")).json
    assert "ownerReferences" not in dep["metadata"]


async def test_namespace_deletion_removes_content(kube: Kube) -> None:
    assert (await kube.post("/api/v1/namespaces", {"metadata": {"name": "tmp"}})).status == 201
    await kube.post("/api/v1/namespaces/tmp/configmaps", {"metadata": {"name": "c"}})
    r = await kube.delete("/api/v1/namespaces/tmp")
    assert r.status == 200 and r.json["status"]["phase"] == "Terminating"
    r = await kube.post("/api/v1/namespaces/tmp/configmaps", {"metadata": {"name": "late"}})
    assert r.status in (403, 404)
    await eventually(lambda: gone(kube, "/api/v1/namespaces/tmp"))
    assert (await kube.get("/api/v1/namespaces/tmp/configmaps/c")).status == 404


async def test_crd_deletion_removes_instances_and_stops_serving(kube: Kube) -> None:
    await make_crd(kube)
    await kube.post(W, widget("w"))
    await kube.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
    await eventually(lambda: gone(kube, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                                        "widgets.example.com"))
    r = await kube.get(W)
    assert r.status == 404


async def test_node_lease_expiry_marks_ready_unknown(kube: Kube) -> None:
    node = {"metadata": {"name": "n1"}, "status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ok",
         "lastHeartbeatTime": "2020-01-01T00:00:00Z", "lastTransitionTime": "2020-01-01T00:00:00Z"}]}}
    assert (await kube.post("/api/v1/nodes", node)).status == 201
    from kubenode.apiserver.objects import now_micro

    lease = {"metadata": {"name": "n1"}, "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 2,
                                                   "renewTime": now_micro()}}
    r = await kube.post("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease)
    assert r.status == 201, r

    async def ready_status() -> str:
        n = (await kube.get("/api/v1/nodes/n1")).json
        return next(c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready")

    assert await ready_status() == "True"  # lease is fresh (grace is 2 s in these tests)

    async def unknown() -> bool:
        return await ready_status() == "Unknown"

    await eventually(unknown, within=8)
    n = (await kube.get("/api/v1/nodes/n1")).json
    ready = next(c for c in n["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "NodeStatusUnknown"
    assert any(t["key"] == "node.kubernetes.io/unreachable" for t in n["spec"]["taints"])


async def test_restart_loses_nothing(tmp_path: Path) -> None:
    cfg = ServerConfig(data_dir=tmp_path / "d", port=0)
    srv: RunningServer = await start_server(cfg)
    kube = Kube(srv)
    try:
        await make_crd(kube)
        for i in range(20):
            await kube.post(W, widget(f"w{i}"))
        last = (await kube.post(CM, {"metadata": {"name": "last"}})).json
        token = srv.admin_token
    finally:
        await kube.close()
        await srv.stop()
    srv = await start_server(cfg)
    kube = Kube(srv)
    try:
        assert srv.admin_token == token
        r = await kube.get(W)
        assert r.status == 200 and len(r.json["items"]) == 20  # CRD served again after restart
        got = (await kube.get(CM + "/last")).json
        assert got == last
        newer = (await kube.post(CM, {"metadata": {"name": "after"}})).json
        assert int(newer["metadata"]["resourceVersion"]) > int(last["metadata"]["resourceVersion"])
        # history does not survive a restart: old resourceVersions are expired
        async for ev in kube.watch(CM, {"resourceVersion": "1"}):
            assert ev["type"] == "ERROR" and ev["object"]["code"] == 410
            break
    finally:
        await kube.close()
        await srv.stop()
