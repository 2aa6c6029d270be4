"""The controller runtime against the real embedded API server.

Informers (events, re-list after 410, bookmarks, watch restarts), leader
election (one leader, hand-over on stop or cancel, a partitioned leader stops
acting), controllers reconciling ConfigMaps, and the manager's health port.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from kubenode.apiserver.server import RunningServer, ServerConfig, start_server
from kubenode.client import CONFIGMAPS, LEASES, ClientConfig, KubeClient, NotFound, load_config
from kubenode.runtime import (
    Controller,
    Informer,
    InformerFactory,
    LeaderElectionConfig,
    LeaderElector,
    Manager,
    Request,
    Result,
    TerminalError,
    owner_mapper,
)

NS = "default"
Obj = dict[str, Any]


async def eventually(pred: Callable[[], bool | Awaitable[bool]], within: float = 10.0, what: str = "") -> None:
    """Poll ``pred`` until true, failing after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = pred()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {within}s: {what or pred}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[KubeClient]:
    async with KubeClient(load_config(server.kubeconfig)) as c:
        yield c


def cm(name: str, **labels: str) -> Obj:
    return {"metadata": {"name": name, "namespace": NS, "labels": labels}, "data": {}}


def names(objs: list[Obj]) -> set[str]:
    return {o["metadata"]["name"] for o in objs}


# --------------------------------------------------------------------------- informer


async def test_informer_sees_create_update_delete(client: KubeClient) -> None:
    await client.create(CONFIGMAPS, cm("before", app="t"))
    inf = Informer(client, CONFIGMAPS, NS, label_selector="app=t")
    seen: list[tuple[str | None, str | None]] = []

    def record(old: Obj | None, new: Obj | None) -> None:
        seen.append(((old or {}).get("data", {}).get("v"), (new or {}).get("data", {}).get("v")))

    inf.on_change(record)
    inf.start()
    try:
        await asyncio.wait_for(inf.wait_synced(), 10)
        assert names(inf.cache.list()) == {"before"}
        await client.create(CONFIGMAPS, {**cm("x", app="t"), "data": {"v": "1"}})
        await client.create(CONFIGMAPS, cm("other", app="nope"))
        await eventually(lambda: inf.cache.get(NS, "x") is not None, what="added")
        await client.patch(CONFIGMAPS, "x", {"data": {"v": "2"}}, NS)
        await eventually(lambda: (inf.cache.get(NS, "x") or {}).get("data", {}).get("v") == "2", what="updated")
        await client.delete(CONFIGMAPS, "x", NS)
        await eventually(lambda: inf.cache.get(NS, "x") is None, what="deleted")
        assert seen == [(None, None), (None, "1"), ("1", "2"), ("2", None)]
        assert inf.cache.get(NS, "other") is None
        assert (inf.cache.get(NS, "before") or {})["kind"] == "ConfigMap"
    finally:
        await inf.stop()


async def test_informer_relists_after_410_and_reports_missed_deletes(tmp_path: Path) -> None:
    srv = await start_server(ServerConfig(data_dir=tmp_path / "d", port=0, watch_history=4, bookmark_interval=60))
    try:
        async with KubeClient(load_config(srv.kubeconfig)) as c:
            await c.create(CONFIGMAPS, cm("keep"))
            await c.create(CONFIGMAPS, cm("doomed"))
            inf = Informer(c, CONFIGMAPS, NS, min_backoff=0.05)
            deleted: list[str] = []
            inf.on_change(lambda old, new: deleted.append(old["metadata"]["name"]) if new is None and old else None)
            inf.start()
            await asyncio.wait_for(inf.wait_synced(), 10)
            await inf.stop()  # a "long disconnect": the history moves past our resourceVersion meanwhile
            await c.delete(CONFIGMAPS, "doomed", NS)
            for i in range(8):
                await c.create(CONFIGMAPS, cm(f"new{i}"))
            inf.start()
            await eventually(lambda: inf.relists == 2, what="re-list after 410")
            await eventually(lambda: {"keep", *(f"new{i}" for i in range(8))} <= names(inf.cache.list()))
            assert "doomed" not in names(inf.cache.list())
            assert deleted == ["doomed"]
            await c.create(CONFIGMAPS, cm("after"))  # the watch resumed from the new list
            await eventually(lambda: inf.cache.get(NS, "after") is not None)
            await inf.stop()
    finally:
        await srv.stop()


