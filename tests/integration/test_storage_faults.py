"""Durable or invisible: faults injected through the storage seam (`Store.before_commit`).

Each fault is a real SQLite condition where one can be produced in-process (a read-only connection, a lock
held by another connection) and an injected SQLite error otherwise (disk full, I/O error; the real disk-full
case on a tmpfs is in tests/e2e/test_storage_full.py). Proven for each: the failing write answers a Status
naming the cause; no failed write is ever readable (GET, LIST, watch, after a restart); /readyz reports the
fault; once the fault clears the server recovers by itself, without a restart or a client write.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubenode.apiserver.server import RunningServer, ServerConfig, start_server
from kubenode.apiserver.storage import Store

from .kube import Kube
from .polling import eventually

CM = "/api/v1/namespaces/default/configmaps"


def _injected(code: int, message: str) -> Callable[[sqlite3.Connection], None]:
    def fail(db: sqlite3.Connection) -> None:
        err = sqlite3.OperationalError(message)
        err.sqlite_errorcode = code  # type: ignore[attr-defined]
        raise err

    return fail


def _read_only(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA query_only=ON")  # SQLite itself then refuses the write (SQLITE_READONLY)


class _Busy:
    """Another connection holds the write lock: SQLite answers SQLITE_BUSY."""

    def __init__(self, path: Path) -> None:
        self.other = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.other.execute("BEGIN IMMEDIATE")

    def __call__(self, db: sqlite3.Connection) -> None:
        db.execute("PRAGMA busy_timeout=0")

    def clear(self) -> None:
        self.other.execute("ROLLBACK")
        self.other.close()


FAULTS = [
    ("disk-full", 507, "InsufficientStorage", "storage is full"),
    ("io-error", 500, "InternalError", "disk I/O error"),
    ("read-only", 500, "InternalError", "storage is read-only"),
    ("busy", 503, "ServiceUnavailable", "storage is busy"),
]


async def _start(data: Path) -> RunningServer:
    return await start_server(ServerConfig(data_dir=data, port=0, node_grace_seconds=30.0,
                                           node_check_interval=5.0, bookmark_interval=0.3))


@pytest.mark.parametrize(("fault", "code", "reason", "says"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_failed_commit_fails_exactly_its_writes_and_recovers(
    tmp_path: Path, fault: str, code: int, reason: str, says: str
) -> None:
    data = tmp_path / "data"
    server = await _start(data)
    kube = Kube(server)
    events: list[dict[str, Any]] = []
    watcher: asyncio.Task[None] | None = None
    clear: Callable[[], None] = lambda: None  # noqa: E731
    try:
        r = await kube.post(CM, {"metadata": {"name": "kept"}, "data": {"v": "1"}})
        assert r.status == 201, r
        rv = r.json["metadata"]["resourceVersion"]

        async def watch() -> None:
            async for ev in kube.watch(CM, {"resourceVersion": rv}):
                events.append(ev)

        watcher = asyncio.create_task(watch())
        store = server.store
        if fault == "disk-full":
            store.before_commit = _injected(13, "database or disk is full")
        elif fault == "io-error":
            store.before_commit = _injected(10, "disk I/O error")
        elif fault == "read-only":
            store.before_commit = _read_only
        else:
            busy = _Busy(data / "apiserver" / "state.db")
            store.before_commit = busy
            clear = busy.clear

        # Writes of every verb fail with a Status that names the cause; none is applied.
        lost = await kube.post(CM, {"metadata": {"name": "lost"}, "data": {"v": "x"}})
        patched = await kube.patch(f"{CM}/kept", {"data": {"v": "2"}})
        deleted = await kube.delete(f"{CM}/kept")
        for resp in (lost, patched, deleted):
            assert resp.status == code, resp
            assert resp.json["kind"] == "Status" and resp.json["reason"] == reason, resp
            assert says in resp.json["message"], resp
            if code == 503:
                assert resp.headers["Retry-After"] == "1"
        assert (await kube.get(f"{CM}/lost")).status == 404
        got = await kube.get(f"{CM}/kept")
        assert got.status == 200 and got.json["data"] == {"v": "1"}
        assert got.json["metadata"]["resourceVersion"] == rv
        names = [o["metadata"]["name"] for o in (await kube.get(CM)).json["items"]]
        assert names == ["kept"]
        ready = await kube.get("/readyz", params={"verbose": "1"})
        assert ready.status == 500 and "[-]storage failed" in ready.raw.decode() and says in ready.raw.decode()
        assert (await kube.get("/livez")).status == 200  # a restart would not help: stay alive

        # The fault clears: the server finds out by itself (no client write needed) and takes writes again.
        if fault == "read-only":
            store.before_commit = lambda db: db.execute("PRAGMA query_only=OFF") and None
        else:
            store.before_commit = None
        clear()

        async def is_ready() -> bool:
            return (await kube.get("/readyz")).status == 200

        await eventually(is_ready, what="/readyz ok again after the fault cleared")
        after = await kube.post(CM, {"metadata": {"name": "after"}, "data": {"v": "3"}})
        assert after.status == 201, after

        async def saw_after() -> bool:
            return any(e["object"]["metadata"]["name"] == "after" for e in events)

        await eventually(saw_after, what="the watch event of the write after recovery")
        # The watch never saw a write that failed.
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "after")]
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await kube.close()
        await server.stop()

    # Nothing unacknowledged reached the disk; everything acknowledged did.
    store = Store.open(data / "apiserver" / "state.db")
    try:
        kept = store.get("/configmaps/default/kept")
        assert kept is not None and kept["data"] == {"v": "1"}
        assert store.get("/configmaps/default/lost") is None
        assert store.get("/configmaps/default/after") is not None
    finally:
        await store.close()


async def test_writes_staged_on_a_failed_write_fail_with_it(tmp_path: Path) -> None:
    """A write built on a staged write that then fails never becomes visible either; unrelated writes do."""
    server = await _start(tmp_path / "data")
    kube = Kube(server)
    try:
        calls = [0]

        def first_batch_fails(db: sqlite3.Connection) -> None:
            calls[0] += 1
            if calls[0] == 1:
                raise _error(10, "disk I/O error")

        def _error(code: int, message: str) -> sqlite3.OperationalError:
            err = sqlite3.OperationalError(message)
            err.sqlite_errorcode = code  # type: ignore[attr-defined]
            return err

        server.store.before_commit = first_batch_fails
        results = await asyncio.gather(
            kube.post(CM, {"metadata": {"name": "base"}, "data": {"v": "1"}}),
            kube.post(CM, {"metadata": {"name": "other"}, "data": {"v": "1"}}),
        )
        # Both may share the failing batch; whatever failed is absent, whatever succeeded is present.
        for resp, name in zip(results, ("base", "other"), strict=True):
            got = await kube.get(f"{CM}/{name}")
            assert (resp.status, got.status) in ((201, 200), (500, 404)), (resp, got)
        server.store.before_commit = None
        ok = await kube.post(CM, {"metadata": {"name": "next"}})
        assert ok.status == 201, ok
    finally:
        await kube.close()
        await server.stop()


def _nested(depth: int) -> Any:
    doc: Any = {}
    for _ in range(depth):
        doc = {"f:x": doc}
    return doc


async def test_an_object_too_deep_to_store_is_400_and_harms_no_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = await _start(data)
    kube = Kube(server)
    try:
        deep = {"metadata": {"name": "deep", "managedFields": [
            {"manager": "m", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
             "fieldsV1": _nested(300)}]}}
        creates = [kube.post(CM, {"metadata": {"name": f"ok-{i}"}}) for i in range(30)]
        answers = await asyncio.gather(kube.post(CM, deep), *creates)
        assert answers[0].status == 400 and "deeper than 200" in answers[0].json["message"], answers[0]
        assert [a.status for a in answers[1:]] == [201] * 30
        listed = await kube.get(CM)
        assert listed.status == 200 and len(listed.json["items"]) == 30
        # A patch that would make a stored object too deep is refused the same way.
        r = await kube.patch(f"{CM}/ok-0", [{"op": "add", "path": "/metadata/annotations",
                                             "value": {"a": "b"}},
                                            {"op": "add", "path": "/data", "value": {"k": "v"}}],
                             content_type="application/json-patch+json")
        assert r.status == 200, r
        too_deep = await kube.patch(f"{CM}/ok-1", {"metadata": {"labels": _nested(250)}})
        assert too_deep.status == 400, too_deep
        # YAML nested 100,000 levels is refused early, with a 400.
        yaml_body = ("[" * 100_000 + "]" * 100_000).encode()
        r = await kube.request("POST", CM, raw=yaml_body, content_type="application/yaml")
        assert r.status == 400 and "deeper than 200" in r.json["message"], r
        # An alias bomb is refused before it expands.
        bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8))
        r = await kube.request("POST", CM, raw=bomb.encode(), content_type="application/yaml")
        assert r.status == 400 and "aliases" in r.json["message"], r
        assert (await kube.get("/readyz")).status == 200
    finally:
        await kube.close()
        await server.stop()
    store = Store.open(data / "apiserver" / "state.db")
    try:
        assert store.count("/configmaps") == 30
    finally:
        await store.close()
