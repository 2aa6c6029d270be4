"""The detectors' memory: condition states that survive an agent restart, reset by a reboot.

node-problem-detector forgets everything when it restarts (its conditions
flip back to healthy: NPD #304, #429) and never clears a permanent condition
(#215, #728, #936). Here a condition lives in a small JSON file under the
node's state directory, keyed by the boot ID: an agent restart reloads it,
a new boot ID (a real or simulated reboot) starts afresh from the healthy
defaults, and a condition with a TTL returns to its default once the TTL has
passed without a new match.

`ConditionTracker` is pure (time is passed in); `StateFile` does the I/O,
atomically (write to a temporary file, then rename).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kubenode.apimachinery.timefmt import format_time

from .config import ConditionDefault

log = logging.getLogger("kubenode.agent.detectors")
Obj = dict[str, Any]


def rfc3339(t: float) -> str:
    """metav1.Time of an epoch second."""
    return format_time(t)


@dataclass
class ConditionState:
    """One Node condition as the detectors see it."""

    type: str
    status: str
    reason: str
    message: str
    since: float  # epoch seconds of the last status change (lastTransitionTime)
    expires_at: float | None = None  # when a set condition returns to its default (TTL)

    def to_node_condition(self, now: float) -> Obj:
        """The Node `status.conditions[]` entry."""
        return {"type": self.type, "status": self.status, "reason": self.reason, "message": self.message,
                "lastTransitionTime": rfc3339(self.since), "lastHeartbeatTime": rfc3339(now)}


@dataclass
class DetectorState:
    """Everything persisted: the boot it belongs to, conditions, log offsets, drop counts."""

    boot_id: str = ""
    conditions: dict[str, ConditionState] = field(default_factory=dict)
    offsets: dict[str, list[int]] = field(default_factory=dict)  # path -> [inode, offset]
    dropped_lines: int = 0
    cursors: dict[str, str] = field(default_factory=dict)  # journald monitor -> last entry's __CURSOR

    def to_json(self) -> Obj:
        """A JSON-able dict."""
        return {"bootID": self.boot_id, "conditions": {k: asdict(v) for k, v in self.conditions.items()},
                "offsets": self.offsets, "droppedLines": self.dropped_lines, "cursors": self.cursors}

    @classmethod
    def from_json(cls, raw: Obj) -> DetectorState:
        """Parse what :meth:`to_json` wrote; unknown or broken entries are skipped."""
        conds: dict[str, ConditionState] = {}
        for k, v in (raw.get("conditions") or {}).items():
            try:
                conds[k] = ConditionState(**v)
            except TypeError:
                continue
        offsets = {str(k): [int(v[0]), int(v[1])] for k, v in (raw.get("offsets") or {}).items()
                   if isinstance(v, list) and len(v) == 2}
        cursors = {str(k): str(v) for k, v in (raw.get("cursors") or {}).items() if isinstance(v, str)}
        return cls(boot_id=str(raw.get("bootID") or ""), conditions=conds, offsets=offsets,
                   dropped_lines=int(raw.get("droppedLines") or 0), cursors=cursors)


class ConditionTracker:
    """Condition states of all monitors of one node, with TTLs; pure."""

    def __init__(self, defaults: list[ConditionDefault], state: DetectorState, boot_id: str, now: float) -> None:
        """Adopt `state` when it belongs to `boot_id`, otherwise start from the healthy defaults."""
        self.defaults = {d.type: d for d in defaults}
        self.rebooted = bool(state.boot_id) and state.boot_id != boot_id
        if state.boot_id != boot_id:
            state = DetectorState(boot_id=boot_id, offsets=state.offsets if not state.boot_id else {},
                                  dropped_lines=0)
        self.state = state
        for d in defaults:
            if d.type not in state.conditions:
                state.conditions[d.type] = ConditionState(d.type, "False", d.reason, d.message, now)
        # A condition no monitor defines any more is dropped (its config was removed).
        for t in [t for t in state.conditions if t not in self.defaults]:
            del state.conditions[t]

    @property
    def conditions(self) -> list[ConditionState]:
        """Current states, in definition order."""
        return [self.state.conditions[t] for t in self.defaults if t in self.state.conditions]

    def set(self, type_: str, status: str, reason: str, message: str, now: float) -> bool:
        """Set a condition (True on a problem, Unknown when a check could not decide); True if it changed."""
        c = self.state.conditions[type_]
        d = self.defaults[type_]
        expires = now + d.ttl_seconds if d.ttl_seconds and status == "True" else None
        changed = (c.status, c.reason, c.message) != (status, reason, message)
        if c.status != status:
            c.since = now
        c.status, c.reason, c.message, c.expires_at = status, reason, message, expires
        return changed

    def clear(self, type_: str, now: float, why: str = "") -> bool:
        """Return a condition to its healthy default; True if it changed."""
        d = self.defaults[type_]
        return self.set(type_, "False", d.reason, d.message if not why else f"{d.message} ({why})", now)

    def expire(self, now: float) -> list[str]:
        """Clear conditions whose TTL passed; their types."""
        out = []
        for c in self.state.conditions.values():
            if c.status == "True" and c.expires_at is not None and now >= c.expires_at:
                self.clear(c.type, now, "cleared after its TTL without a new occurrence")
                out.append(c.type)
        return out

    def next_expiry(self) -> float | None:
        """The earliest pending TTL, if any."""
        times = [c.expires_at for c in self.state.conditions.values() if c.status == "True" and c.expires_at]
        return min(times) if times else None


class StateFile:
    """`DetectorState` on disk (ROOT/var/lib/kubenode/detectors/state.json or the host path)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> DetectorState:
        """The stored state, or an empty one (missing or unreadable file)."""
        try:
            return DetectorState.from_json(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return DetectorState()
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable detector state %s: %s", self.path, exc)
            return DetectorState()

    def save(self, state: DetectorState) -> None:
        """Write atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state.to_json(), sort_keys=True))
        os.replace(tmp, self.path)