async def test_bookmarks_keep_resource_version_fresh(client: KubeClient) -> None:
    inf = Informer(client, CONFIGMAPS, NS, label_selector="app=quiet")
    inf.start()
    try:
        await asyncio.wait_for(inf.wait_synced(), 10)
        start_rv = int(inf.resource_version or 0)
        last = await client.create(CONFIGMAPS, cm("noise", app="loud"))  # not selected by the informer
        target = int(last["metadata"]["resourceVersion"])
        await eventually(lambda: int(inf.resource_version or 0) >= target, what="bookmark advanced the RV")
        assert target > start_rv and len(inf.cache) == 0
    finally:
        await inf.stop()


async def test_watch_timeouts_restart_without_relist(client: KubeClient) -> None:
    inf = Informer(client, CONFIGMAPS, NS, watch_timeout=1)
    inf.start()
    try:
        await asyncio.wait_for(inf.wait_synced(), 10)
        for i in range(3):
            await client.create(CONFIGMAPS, cm(f"t{i}"))
            await eventually(lambda i=i: inf.cache.get(NS, f"t{i}") is not None)  # type: ignore[misc]
            await asyncio.sleep(0.6)  # span several server-side watch timeouts (1 s) on purpose
        assert inf.relists == 1
    finally:
        await inf.stop()


async def test_factory_shares_informers_and_replays_cache_to_late_handlers(client: KubeClient) -> None:
    await client.create(CONFIGMAPS, cm("a"))
    factory = InformerFactory(client)
    inf = factory.informer(CONFIGMAPS, NS)
    assert factory.informer(CONFIGMAPS, NS) is inf
    assert factory.informer(CONFIGMAPS, NS, label_selector="x=y") is not inf
    factory.start()
    try:
        await asyncio.wait_for(factory.wait_synced(), 10)
        assert factory.has_synced
        replayed: list[str] = []
        inf.on_change(lambda old, new: replayed.append(new["metadata"]["name"]) if new else None)
        assert "a" in replayed
    finally:
        await factory.stop()


# --------------------------------------------------------------------------- leader election


