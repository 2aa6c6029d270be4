"""metav1.Condition helpers: set a condition without losing its transition time.

Every operator reports its decisions as conditions (type, status, reason,
message, lastTransitionTime, observedGeneration). The transition time only
moves when the status changes, so "how long has this been false" stays true.
"""

from __future__ import annotations

from typing import Any

from kubenode.apimachinery.timefmt import now_rfc3339, parse_time

Obj = dict[str, Any]




def get_condition(conditions: list[Obj] | None, type_: str) -> Obj | None:
    """The condition of `type_`, if present."""
    for c in conditions or ():
        if c.get("type") == type_:
            return c
    return None


def is_true(conditions: list[Obj] | None, type_: str) -> bool:
    """Whether the condition of `type_` is present and True."""
    c = get_condition(conditions, type_)
    return c is not None and c.get("status") == "True"


def set_condition(conditions: list[Obj], type_: str, status: str, reason: str, message: str = "",
                  *, observed_generation: int | None = None, now: str | None = None) -> bool:
    """Set (in place) one condition; returns True when anything changed.

    `lastTransitionTime` is kept unless `status` changes.
    """
    if status not in ("True", "False", "Unknown"):
        raise ValueError(f"condition status must be True, False or Unknown, not {status!r}")
    existing = get_condition(conditions, type_)
    stamp = now or now_rfc3339()
    if existing is None:
        new: Obj = {"type": type_, "status": status, "reason": reason, "message": message,
                    "lastTransitionTime": stamp}
        if observed_generation is not None:
            new["observedGeneration"] = observed_generation
        conditions.append(new)
        return True
    changed = False
    if existing.get("status") != status:
        existing["status"] = status
        existing["lastTransitionTime"] = stamp
        changed = True
    for key, value in (("reason", reason), ("message", message)):
        if existing.get(key) != value:
            existing[key] = value
            changed = True
    if observed_generation is not None and existing.get("observedGeneration") != observed_generation:
        existing["observedGeneration"] = observed_generation
        changed = True
    existing.setdefault("lastTransitionTime", stamp)
    return changed


def seconds_in_status(conditions: list[Obj] | None, type_: str, now: float) -> float | None:
    """How long the condition has had its current status (None when absent or unparsable)."""
    c = get_condition(conditions, type_)
    if c is None or not c.get("lastTransitionTime"):
        return None
    then = parse_time(c["lastTransitionTime"])
    return None if then is None else now - then
