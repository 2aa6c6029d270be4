"""Template revisions: a content hash of the template, and the history kept in status for undo.

A revision is named by the hash of the template as the API server stored it
(after defaulting), so the same template always gets the same name whatever
field order or client wrote it, and "did anything change?" is a string
comparison. The history lives in `status.revisions` (newest last, each with
its full template) because `kubenode rollout undo` must be able to restore a
template after the spec has moved on; re-applying an old template moves its
entry to the top with a new revision number, as `kubectl rollout undo` does
for Deployments.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

Obj = dict[str, Any]

#: Hex digits of the SHA-256 kept in a revision name (a label value, so short and DNS-safe).
HASH_LENGTH = 10


def template_hash(template: Obj) -> str:
    """The revision name of `template`: a short SHA-256 of its canonical JSON."""
    canonical = orjson.dumps(template, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:HASH_LENGTH]


def record_revision(history: list[Obj], template: Obj, now: str, limit: int) -> list[Obj]:
    """The history with `template` as its newest entry, keeping at most `limit` older ones.

    A template seen before keeps its `createdAt` but gets the next revision
    number (it is the newest again). The input list is not modified.
    """
    name = template_hash(template)
    top = max((int(r.get("revision") or 0) for r in history), default=0)
    newest = history[-1] if history else None
    if newest is not None and newest.get("name") == name:
        return list(history)  # already the newest: nothing changes
    old = next((r for r in history if r.get("name") == name), None)
    entry: Obj = {"name": name, "revision": top + 1, "version": str(template.get("version", "")),
                  "createdAt": (old or {}).get("createdAt") or now, "template": template}
    kept = sorted((r for r in history if r.get("name") != name), key=lambda r: int(r.get("revision") or 0))
    kept = kept[len(kept) - limit:] if limit > 0 else []
    return [*kept, entry]


def find_revision(history: list[Obj], name: str) -> Obj | None:
    """The history entry called `name`, if kept."""
    return next((r for r in history if r.get("name") == name), None)


def previous_revision(history: list[Obj], current: str, to_revision: int | None = None) -> Obj | None:
    """The entry `undo` restores: revision number `to_revision`, else the newest one that is not `current`."""
    if to_revision is not None:
        return next((r for r in history if int(r.get("revision") or 0) == to_revision), None)
    others = [r for r in history if r.get("name") != current]
    return max(others, key=lambda r: int(r.get("revision") or 0), default=None)
