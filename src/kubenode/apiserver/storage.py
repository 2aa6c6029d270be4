"""Durable object storage: SQLite (WAL) behind an in-memory index, with group commit.

Why this shape:
- The whole state lives in memory (a dict per resource) so reads, LISTs and
  selectors never touch the disk; SQLite is the durable log of it.
- One global, increasing integer resourceVersion (like etcd's revision or
  kine's row id). It is assigned synchronously when a write is staged, so a
  handler that reads the *latest* state (`latest`), checks a precondition and
  stages a write without an `await` in between is atomic: asyncio gives us
  the lock for free.
- Nothing is readable before it is durable, as with etcd and kine: a staged
  write lives in an overlay that only the write path sees (`latest`), while
  GET, LIST and watch read the committed state (`get`, `items`, `rv`). The
  writer thread commits staged writes in batches with `synchronous=FULL`, so
  one fsync is shared by every request that arrived meanwhile (group commit);
  only then does the write enter the committed state, the watch log and the
  client's answer. A crash loses nothing that a client was told succeeded.
- A failed commit (disk full, I/O error, read-only file system, a busy lock)
  fails exactly the writes of that batch, plus the staged writes built on top
  of them (same key), with a `StorageError` that names the cause; the overlay
  forgets them, so nobody ever saw them. The writer keeps running; the store
  reports itself unhealthy (`failure`, shown by /readyz) and probes the disk
  until a write succeeds again, then recovers by itself.
- Everything stored is serialised before it is staged (`encode`), so an
  object that cannot be stored is refused with a 4xx before anyone sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from kubenode.apimachinery.tasks import cancel_and_wait

Obj = dict[str, Any]
#: SQLite's page cache in KiB (the pages of about 20,000 stored objects); see `Store.open`.
CACHE_KIB = 64 * 1024
#: How deeply objects may nest (objects and arrays). orjson encodes at most 254 levels; we keep a margin so that
#: every envelope a stored object is sent in (a List's items, a Table row, a watch event) still encodes. Request
#: bodies are held to the same limit when they are decoded (`wire.decode_body`), so parse and storage agree.
MAX_DEPTH = 200
_WRAP = 254 - MAX_DEPTH
#: The largest stored object, in bytes of its stored form: etcd's default request limit (1.5 MiB), as in kube.
MAX_OBJECT_BYTES = 3 * 512 * 1024
#: Size of the durable write a server makes at start to prove its disk takes writes.
STARTUP_PROBE_BYTES = 256 * 1024
#: Seconds between probes of a failed disk until a write succeeds again.
PROBE_INTERVAL = 1.0

log = logging.getLogger("kubenode.apiserver.storage")

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
CREATE TABLE IF NOT EXISTS probe (
    id INTEGER PRIMARY KEY,
    data BLOB NOT NULL
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
    #: The stored row (None for a delete), serialised when the change was staged.
    data: bytes | None = None


class StorageError(Exception):
    """A write could not be made durable. `code`/`reason` are the HTTP Status it answers with."""

    def __init__(self, message: str, code: int = 500, reason: str = "InternalError",
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.retry_after = retry_after


class PassLog:
    """How a background pass reports failures: a storage failure as one line per episode, a bug in full.

    While the disk refuses writes every pass fails the same way each second; /readyz already says why, so
    the log says it once (and once more when the cause changes), not with a traceback per retry.
    """

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self._log = logger
        self._what = what
        self._storage: str | None = None

    def failed(self, exc: BaseException) -> None:
        if isinstance(exc, StorageError):
            if exc.message != self._storage:
                self._log.warning("%s failed: %s", self._what, exc.message)
                self._storage = exc.message
            return
        self._log.error("%s failed", self._what, exc_info=exc)

    def ok(self) -> None:
        if self._storage is not None:
            self._log.info("%s: writes are stored again", self._what)
            self._storage = None


class EncodeError(ValueError):
    """An object that cannot be stored (nested too deeply, not JSON-serialisable)."""


class ObjectTooLarge(EncodeError):
    """An object whose stored form is larger than `MAX_OBJECT_BYTES`."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the object is {size} bytes when stored, more than the limit of {MAX_OBJECT_BYTES} bytes")
        self.size = size


# SQLite's primary result codes (sqlite3.h) that say what is wrong with the disk.
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN = (
    5, 6, 8, 10, 11, 13, 14)


#: Free space below which a file system counts as full when SQLite reports a mere I/O error: on a full
#: tmpfs it answers SQLITE_IOERR (growing the WAL index fails), not SQLITE_FULL.
NEARLY_FULL_BYTES = 1024 * 1024


