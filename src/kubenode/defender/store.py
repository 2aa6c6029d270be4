"""The durable ledger in the Kubernetes API: append-only ConfigMap chunks in kubenode-system.

Every operation the Defender reviews (and every "finished") is a record
(`records.py`). The service appends records to a buffer at no API cost; the
background loop writes them, coalesced, into the newest chunk: a ConfigMap
`defender-ledger-<UTC start>-<random>` labelled `kubenode.io/defender-ledger`
whose `data["records.jsonl"]` holds JSON lines in time order. A chunk is
only ever extended by its writer (a PUT with its resourceVersion, so a
second writer can never overwrite it) and closed at `max_records` records or
`max_bytes` (ConfigMaps hold at most 1 MiB); a new writer (operator restart,
new leader) always starts a new chunk. Retention is bounded: at most
`max_chunks` chunks and none whose last record is older than
`retention_seconds`; the oldest go first.

Why ConfigMaps and not a new kind: records are write-once data, not desired
state; a ConfigMap needs no CRD, works on every cluster, and RBAC can grant
the operator exactly the one namespace. It speaks the Kubernetes API only,
so `kubenode defender replay` reads the same chunks from any machine with a
kubeconfig.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.resources import CONFIGMAPS

from .records import LedgerFormatError, parse_record_time, read_jsonl, sort_records, to_jsonl

__all__ = ["LEDGER_LABEL", "LEDGER_NAMESPACE", "LedgerSettings", "LedgerWriter", "read_ledger"]

log = logging.getLogger("kubenode.defender.ledger")
Obj = dict[str, Any]
LEDGER_NAMESPACE = "kubenode-system"
LEDGER_LABEL = "kubenode.io/defender-ledger"
LEDGER_KEY = "records.jsonl"
FIELD_MANAGER = "kubenode-defender"


@dataclass(frozen=True)
class LedgerSettings:
    """Chunk size and retention of the durable ledger."""

    namespace: str = LEDGER_NAMESPACE
    max_records: int = 250
    max_bytes: int = 256 * 1024
    max_chunks: int = 200  # with 250 records each: the latest 50,000 reviews
    retention_seconds: int = 7 * 86400
    #: Records waiting for the API beyond this are dropped oldest first (and counted): memory stays bounded
    #: while the API server is away.
    max_buffered: int = 50_000


class LedgerWriter:
    """Buffers records and appends them to the newest chunk; `flush()` does the API calls."""

    def __init__(self, client: KubeClient, settings: LedgerSettings | None = None) -> None:
        self.client = client
        self.settings = settings or LedgerSettings()
        self._buffer: deque[str] = deque()  # JSON lines
        self._chunk: Obj | None = None  # the ConfigMap as last written
        self._lines: list[str] = []
        self._bytes = 0
        self.dropped = 0
        self.written = 0
        #: Every chunk (name -> time of its last record), listed once, then kept up to date by this writer.
        self._known: dict[str, float] | None = None

    def append(self, record: Obj) -> None:
        """Queue one record (no I/O)."""
        if len(self._buffer) >= self.settings.max_buffered:
            self._buffer.popleft()
            self.dropped += 1
        self._buffer.append(to_jsonl([record]))

    @property
    def pending(self) -> int:
        """Records not written yet."""
        return len(self._buffer)

    @property
    def chunk_name(self) -> str:
        """The chunk being written ("" before the first write)."""
        return str((self._chunk or {}).get("metadata", {}).get("name", ""))

    def _new_chunk(self, now: float) -> None:
        stamp = time.strftime("%Y%m%dt%H%M%S", time.gmtime(now))
        name = f"defender-ledger-{stamp}-{secrets.token_hex(3)}"
        self._chunk = {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name, "namespace": self.settings.namespace,
                                    "labels": {LEDGER_LABEL: "v1"}}, "data": {}}
        self._lines = []
        self._bytes = 0

    def _full(self, extra: int) -> bool:
        return bool(self._lines) and (len(self._lines) >= self.settings.max_records
                                      or self._bytes + extra > self.settings.max_bytes)

    async def flush(self, now: float | None = None) -> None:
        """Write every buffered record; on an API error they stay buffered (the next flush retries)."""
        now = time.time() if now is None else now
        while self._buffer:
            if self._chunk is None or self._full(len(self._buffer[0])):
                self._new_chunk(now)
                await self._prune_quietly(now)
            take: list[str] = []
            size = self._bytes
            for line in self._buffer:
                if take and (len(self._lines) + len(take) >= self.settings.max_records
                             or size + len(line) > self.settings.max_bytes):
                    break
                take.append(line)
                size += len(line)
            await self._write(take)
            if self._known is not None:
                self._known[self.chunk_name] = now
            for _ in take:
                self._buffer.popleft()
            self.written += len(take)

    async def _prune_quietly(self, now: float) -> None:
        try:
            await self.prune(now)
        except (errors.ApiError, OSError) as exc:
            log.warning("defender ledger: retention pass failed (retried at the next chunk): %s", exc)

    async def _write(self, take: list[str]) -> None:
        assert self._chunk is not None
        if "resourceVersion" in self._chunk["metadata"]:
            body = {**self._chunk, "data": {LEDGER_KEY: "".join(self._lines + take)}}
            try:
                self._chunk = await self.client.replace(CONFIGMAPS, body, field_manager=FIELD_MANAGER)
                self._lines.extend(take)
                self._bytes += sum(len(x) for x in take)
                return
            except (errors.Conflict, errors.NotFound):
                # Someone else changed or deleted our chunk: never overwrite it, start a new one.
                log.warning("defender ledger: chunk %s changed under us; starting a new one", self.chunk_name)
                self._new_chunk(time.time())
        assert self._chunk is not None
        body = {**self._chunk, "data": {LEDGER_KEY: "".join(take)}}
        self._chunk = await self.client.create(CONFIGMAPS, body, field_manager=FIELD_MANAGER)
        self._lines = list(take)
        self._bytes = sum(len(x) for x in take)

    async def prune(self, now: float) -> int:
        """Delete chunks beyond `max_chunks` or older than `retention_seconds` (never the one being written)."""
        if self._known is None:
            items, _ = await self.client.list(CONFIGMAPS, self.settings.namespace, label_selector=LEDGER_LABEL)
            self._known = {o["metadata"]["name"]: _last_time(o) for o in items}
        known = self._known
        current = self.chunk_name
        # Oldest first by their last record (names of one second sort at random).
        others = sorted((n for n in self._known if n != current), key=lambda n: (known[n], n))
        excess = len(others) + 1 - self.settings.max_chunks
        doomed = [n for i, n in enumerate(others)
                  if i < excess or known[n] < now - self.settings.retention_seconds]
        for name in doomed:
            try:
                await self.client.delete(CONFIGMAPS, name, self.settings.namespace)
            except errors.NotFound:
                pass
            del known[name]
        if doomed:
            log.info("defender ledger: retention removed %d chunks", len(doomed))
        return len(doomed)


def _last_time(obj: Obj) -> float:
    text = (obj.get("data") or {}).get(LEDGER_KEY) or ""
    last = text.rstrip("\n").rsplit("\n", 1)[-1]
    try:
        return parse_record_time(read_jsonl(last)[0]["time"]) if last else 0.0
    except (LedgerFormatError, IndexError, KeyError, ValueError):
        return 0.0


async def read_ledger(client: KubeClient, since: float | None = None,
                      namespace: str = LEDGER_NAMESPACE) -> list[Obj]:
    """Every record in the chunks (at or after `since`), in time order; LedgerFormatError names a bad chunk."""
    items, _ = await client.list(CONFIGMAPS, namespace, label_selector=LEDGER_LABEL)
    out: list[Obj] = []
    for obj in sorted(items, key=lambda o: o["metadata"]["name"]):
        text = (obj.get("data") or {}).get(LEDGER_KEY) or ""
        records = read_jsonl(text, f"configmap {namespace}/{obj['metadata']['name']}")
        out.extend(r for r in records if since is None or parse_record_time(r["time"]) >= since)
    return sort_records(out)
