"""Kubernetes Events for decisions, with client-side aggregation.

Every decision an operator takes lands in an Event (DESIGN.md principle 4).
Repeats of the same (object, reason, message) within ten minutes bump the
existing Event's count instead of creating a new object, as client-go's
recorder does, so a flapping condition does not flood the API server.
Event failures are logged, never raised: an Event is a report, not a step.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kubenode.apimachinery.timefmt import format_micro, now_rfc3339
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.resources import EVENTS

log = logging.getLogger("kubenode.events")
Obj = dict[str, Any]

AGGREGATE_SECONDS = 600.0
MAX_TRACKED = 4096


_now = now_rfc3339


def _micro() -> str:
    return format_micro(time.time())


class EventRecorder:
    """Creates (and aggregates) core/v1 Events for objects."""

    def __init__(self, client: KubeClient, component: str, host: str = "") -> None:
        self.client = client
        self.component = component
        self.host = host
        self._seen: dict[tuple[str, str, str], tuple[str, str, int, float]] = {}

    async def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        """Record one Event about `obj` (type Normal or Warning)."""
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        key = (str(meta.get("uid", "")), reason, message)
        now = time.monotonic()
        seen = self._seen.get(key)
        try:
            if seen is not None and now - seen[3] < AGGREGATE_SECONDS:
                name, ns, count, _ = seen
                await self.client.patch(EVENTS, name, {"count": count + 1, "lastTimestamp": _now()}, ns)
                self._seen[key] = (name, ns, count + 1, seen[3])
                return
            body = {
                "apiVersion": "v1", "kind": "Event",
                # client-go's naming: object name + "." + nanoseconds in hex
                "metadata": {"name": f"{meta.get('name', 'object')}.{time.time_ns():x}", "namespace": namespace},
                "involvedObject": {"apiVersion": obj.get("apiVersion", ""), "kind": obj.get("kind", ""),
                                   "name": meta.get("name", ""), "namespace": meta.get("namespace", ""),
                                   "uid": meta.get("uid", ""), "resourceVersion": meta.get("resourceVersion", "")},
                "reason": reason, "message": message[:1024], "type": type_, "count": 1,
                "firstTimestamp": _now(), "lastTimestamp": _now(), "eventTime": _micro(),
                "source": {"component": self.component, "host": self.host},
                "reportingComponent": self.component, "reportingInstance": self.host or self.component,
                "action": reason,
            }
            created = await self.client.create(EVENTS, body, namespace)
            if len(self._seen) >= MAX_TRACKED:
                self._seen.clear()
            self._seen[key] = (created["metadata"]["name"], namespace, 1, now)
        except errors.NotFound:
            self._seen.pop(key, None)  # the aggregated Event is gone: the next one starts afresh
        except (errors.ApiError, OSError) as exc:
            log.warning("could not record event %s for %s: %s", reason, meta.get("name"), exc)
