"""Durable object storage: SQLite (WAL) behind an in-memory index, with group commit.

Why this shape:
- The whole state lives in memory (a dict per resource) so reads, LISTs and
  selectors never touch the disk; SQLite is the durable log of it.
- One global, increasing integer resourceVersion (like etcd's revision or
  kine's row id). It is assigned synchronously when a write is staged, so a
  handler that reads, checks a precondition and stages a write without an
  `await` in between is atomic: asyncio gives us the lock for free.
- Writes are *acknowledged only after they are durable*: staged writes are
  committed in batches by one writer thread with `synchronous=FULL`, so one
  fsync is shared by every request that arrived meanwhile (group commit). A
  crash loses nothing that a client was told succeeded.
- Watch events are published after the commit, in resourceVersion order.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

Obj = dict[str, Any]
#: SQLite's page cache in KiB (the pages of about 20,000 stored objects); see `Store.open`.
CACHE_KIB = 64 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY,
    rv INTEGER NOT NULL,
    data BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


@dataclass(slots=True)
class Change:
    """One committed change, as watchers see it."""

    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    key: str
    obj: Obj  # the new object; for DELETED the last state (with the deletion's resourceVersion)
    prev: Obj | None
    #: Cached wire form `{"type":..,"object":..}\n` shared by every plain-JSON watcher.
    line: bytes | None = None


class StorageError(Exception):
    """The durable log could not be written; the server must stop rather than lie."""


def resource_of(key: str) -> str:
    """`group/plural` of a storage key `group/plural/namespace/name`."""
    group, plural, _ = key.split("/", 2)
    return f"{group}/{plural}"


class Store:
    """The object store. Create with `Store.open(path)`; call `close()` when done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._by_resource: dict[str, dict[str, Obj]] = {}
        self.rv = 0
        self._pending: list[tuple[Change, asyncio.Future[None]]] = []
        self._flushing = False
        self._closed = False
        self._broken: StorageError | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kubenode-store")
        self._db: sqlite3.Connection | None = None
        self._db_lock = threading.Lock()
        self._listeners: list[Callable[[list[Change]], None]] = []
        self._idle = asyncio.Event()
        self._idle.set()

    # ------------------------------------------------------------------ life cycle
    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (or create) the database at `path` and load every object into memory."""
        store = cls(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        # Every write updates one row in place: keep the B-tree's pages in SQLite's own cache (the default
        # 2 MiB holds the pages of a few hundred objects), so an update of a large fleet's object does not
        # re-read its pages from the OS on every write. Memory is bounded by the database's size.
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        db.executescript(_SCHEMA)
        row = db.execute("SELECT value FROM meta WHERE name='rv'").fetchone()
        store.rv = int(row[0]) if row else 0
        for key, rv, data in db.execute("SELECT key, rv, data FROM objects"):
            obj = orjson.loads(data)
            store._index(key)[key] = obj
            store.rv = max(store.rv, rv)
        store._db = db
        return store

    async def close(self) -> None:
        """Wait for staged writes to become durable, then close the database."""
        await self.drain()
        self._closed = True
        self._writer.shutdown(wait=True)
        if self._db is not None:
            with self._db_lock:
                self._db.close()
            self._db = None

    async def drain(self) -> None:
        """Wait until every staged write is committed."""
        while self._pending or self._flushing:
            self._idle.clear()
            await self._idle.wait()

    # ------------------------------------------------------------------ reads
    def _index(self, key: str) -> dict[str, Obj]:
        res = resource_of(key)
        idx = self._by_resource.get(res)
        if idx is None:
            idx = self._by_resource[res] = {}
        return idx

    def get(self, key: str) -> Obj | None:
        """The current object at `key` (shared: callers must not mutate it)."""
        idx = self._by_resource.get(resource_of(key))
        return None if idx is None else idx.get(key)

    def items(self, resource: str, prefix: str = "") -> Iterator[tuple[str, Obj]]:
        """Every (key, object) of `resource` (`group/plural`) whose key starts with `prefix`, unordered."""
        idx = self._by_resource.get(resource)
        if not idx:
            return iter(())
        if not prefix:
            return iter(list(idx.items()))
        return ((k, v) for k, v in list(idx.items()) if k.startswith(prefix))

    def count(self, resource: str) -> int:
        """How many objects `resource` holds."""
        return len(self._by_resource.get(resource, ()))

    def resources(self) -> list[str]:
        """Every `group/plural` that holds objects."""
        return [r for r, idx in self._by_resource.items() if idx]

    # ------------------------------------------------------------------ writes
    def add_listener(self, fn: Callable[[list[Change]], None]) -> None:
        """Call `fn` with every committed batch of changes, in resourceVersion order."""
        self._listeners.append(fn)

    def stage(self, key: str, obj: Obj | None) -> tuple[Obj, Awaitable[None]]:
        """Stage a write synchronously: `obj` (or a delete when None) becomes the current state.

        Assigns the next resourceVersion (stored in `metadata.resourceVersion`),
        updates the in-memory state at once and returns the stored object and an
        awaitable that completes when the write is durable. For a delete the
        returned object is the last state carrying the deletion's resourceVersion.
        """
        if self._closed:
            raise StorageError("store is closed")
        if self._broken is not None:
            raise self._broken
        idx = self._index(key)
        prev = idx.get(key)
        self.rv += 1
        rv_str = str(self.rv)
        if obj is None:
            if prev is None:
                raise KeyError(key)
            del idx[key]
            gone = dict(prev)
            gone["metadata"] = dict(prev["metadata"], resourceVersion=rv_str)
            change = Change(self.rv, "DELETED", key, gone, prev)
            stored = gone
        else:
            obj["metadata"]["resourceVersion"] = rv_str
            idx[key] = obj
            change = Change(self.rv, "MODIFIED" if prev is not None else "ADDED", key, obj, prev)
            stored = obj
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((change, fut))
        if not self._flushing:
            self._flushing = True
            self._idle.clear()
            asyncio.get_running_loop().call_soon(self._start_flush)
        return stored, fut

    def _start_flush(self) -> None:
        asyncio.get_running_loop().create_task(self._flush_loop(), name="kubenode-store-flush")

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                rows = [
                    (c.key, c.rv, None if c.type == "DELETED" else orjson.dumps(c.obj)) for c, _ in batch
                ]
                try:
                    await loop.run_in_executor(self._writer, self._commit, rows, batch[-1][0].rv)
                except Exception as exc:  # disk full, I/O error: fail every waiter, never pretend
                    err = StorageError(f"storage write failed: {exc}")
                    # Memory is now ahead of the disk: refuse every further write.
                    self._broken = err
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(err)
                    continue
                changes = [c for c, _ in batch]
                for fn in self._listeners:
                    fn(changes)
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)
        finally:
            self._flushing = False
            self._idle.set()

    def _commit(self, rows: list[tuple[str, int, bytes | None]], rv: int) -> None:
        with self._db_lock:
            db = self._db
            if db is None:
                raise StorageError("store is closed")
            db.execute("BEGIN IMMEDIATE")
            try:
                for key, row_rv, data in rows:
                    if data is None:
                        db.execute("DELETE FROM objects WHERE key=?", (key,))
                    else:
                        db.execute(
                            "INSERT INTO objects(key, rv, data) VALUES(?,?,?) "
                            "ON CONFLICT(key) DO UPDATE SET rv=excluded.rv, data=excluded.data",
                            (key, row_rv, data),
                        )
                db.execute(
                    "INSERT INTO meta(name, value) VALUES('rv', ?) "
                    "ON CONFLICT(name) DO UPDATE SET value=excluded.value",
                    (rv,),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
