"""Client-side label selector matching for cache lookups.

The cache must answer ``list(label_selector=...)`` without a round trip, so
it needs the same selector language the API server speaks: ``k=v``, ``k==v``,
``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k`` and ``!k``, comma-separated
(AND). A mapping means equality on every key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

LabelSelector = str | Mapping[str, str]
Matcher = Callable[[Mapping[str, str]], bool]

_SET_EXPR = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ_EXPR = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)\s*$")


def _split(selector: str) -> list[str]:
    # Commas inside "in (a,b)" do not separate requirements.
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


def _requirement(expr: str) -> Matcher:
    m = _EQ_EXPR.match(expr)
    if m:
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    m = _SET_EXPR.match(expr)
    if m:
        neg, key, op, values = m.groups()
        if op is None:
            if neg:
                return lambda labels: key not in labels
            return lambda labels: key in labels
        if neg:
            raise ValueError(f"invalid label selector requirement {expr!r}")
        allowed = frozenset(v.strip() for v in values.split(",") if v.strip())
        if op == "in":
            return lambda labels: labels.get(key) in allowed
        return lambda labels: labels.get(key) not in allowed
    raise ValueError(f"invalid label selector requirement {expr!r}")


def compile_selector(selector: LabelSelector | None) -> Matcher:
    """A predicate over a label mapping; ``None`` or an empty selector matches everything."""
    if selector is None:
        return lambda labels: True
    if isinstance(selector, Mapping):
        items = tuple(selector.items())
        return lambda labels: all(labels.get(k) == v for k, v in items)
    requirements = [_requirement(p) for p in _split(selector)]
    return lambda labels: all(r(labels) for r in requirements)


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    """``metadata.labels`` of a raw object, or an empty mapping."""
    labels = (obj.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, Mapping) else {}