def file_system_full(path: Path | None) -> bool:
    """Whether the file system holding `path` has (almost) no space left for an unprivileged writer."""
    if path is None:
        return False
    try:
        st = os.statvfs(path if path.is_dir() else path.parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < NEARLY_FULL_BYTES


def storage_error(exc: BaseException, path: Path | None = None) -> StorageError:
    """The `StorageError` of a failed commit, naming its cause (disk full → 507 InsufficientStorage).

    `path` (the database) lets an I/O error be told apart: on a file system without free space it is full.
    """
    if isinstance(exc, StorageError):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    detail = str(exc) or type(exc).__name__
    io_error = primary == _SQLITE_IOERR or (isinstance(exc, OSError) and exc.errno == errno.EIO)
    if (primary == _SQLITE_FULL or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC)
            or (io_error and file_system_full(path))):
        return StorageError(f"storage is full: the write was not stored ({detail}); free space on the data "
                            "directory's file system", 507, "InsufficientStorage")
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return StorageError(f"storage is busy: the write was not stored ({detail}); retry", 503,
                            "ServiceUnavailable", retry_after=1)
    if primary == _SQLITE_READONLY:
        return StorageError(f"storage is read-only: the write was not stored ({detail}); make the data "
                            "directory writable")
    if primary == _SQLITE_CORRUPT:
        return StorageError(f"storage is corrupt: the write was not stored ({detail})")
    return StorageError(f"storage write failed: the write was not stored ({detail})")


def encode(obj: Obj) -> bytes:
    """The stored form of `obj`; `EncodeError` when it nests deeper than `MAX_DEPTH` or is not JSON."""
    try:
        # Wrapping in _WRAP arrays makes orjson's fixed limit (254) enforce ours; the slice is free.
        wrapped = _dumps_wrapped(obj)
    except orjson.JSONEncodeError as exc:
        if "Recursion" in str(exc):
            raise EncodeError(f"the object nests deeper than {MAX_DEPTH} levels") from None
        raise EncodeError(f"the object cannot be encoded as JSON: {exc}") from None
    data = wrapped[_WRAP:-_WRAP]
    if len(data) > MAX_OBJECT_BYTES:
        raise ObjectTooLarge(len(data))
    return data


def check_depth(doc: Any) -> None:
    """`EncodeError` when a decoded document nests deeper than `MAX_DEPTH` (the limit of `encode`)."""
    if isinstance(doc, dict | list):
        try:
            _dumps_wrapped(doc)
        except orjson.JSONEncodeError as exc:
            if "Recursion" in str(exc):
                raise EncodeError(f"the document nests deeper than {MAX_DEPTH} levels") from None
            raise EncodeError(f"the document cannot be encoded as JSON: {exc}") from None


def _wrapped(obj: Any) -> Any:
    for _ in range(_WRAP):
        obj = [obj]
    return obj


class _Wrapper(threading.local):
    """`_WRAP` nested one-item lists built once per thread; the innermost holds the value being encoded."""

    def __init__(self) -> None:
        self.inner: list[Any] = []
        self.outer: Any = _wrapped(self.inner)[0]  # `inner` is the innermost of the _WRAP levels


_wrapper = _Wrapper()


def _dumps_wrapped(obj: Any) -> bytes:
    """`orjson.dumps(_wrapped(obj))` without building the wrapper on every call (every write encodes twice)."""
    w = _wrapper
    inner = w.inner
    if inner:  # cannot happen (orjson calls back into no Python code), but never encode a stale value
        return orjson.dumps(_wrapped(obj))
    inner.append(obj)
    try:
        return orjson.dumps(w.outer)
    finally:
        inner.clear()


#: Rows per multi-row statement of a commit (3 parameters each: within SQLite's oldest limit of 999).
_ROWS_PER_STATEMENT = 300


def _final_rows(rows: list[tuple[str, int, bytes | None]]) -> tuple[list[Any], list[str]]:
    """What a batch leaves in the table: the flattened (key, rv, data) of every key whose last change stores a
    row, and the keys whose last change deletes it. Within one transaction only the last change of a key
    counts, so the batch is written with a few multi-row statements instead of one per change: each statement
    costs the writer thread one round trip through the GIL, and the event loop holds it while it is busy."""
    last: dict[str, tuple[int, bytes | None]] = {}
    for key, row_rv, data in rows:
        last.pop(key, None)  # keep the order of the last changes
        last[key] = (row_rv, data)
    upserts: list[Any] = []
    deletes: list[str] = []
    for key, (row_rv, data) in last.items():
        if data is None:
            deletes.append(key)
        else:
            upserts += (key, row_rv, data)
    return upserts, deletes


