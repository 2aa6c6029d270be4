"""Client-side label selector matching for cache lookups.

The cache must answer ``list(label_selector=...)`` without a round trip, so it
needs exactly the selector language the API server speaks. Rather than a
second parser, it reuses the server's (`kubenode.apiserver.selectors`, a pure
module with the full Kubernetes grammar and error messages). A mapping means
equality on every key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kubenode.apimachinery.selectors import parse_label_selector

LabelSelector = str | Mapping[str, str]
Matcher = Callable[[Mapping[str, str]], bool]


def compile_selector(selector: LabelSelector | None) -> Matcher:
    """A predicate over a label mapping; ``None`` or an empty selector matches everything.

    Raises ValueError (with the server's message) for a malformed selector.
    """
    if selector is None:
        return lambda labels: True
    if isinstance(selector, Mapping):
        items = tuple(selector.items())
        return lambda labels: all(labels.get(k) == v for k, v in items)
    parsed = parse_label_selector(selector)
    return parsed.matches


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    """``metadata.labels`` of a raw object, or an empty mapping."""
    labels = (obj.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, Mapping) else {}
