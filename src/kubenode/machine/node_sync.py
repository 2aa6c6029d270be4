"""Sync of a Machine's labels, taints and schedulability onto its Node: a pure diff.

The Machine owns only what it put there. The keys it owns are remembered on
the Node itself (annotations `kubenode.io/owned-labels` and
`kubenode.io/owned-taints`), so removing a label from `spec.nodeLabels`
removes it from the Node, while labels and taints that others set (the
agent, humans, the node lifecycle controller) are never touched.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

OWNED_LABELS = "kubenode.io/owned-labels"
OWNED_TAINTS = "kubenode.io/owned-taints"
MACHINE_LABEL = "kubenode.io/machine"


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def _taint_id(t: Obj) -> str:
    return f"{t.get('key', '')}:{t.get('effect', '')}"


def node_patch(machine: Obj, node: Obj) -> Obj | None:
    """The merge patch that brings `node` in line with `machine`, or None when in sync.

    The patch carries the Node's resourceVersion, so a concurrent change makes
    it fail with 409 and the controller retries on fresh data.
    """
    spec = machine.get("spec") or {}
    name = machine["metadata"]["name"]
    meta = node.get("metadata") or {}
    labels: dict[str, str] = dict(meta.get("labels") or {})
    annotations: dict[str, str] = meta.get("annotations") or {}

    desired_labels = {str(k): str(v) for k, v in (spec.get("nodeLabels") or {}).items()}
    desired_labels[MACHINE_LABEL] = name
    owned = set(_split(annotations.get(OWNED_LABELS)))
    label_patch: dict[str, str | None] = {}
    for key in owned - set(desired_labels):
        if key in labels:
            label_patch[key] = None
    for key, value in desired_labels.items():
        if labels.get(key) != value:
            label_patch[key] = value

    taints: list[Obj] = list((node.get("spec") or {}).get("taints") or [])
    desired_taints = [{k: v for k, v in t.items() if k in ("key", "value", "effect")}
                      for t in spec.get("nodeTaints") or []]
    desired_ids = {_taint_id(t) for t in desired_taints}
    owned_taints = set(_split(annotations.get(OWNED_TAINTS)))
    kept = [t for t in taints if _taint_id(t) not in owned_taints and _taint_id(t) not in desired_ids]
    new_taints = kept + desired_taints
    current_cmp = sorted((_taint_id(t), t.get("value", "")) for t in taints)
    new_cmp = sorted((_taint_id(t), t.get("value", "")) for t in new_taints)

    new_owned_labels = ",".join(sorted(desired_labels))
    new_owned_taints = ",".join(sorted(desired_ids))
    patch: Obj = {"metadata": {"resourceVersion": meta.get("resourceVersion")}}
    if label_patch:
        patch["metadata"]["labels"] = label_patch
    ann_patch: dict[str, str | None] = {}
    if annotations.get(OWNED_LABELS, "") != new_owned_labels:
        ann_patch[OWNED_LABELS] = new_owned_labels
    if annotations.get(OWNED_TAINTS, "") != new_owned_taints:
        ann_patch[OWNED_TAINTS] = new_owned_taints or None
    if ann_patch:
        patch["metadata"]["annotations"] = ann_patch
    node_spec: Obj = {}
    if current_cmp != new_cmp:
        node_spec["taints"] = new_taints or None
    want_unsched = spec.get("unschedulable")
    if want_unsched is not None and bool((node.get("spec") or {}).get("unschedulable")) != bool(want_unsched):
        node_spec["unschedulable"] = bool(want_unsched)
    if node_spec:
        patch["spec"] = node_spec
    if len(patch) == 1 and len(patch["metadata"]) == 1:
        return None
    return patch


def sync_summary(machine: Obj) -> str:
    """A human line for the NodeSynced condition."""
    spec = machine.get("spec") or {}
    n_labels = len(spec.get("nodeLabels") or {})
    n_taints = len(spec.get("nodeTaints") or [])
    return f"{n_labels} label(s) and {n_taints} taint(s) from the machine are on the node"
