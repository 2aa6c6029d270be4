"""Small helpers on raw object dicts shared by the server's modules."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

import orjson

Obj = dict[str, Any]


def clone(obj: Any) -> Any:
    """A deep copy of a JSON value (an orjson round trip is ~5x faster than copy.deepcopy)."""
    return orjson.loads(orjson.dumps(obj))


_last_second: tuple[int, str] = (-1, "")


def now_rfc3339() -> str:
    """The current time as Kubernetes writes metav1.Time ("2026-11-25T11:12:03Z")."""
    global _last_second
    second = int(time.time())
    if second != _last_second[0]:  # formatted once a second: every write asks, often several times
        _last_second = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return _last_second[1]


def now_micro() -> str:
    """The current time as metav1.MicroTime ("2026-11-25T11:12:03.123456Z")."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_random = b""
_random_at = 0
_random_lock = threading.Lock()


def new_uid() -> str:
    """A fresh object UID: a random (version 4) UUID, as `str(uuid.uuid4())` without building a UUID object.

    The randomness is the same `os.urandom`'s, read 4 KiB at a time instead of one system call per UID (each
    write of a new object asks for one); a fork gets its own pool (`os.register_at_fork`).
    """
    global _random, _random_at
    with _random_lock:  # two threads must never take the same 16 bytes
        if _random_at + 16 > len(_random):
            _random, _random_at = os.urandom(4096), 0
        b = bytearray(_random[_random_at:_random_at + 16])
        _random_at += 16
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def meta(obj: Obj) -> Obj:
    """`obj.metadata`, created when missing."""
    m = obj.get("metadata")
    if not isinstance(m, dict):
        m = obj["metadata"] = {}
    return m


def get_path(obj: Any, dotted: str) -> Any:
    """Value at a dotted path like ".spec.replicas" or "spec.replicas" (None when missing)."""
    cur = obj
    for part in dotted.strip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def set_path(obj: Obj, dotted: str, value: Any) -> None:
    """Set the value at a dotted path, creating intermediate maps."""
    parts = dotted.strip(".").split(".")
    cur = obj
    for part in parts[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = cur[part] = {}
        cur = nxt
    cur[parts[-1]] = value


def without(obj: Obj, *keys: str) -> Obj:
    """A shallow copy of `obj` without the given top-level keys."""
    return {k: v for k, v in obj.items() if k not in keys}


def _forget_random() -> None:
    global _random, _random_at, _random_lock
    _random, _random_at, _random_lock = b"", 0, threading.Lock()


os.register_at_fork(after_in_child=_forget_random)  # a child must never hand out its parent's UIDs