@functools.lru_cache(maxsize=64)
def _upsert_sql(n: int) -> str:
    return ("INSERT INTO objects(key, rv, data) VALUES" + ",".join(["(?,?,?)"] * n)
            + " ON CONFLICT(key) DO UPDATE SET rv=excluded.rv, data=excluded.data")


@functools.lru_cache(maxsize=64)
def _delete_sql(n: int) -> str:
    return "DELETE FROM objects WHERE key IN (" + ",".join(["?"] * n) + ")"


def resource_of(key: str) -> str:
    """`group/plural` of a storage key `group/plural/namespace/name`."""
    group, plural, _ = key.split("/", 2)
    return f"{group}/{plural}"


_GONE = object()  # an overlay entry of a staged delete


class Store:
    """The object store. Create with `Store.open(path)`; call `close()` when done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._by_resource: dict[str, dict[str, Obj]] = {}
        #: The committed resourceVersion: what reads and watches are at.
        self.rv = 0
        #: The last assigned resourceVersion (staged writes are numbered ahead of `rv`).
        self._next_rv = 0
        #: Staged, not yet committed: key → (latest staged object or _GONE, its Change).
        self._staged: dict[str, tuple[Any, Change]] = {}
        self._pending: list[tuple[Change, asyncio.Future[None]]] = []
        #: Guards `_pending`: the writer thread takes the batch itself, when it is ready to write (see `_flush_loop`).
        self._pending_lock = threading.Lock()
        self._flushing = False
        self._closed = False
        #: Set while the disk refuses writes; cleared by the next successful commit or probe.
        self.failure: StorageError | None = None
        self._probe_task: asyncio.Task[None] | None = None
        #: Size of the largest batch that failed since the last success: what the probe writes.
        self._probe_bytes = 0
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kubenode-store")
        self._db: sqlite3.Connection | None = None
        self._db_lock = threading.Lock()
        self._listeners: list[Callable[[list[Change]], None]] = []
        self._idle = asyncio.Event()
        self._idle.set()
        #: Hook of the fault-injection tests: called in the writer thread before each commit.
        self.before_commit: Callable[[sqlite3.Connection], None] | None = None

    # ------------------------------------------------------------------ life cycle
    @classmethod
    def open(cls, path: Path, *, probe_bytes: int = 0) -> Store:
        """Open (or create) the database at `path` and load every object into memory.

        With `probe_bytes`, also make one durable write of that size (then removed) before returning: a
        server must not start on a disk that cannot take a write, since whether merely opening needs free
        space depends on what the last run left in the WAL. Errors are SQLite's, for `startup_error`.
        """
        store = cls(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = store._connect()
        try:
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE name='rv'").fetchone()
            store.rv = int(row[0]) if row else 0
            for key, rv, data in db.execute("SELECT key, rv, data FROM objects"):
                obj = orjson.loads(data)
                store._index(key)[key] = obj
                store.rv = max(store.rv, rv)
            store._next_rv = store.rv
            store._db = db
            if probe_bytes:
                store._probe(probe_bytes)
        except BaseException:
            store._db = None
            db.close()
            store._writer.shutdown(wait=False)
            raise
        return store

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            # Every write updates one row in place: keep the B-tree's pages in SQLite's own cache (the default
            # 2 MiB holds the pages of a few hundred objects), so an update of a large fleet's object does not
            # re-read its pages from the OS on every write. Memory is bounded by the database's size.
            db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        except BaseException:
            db.close()
            raise
        return db

    async def close(self) -> None:
        """Wait for staged writes to become durable (or fail), then close the database."""
        await self.drain()
        self._closed = True
        await cancel_and_wait(self._probe_task)
        self._probe_task = None
        self._writer.shutdown(wait=True)
        if self._db is not None:
            with self._db_lock:
                self._db.close()
            self._db = None

    async def drain(self) -> None:
        """Wait until every staged write is committed or failed."""
        while self._pending or self._flushing:
            self._idle.clear()
            await self._idle.wait()

    # ------------------------------------------------------------------ reads (committed state)
    def _index(self, key: str) -> dict[str, Obj]:
        res = resource_of(key)
        idx = self._by_resource.get(res)
        if idx is None:
            idx = self._by_resource[res] = {}
        return idx

    def get(self, key: str) -> Obj | None:
        """The committed object at `key` (shared: callers must not mutate it)."""
        idx = self._by_resource.get(resource_of(key))
        return None if idx is None else idx.get(key)

    def latest(self, key: str) -> Obj | None:
        """The object at `key` including staged writes: what a write must check its preconditions against."""
        staged = self._staged.get(key)
        if staged is not None:
            return None if staged[0] is _GONE else staged[0]
        return self.get(key)

    def items(self, resource: str, prefix: str = "") -> Iterator[tuple[str, Obj]]:
        """Every committed (key, object) of `resource` (`group/plural`) whose key starts with `prefix`."""
        idx = self._by_resource.get(resource)
        if not idx:
            return iter(())
        if not prefix:
            return iter(list(idx.items()))
        return ((k, v) for k, v in list(idx.items()) if k.startswith(prefix))

    def count(self, resource: str) -> int:
        """How many committed objects `resource` holds."""
        return len(self._by_resource.get(resource, ()))

    def resources(self) -> list[str]:
        """Every `group/plural` that holds committed objects."""
        return [r for r, idx in self._by_resource.items() if idx]

    # ------------------------------------------------------------------ writes
    def add_listener(self, fn: Callable[[list[Change]], None]) -> None:
        """Call `fn` with every committed batch of changes, in resourceVersion order."""
        self._listeners.append(fn)

    def stage(self, key: str, obj: Obj | None) -> tuple[Obj, Awaitable[None]]:
        """Stage a write synchronously: `obj` (or a delete when None) becomes the latest state.

        Assigns the next resourceVersion (stored in `metadata.resourceVersion`),
        serialises the row, and returns the object as it will be stored and an
        awaitable that completes when the write is durable (or raises
        `StorageError`). Until then only `latest` sees it. For a delete the
        returned object is the last state carrying the deletion's
        resourceVersion. Raises `EncodeError` (before anything changes) for an
        object that cannot be stored.
        """
        if self._closed:
            raise StorageError("the store is closed: the server is stopping", 503, "ServiceUnavailable", 1)
        prev = self.latest(key)
        rv_str = str(self._next_rv + 1)
        if obj is None:
            if prev is None:
                raise KeyError(key)
            gone = dict(prev)
            gone["metadata"] = dict(prev["metadata"], resourceVersion=rv_str)
            change = Change(self._next_rv + 1, "DELETED", key, gone, prev)
            stored = gone
        else:
            meta = obj["metadata"]
            had = meta.get("resourceVersion", _GONE)
            meta["resourceVersion"] = rv_str
            try:
                data = encode(obj)
            except EncodeError:
                if had is _GONE:
                    meta.pop("resourceVersion", None)
                else:
                    meta["resourceVersion"] = had
                raise
            change = Change(self._next_rv + 1, "MODIFIED" if prev is not None else "ADDED", key, obj, prev,
                            data=data)
            stored = obj
        self._next_rv += 1
        self._staged[key] = (_GONE if obj is None else obj, change)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._pending_lock:
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
                batch, exc = await loop.run_in_executor(self._writer, self._commit_pending)
                if exc is not None:  # any failure fails the batch, never the writer
                    self._fail(batch, storage_error(exc, self.path))
                elif batch:
                    self._committed(batch)
        finally:
            self._flushing = False
            self._idle.set()

    def _committed(self, batch: list[tuple[Change, asyncio.Future[None]]]) -> None:
        changes = [c for c, _ in batch]
        for c in changes:
            idx = self._index(c.key)
            if c.type == "DELETED":
                idx.pop(c.key, None)
            else:
                idx[c.key] = c.obj
            staged = self._staged.get(c.key)
            if staged is not None and staged[1] is c:
                del self._staged[c.key]
        self.rv = changes[-1].rv
        if self.failure is not None:
            log.warning("storage recovered: writes are stored again")
            self.failure = None
        for fn in self._listeners:
            fn(changes)
        for _, fut in batch:
            if not fut.done():
                fut.set_result(None)

    def _fail(self, batch: list[tuple[Change, asyncio.Future[None]]], err: StorageError) -> None:
        """Fail `batch` and every staged write built on it; none of them was ever visible."""
        self._probe_bytes = min(MAX_OBJECT_BYTES, max(self._probe_bytes, sum(len(c.data or b"") for c, _ in batch)))
        keys = {c.key for c, _ in batch}
        with self._pending_lock:
            dependent = [(c, f) for c, f in self._pending if c.key in keys]
            if dependent:
                self._pending = [(c, f) for c, f in self._pending if c.key not in keys]
        for key in keys:
            self._staged.pop(key, None)
        for _, fut in batch + dependent:
            if not fut.done():
                fut.set_exception(err)
                fut.exception()  # a caller that went away must not leave "exception never retrieved"
        if self.failure is None:
            log.error("%s (%d write(s) failed)", err.message, len(batch) + len(dependent))
        self.failure = err
        if self._probe_task is None and not self._closed:
            self._probe_task = asyncio.get_running_loop().create_task(self._probe_loop(), name="kubenode-probe")

    async def _probe_loop(self) -> None:
        """While the disk refuses writes, try a small write every `PROBE_INTERVAL`: recovery needs no client."""
        loop = asyncio.get_running_loop()
        try:
            while self.failure is not None and not self._closed:
                await asyncio.sleep(PROBE_INTERVAL)
                if self.failure is None or self._flushing:
                    continue
                try:
                    await loop.run_in_executor(self._writer, self._probe, self._probe_bytes)
                except Exception as exc:  # still failing: keep the newest cause
                    self.failure = storage_error(exc, self.path)
                else:
                    if self.failure is not None:
                        log.warning("storage recovered: writes are stored again")
                    self.failure = None
                    self._probe_bytes = 0
        finally:
            self._probe_task = None

    def _probe(self, size: int) -> None:
        """A durable write as large as the batch that failed (then removed): would it fit now?"""
        with self._db_lock:
            if self._db is None:
                self._db = self._connect()
            db = self._db
            try:
                if self.before_commit is not None:
                    self.before_commit(db)
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT OR REPLACE INTO probe(id, data) VALUES(1, zeroblob(?))", (max(size, 1),))
                db.execute("COMMIT")
                db.execute("DELETE FROM probe")
            except BaseException:
                self._abort(db)
                raise

    def _commit_pending(self) -> tuple[list[tuple[Change, asyncio.Future[None]]], BaseException | None]:
        """In the writer thread: take every staged write and commit them in one transaction.

        The batch is taken here, once the thread runs, not when the event loop asked for the commit: writes
        staged in between (the thread waits for a core and the GIL while the loop keeps serving) join this
        fsync instead of waiting for the next one. Returns the batch and the exception that failed it (None
        when it is durable). The loop asks for the next commit only after it has handled this one, so a
        failed batch's dependent writes are taken out of `_pending` before another commit can see them.
        """
        with self._pending_lock:
            batch, self._pending = self._pending, []
        if not batch:
            return batch, None
        try:
            self._commit([(c.key, c.rv, c.data) for c, _ in batch], batch[-1][0].rv)
        except Exception as exc:
            return batch, exc
        return batch, None

    def _commit(self, rows: list[tuple[str, int, bytes | None]], rv: int) -> None:
        with self._db_lock:
            if self._closed and self._db is None:
                raise StorageError("the store is closed", 503, "ServiceUnavailable", 1)
            if self._db is None:  # the last failure left the connection unusable: open a fresh one
                self._db = self._connect()
            db = self._db
            try:
                if self.before_commit is not None:
                    self.before_commit(db)
                db.execute("BEGIN IMMEDIATE")
                upserts, deletes = _final_rows(rows)
                for i in range(0, len(upserts), _ROWS_PER_STATEMENT * 3):
                    chunk = upserts[i:i + _ROWS_PER_STATEMENT * 3]
                    db.execute(_upsert_sql(len(chunk) // 3), chunk)
                for i in range(0, len(deletes), _ROWS_PER_STATEMENT * 3):
                    chunk = deletes[i:i + _ROWS_PER_STATEMENT * 3]
                    db.execute(_delete_sql(len(chunk)), chunk)
                db.execute(
                    "INSERT INTO meta(name, value) VALUES('rv', ?) "
                    "ON CONFLICT(name) DO UPDATE SET value=excluded.value",
                    (rv,),
                )
                db.execute("COMMIT")
            except BaseException:
                self._abort(db)
                raise

    def _abort(self, db: sqlite3.Connection) -> None:
        """Undo a failed transaction; a connection that cannot even roll back is replaced on the next commit."""
        try:
            if db.in_transaction:
                db.execute("ROLLBACK")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                db.close()
            self._db = None

    def writer_alive(self) -> bool:
        """Whether the writer can still run commits (for /livez)."""
        return not self._closed and not getattr(self._writer, "_shutdown", False)
