"""One node drain for every operator: cordon, then evict through the Eviction API, with named pod filters.

Used by Machine deletion, the remediation action `Drain` and a component
rollout's `disruption: Drain`, so the three agree on which pods a drain
leaves alone. As `kubectl drain` does, the filters skip DaemonSet pods
(their controller would put them straight back), mirror (static) pods (the
kubelet owns them) and pods that already finished; every skipped pod is
reported with the filter's name.

A drain never gives up on its own: a pod a PodDisruptionBudget protects
(429) is reported as *blocking*, with its namespace/name, and the caller
calls again later (level-triggered) until it is gone or the caller's own
deadline passes. Each call is one round: cordon (idempotent), list the
node's pods, evict what the filters allow, and say what is left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.resources import NODES, PODS

__all__ = ["DEFAULT_FILTERS", "DrainResult", "PodFilter", "cordon", "daemonset_pods", "drain", "finished_pods",
           "mirror_pods", "uncordon"]

Obj = dict[str, Any]

#: A pod filter: the reason to leave `pod` alone, or None to evict it.
PodFilter = Callable[[Obj], str | None]


def daemonset_pods(pod: Obj) -> str | None:
    """DaemonSet-owned pods stay: their controller would recreate them on the node at once."""
    owners = (pod.get("metadata") or {}).get("ownerReferences") or []
    return "DaemonSetPod" if any(o.get("kind") == "DaemonSet" for o in owners) else None


def mirror_pods(pod: Obj) -> str | None:
    """Mirror (static) pods stay: the kubelet owns them, not the API."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return "MirrorPod" if "kubernetes.io/config.mirror" in annotations else None


def finished_pods(pod: Obj) -> str | None:
    """Pods that already Succeeded or Failed hold nothing: there is nothing to evict."""
    return "FinishedPod" if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") else None


DEFAULT_FILTERS: tuple[PodFilter, ...] = (daemonset_pods, mirror_pods, finished_pods)


@dataclass
class DrainResult:
    """One drain round of one node."""

    node: str
    found: bool = True  # False: the Node does not exist (nothing runs there)
    evicted: list[str] = field(default_factory=list)  # namespace/name
    blocked: list[str] = field(default_factory=list)  # namespace/name a disruption budget protects
    skipped: dict[str, str] = field(default_factory=dict)  # namespace/name → filter reason
    terminating: list[str] = field(default_factory=list)  # evicted earlier, still shutting down

    @property
    def done(self) -> bool:
        """Nothing is left to evict or to wait for."""
        return not self.blocked and not self.evicted and not self.terminating

    def message(self) -> str:
        """What happened, for Events, conditions and job messages."""
        if not self.found:
            return f"node {self.node} not found: nothing to drain"
        if self.blocked:
            return (f"node {self.node}: eviction of {len(self.blocked)} pod(s) blocked by a disruption budget: "
                    + ", ".join(self.blocked[:5]) + (" …" if len(self.blocked) > 5 else ""))
        if self.evicted or self.terminating:
            going = [*self.evicted, *self.terminating]
            return (f"node {self.node}: waiting for {len(going)} evicted pod(s) to go: " + ", ".join(going[:5])
                    + (" …" if len(going) > 5 else ""))
        kept = f" ({len(self.skipped)} pod(s) left alone by the filters)" if self.skipped else ""
        return f"node {self.node} drained{kept}"


async def _set_unschedulable(client: KubeClient, node: str, value: bool, field_manager: str,
                             annotations: dict[str, str | None] | None = None) -> bool:
    """Patch `spec.unschedulable` (and annotations); False when the node does not exist."""
    body: Obj = {"spec": {"unschedulable": value}}
    if annotations:
        body["metadata"] = {"annotations": annotations}
    try:
        await client.patch(NODES, node, body, field_manager=field_manager)
    except errors.NotFound:
        return False
    return True


async def cordon(client: KubeClient, node: str, *, field_manager: str,
                 annotations: dict[str, str | None] | None = None) -> bool:
    """Mark `node` unschedulable; False when it does not exist."""
    return await _set_unschedulable(client, node, True, field_manager, annotations)


async def uncordon(client: KubeClient, node: str, *, field_manager: str,
                   annotations: dict[str, str | None] | None = None) -> bool:
    """Mark `node` schedulable again; False when it does not exist."""
    return await _set_unschedulable(client, node, False, field_manager, annotations)


async def drain(client: KubeClient, node: str, *, field_manager: str,
                filters: Sequence[PodFilter] = DEFAULT_FILTERS, cordon_first: bool = True) -> DrainResult:
    """One round of draining `node`: cordon, then evict every pod no filter keeps (see the module doc)."""
    result = DrainResult(node)
    if cordon_first and not await cordon(client, node, field_manager=field_manager):
        result.found = False
        return result
    pods, _ = await client.list(PODS, None, field_selector=f"spec.nodeName={node}")
    for pod in pods:
        meta = pod["metadata"]
        key = f"{meta.get('namespace')}/{meta['name']}"
        reason = next((r for r in (f(pod) for f in filters) if r), None)
        if reason is not None:
            result.skipped[key] = reason
            continue
        if meta.get("deletionTimestamp"):
            result.terminating.append(key)
            continue
        try:
            await client.evict(meta["name"], meta["namespace"])
        except errors.NotFound:
            continue
        except errors.TooManyRequests:
            result.blocked.append(key)
            continue
        result.evicted.append(key)
    return result