class Partition:
    """A TCP proxy in front of the API server that can black-hole traffic, like a network partition."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.cut = False
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            self._writers.append(up_writer)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if self.cut:
                continue  # drop silently: requests hang, as across a real partition
            writer.write(data)
            await writer.drain()
        writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.close()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self._server.wait_closed()


def le_config(identity: str, name: str = "test-lease", *, lease_duration: float = 1.5,
              renew_deadline: float = 1.0) -> LeaderElectionConfig:
    return LeaderElectionConfig(lease_name=name, lease_namespace=NS, identity=identity,
                                lease_duration=lease_duration, renew_deadline=renew_deadline, retry_period=0.2)


class Candidate:
    """A LeaderElector plus a timeline of when it started/stopped leading."""

    def __init__(self, client: KubeClient, identity: str, timeline: list[tuple[float, str, str]],
                 config: LeaderElectionConfig | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.identity = identity
        self.elector = LeaderElector(
            client, config or le_config(identity),
            on_started_leading=lambda: timeline.append((loop.time(), identity, "start")),
            on_stopped_leading=lambda: timeline.append((loop.time(), identity, "stop")))


def assert_no_overlap(timeline: list[tuple[float, str, str]]) -> None:
    leader: str | None = None
    for _, who, what in sorted(timeline):
        if what == "start":
            assert leader is None, f"{who} started leading while {leader} still led: {timeline}"
            leader = who
        else:
            assert leader == who
            leader = None


#: A lease far longer than a hand-over by release takes: a follower that leads before it could have expired
#: proves the leader handed it back (no timing of the hand-over itself; a loaded machine keeps renewing).
LONG_LEASE = 60.0


async def test_one_leader_and_handover_on_stop(client: KubeClient, server: RunningServer) -> None:
    timeline: list[tuple[float, str, str]] = []
    async with KubeClient(load_config(server.kubeconfig)) as client2:
        a = Candidate(client, "a", timeline, le_config("a", lease_duration=LONG_LEASE, renew_deadline=LONG_LEASE / 2))
        b = Candidate(client2, "b", timeline, le_config("b", lease_duration=LONG_LEASE, renew_deadline=LONG_LEASE / 2))
        a.elector.start()
        b.elector.start()
        try:
            await eventually(lambda: a.elector.is_leader or b.elector.is_leader, what="a leader")
            leader, follower = (a, b) if a.elector.is_leader else (b, a)
            await eventually(lambda: follower.elector.leader == leader.identity, what="follower sees the leader")
            assert not follower.elector.is_leader
            lease = await client.get(LEASES, "test-lease", NS)
            assert lease["spec"]["holderIdentity"] == leader.identity
            assert lease["spec"]["renewTime"].endswith("Z") and "." in lease["spec"]["renewTime"]
            transitions = lease["spec"]["leaseTransitions"]

            await leader.elector.stop()  # graceful: releases the lease
            released = await client.get(LEASES, "test-lease", NS)
            assert released["spec"]["holderIdentity"] in ("", follower.identity)
            await eventually(lambda: follower.elector.is_leader, within=LONG_LEASE / 2,
                             what=f"hand-over by release (waiting for the {LONG_LEASE:.0f} s lease to expire is not)")
            lease = await client.get(LEASES, "test-lease", NS)
            assert lease["spec"]["holderIdentity"] == follower.identity
            assert lease["spec"]["leaseTransitions"] == transitions
        finally:
            await a.elector.stop()
            await b.elector.stop()
    assert_no_overlap(timeline)


async def test_cancelled_leader_task_releases_the_lease(client: KubeClient, server: RunningServer) -> None:
    timeline: list[tuple[float, str, str]] = []
    async with KubeClient(load_config(server.kubeconfig)) as client2:
        a = Candidate(client, "a", timeline)
        task = asyncio.create_task(a.elector.run())
        await eventually(lambda: a.elector.is_leader)
        b = Candidate(client2, "b", timeline)
        b.elector.start()
        try:
            await eventually(lambda: b.elector.leader == "a")
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert not a.elector.is_leader
            await eventually(lambda: b.elector.is_leader, within=1.5, what="b takes over")
        finally:
            await b.elector.stop()
    assert_no_overlap(timeline)


async def test_partitioned_leader_stops_acting(client: KubeClient, server: RunningServer) -> None:
    timeline: list[tuple[float, str, str]] = []
    proxy = Partition(server.port)
    await proxy.start()
    base = load_config(server.kubeconfig)
    partitioned_cfg: ClientConfig = dataclasses.replace(base, server=f"https://127.0.0.1:{proxy.port}")
    try:
        async with KubeClient(partitioned_cfg) as via_proxy, KubeClient(base) as direct:
            a = Candidate(via_proxy, "a", timeline)
            a.elector.start()
            await eventually(lambda: a.elector.is_leader)
            b = Candidate(direct, "b", timeline)
            b.elector.start()
            try:
                await eventually(lambda: b.elector.leader == "a")
                loop = asyncio.get_running_loop()
                cut_at = loop.time()
                proxy.cut = True
                await eventually(lambda: not a.elector.is_leader, within=3, what="partitioned leader stops")
                # It must stop within the renew deadline (+ one retry period of slack), before b can take over.
                assert loop.time() - cut_at < 1.0 + 0.2 + 0.3
                await eventually(lambda: b.elector.is_leader, within=5, what="b takes over")
                await a.elector.wait()  # run() returned: a deposed leader does not campaign again
            finally:
                await a.elector.stop()
                await b.elector.stop()
    finally:
        await proxy.stop()
    assert_no_overlap(timeline)
    assert [w for _, w, what in sorted(timeline) if what == "start"] == ["a", "b"]


# --------------------------------------------------------------------------- controller


async def test_controller_reconciles_configmaps(client: KubeClient) -> None:
    registry = CollectorRegistry()
    factory = InformerFactory(client)
    inf = factory.informer(CONFIGMAPS, NS, label_selector="managed=yes")
    attempts: dict[str, int] = {}
    active: set[Request] = set()
    concurrent_same_key = False

    async def reconcile(req: Request) -> Result | None:
        nonlocal concurrent_same_key
        if req in active:
            concurrent_same_key = True
        active.add(req)
        try:
            attempts[req.name] = attempts.get(req.name, 0) + 1
            obj = inf.cache.get(req.namespace, req.name)
            if obj is None:
                return None
            if req.name == "bad":
                raise TerminalError("spec can never work")
            if req.name == "flaky" and attempts[req.name] < 3:
                raise RuntimeError("transient")
            if (obj.get("data") or {}).get("reconciled") != "true":
                await client.patch(CONFIGMAPS, req.name, {"data": {"reconciled": "true"}}, req.namespace)
            if req.name == "periodic":
                return Result(requeue_after=0.05)
            return None
        finally:
            active.discard(req)

    ctrl = Controller("cms", reconcile, workers=3, registry=registry).watches(inf)
    # Every series exists at zero before anything happened.
    for result in ("success", "error", "requeue"):
        assert registry.get_sample_value("kubenode_controller_reconcile_total",
                                         {"controller": "cms", "result": result}) == 0
    assert registry.get_sample_value("kubenode_controller_reconcile_errors_total", {"controller": "cms"}) == 0
    assert registry.get_sample_value("kubenode_workqueue_depth", {"name": "cms"}) == 0

    factory.start()
    await ctrl.start()
    try:
        for name in ("a", "b", "flaky", "bad", "periodic"):
            await client.create(CONFIGMAPS, cm(name, managed="yes"))

        def reconciled(name: str) -> bool:
            return ((inf.cache.get(NS, name) or {}).get("data") or {}).get("reconciled") == "true"

        await eventually(lambda: all(reconciled(n) for n in ("a", "b", "flaky", "periodic")), what="reconciled")
        assert attempts["flaky"] >= 3  # errors were retried with backoff
        await eventually(lambda: attempts["periodic"] >= 5, what="requeue_after")
        assert attempts["bad"] == 1  # TerminalError is not retried...
        await client.patch(CONFIGMAPS, "bad", {"data": {"touch": "1"}}, NS)
        await eventually(lambda: attempts["bad"] == 2, what="...until the object changes")
        sample = ctrl.sample()
        assert sample["terminal"] == 2 and sample["errors"] >= 4 and sample["success"] >= 3
        assert sample["requeue"] >= 4
        assert not concurrent_same_key
        count = registry.get_sample_value("kubenode_controller_reconcile_duration_seconds_count",
                                          {"controller": "cms"})
        assert count is not None and count >= 10
    finally:
        await ctrl.stop()
        await factory.stop()


async def test_owner_mapper_enqueues_the_owner(client: KubeClient) -> None:
    factory = InformerFactory(client)
    owners = factory.informer(CONFIGMAPS, NS, label_selector="role=owner")
    owned = factory.informer(CONFIGMAPS, NS, label_selector="role=owned")
    reconciled: list[Request] = []

    async def reconcile(req: Request) -> None:
        reconciled.append(req)

    ctrl = Controller("owners", reconcile).watches(owners).watches(owned, owner_mapper("ConfigMap", ""))
    factory.start()
    await ctrl.start()
    try:
        parent = await client.create(CONFIGMAPS, cm("parent", role="owner"))
        await eventually(lambda: Request("parent", NS) in reconciled)
        reconciled.clear()
        child = cm("child", role="owned")
        child["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": "parent",
                                                 "uid": parent["metadata"]["uid"], "controller": True}]
        await client.create(CONFIGMAPS, child)
        await eventually(lambda: Request("parent", NS) in reconciled, what="child change wakes its owner")
        assert Request("child", NS) not in reconciled
    finally:
        await ctrl.stop()
        await factory.stop()


async def test_stop_drains_in_flight_reconciles(client: KubeClient) -> None:
    factory = InformerFactory(client)
    inf = factory.informer(CONFIGMAPS, NS, label_selector="slow=yes")
    started = asyncio.Event()
    finished: list[str] = []

    async def reconcile(req: Request) -> None:
        started.set()
        await asyncio.sleep(0.3)  # simulated slow work that must complete, not be cut off
        finished.append(req.name)

    ctrl = Controller("slow", reconcile).watches(inf)
    factory.start()
    await ctrl.start()
    try:
        await client.create(CONFIGMAPS, cm("s", slow="yes"))
        await asyncio.wait_for(started.wait(), 10)
    finally:
        await ctrl.stop(drain=True)
        await factory.stop()
    assert finished == ["s"]


# --------------------------------------------------------------------------- manager


async def http_get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}{path}") as r:
        return r.status, await r.text()


def counting_manager(client: KubeClient, identity: str, counts: dict[str, int]) -> Manager:
    mgr = Manager(client, CollectorRegistry(), leader_election=le_config(identity, "mgr-lease"), health_port=0)
    inf = mgr.informers.informer(CONFIGMAPS, NS, label_selector="mgr=yes")

    async def reconcile(req: Request) -> None:
        counts[identity] = counts.get(identity, 0) + 1
        if inf.cache.get(req.namespace, req.name) is not None:
            await client.patch(CONFIGMAPS, req.name, {"data": {"by": identity}}, req.namespace)

    mgr.new_controller("mgr-cms", reconcile, workers=2).watches(inf)
    return mgr


async def test_manager_leader_election_health_and_metrics(client: KubeClient, server: RunningServer) -> None:
    counts: dict[str, int] = {}
    async with KubeClient(load_config(server.kubeconfig)) as client2:
        m1 = counting_manager(client, "m1", counts)
        m2 = counting_manager(client2, "m2", counts)
        try:
            await m1.start()
            assert m1.health_port
            assert await http_get(m1.health_port, "/readyz") == (200, "ok\n")
            assert (await http_get(m1.health_port, "/healthz"))[0] == 200
            await eventually(lambda: m1.is_leader, what="m1 leads")
            await m2.start()
            await client.create(CONFIGMAPS, cm("x", mgr="yes"))

            async def by() -> str | None:
                try:
                    return (await client.get(CONFIGMAPS, "x", NS)).get("data", {}).get("by")
                except NotFound:
                    return None

            async def reconciled_by(who: str) -> bool:
                return await by() == who

            await eventually(lambda: reconciled_by("m1"))
            assert "m2" not in counts and not m2.is_leader  # the follower's controller never ran
            status, text = await http_get(m1.health_port, "/metrics")
            assert status == 200
            assert 'kubenode_controller_reconcile_total{controller="mgr-cms",result="success"}' in text
            assert 'kubenode_controller_reconcile_total{controller="mgr-cms",result="error"} 0.0' in text
            assert 'kubenode_workqueue_depth{name="mgr-cms"}' in text

            await m1.stop()  # drains, then releases the lease
            await eventually(lambda: m2.is_leader, within=1.5, what="m2 takes over within the lease duration")
            await client.patch(CONFIGMAPS, "x", {"data": {"poke": "1"}}, NS)
            await eventually(lambda: reconciled_by("m2"))
        finally:
            await m1.stop()
            await m2.stop()


async def test_manager_stops_controllers_when_lease_is_lost(client: KubeClient, server: RunningServer) -> None:
    proxy = Partition(server.port)
    await proxy.start()
    cfg = dataclasses.replace(load_config(server.kubeconfig), server=f"https://127.0.0.1:{proxy.port}")
    counts: dict[str, int] = {}
    try:
        async with KubeClient(cfg) as via_proxy:
            mgr = counting_manager(via_proxy, "lonely", counts)
            try:
                await mgr.start()
                await eventually(lambda: mgr.is_leader)
                ctrl = mgr.controllers[0]
                assert isinstance(ctrl, Controller) and ctrl.running
                proxy.cut = True
                await asyncio.wait_for(mgr.wait(), 3)
                assert mgr.lease_lost and not mgr.is_leader and not ctrl.running
                assert port_ok(mgr.health_port)
                assert (await http_get(mgr.health_port or 0, "/healthz"))[0] == 500
            finally:
                proxy.cut = False
                await mgr.stop()
    finally:
        await proxy.stop()


def port_ok(port: int | None) -> bool:
    return bool(port and port > 0)
