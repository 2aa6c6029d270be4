"""Defence in depth: which MachineComponents and RemedyOperationJobs this agent is willing to act on.

The API server (RBAC, the node-isolation admission policy, immutable CRD fields) already keeps other
nodes from writing this node's objects. The agent does not rely on that alone: an object whose label
happens to name this machine (a relabelled object, a server without the policy) is acted on only when
its *spec* names this machine and node, and — for a MachineComponent — when its controller is a
MachineComponentSet that exists. Anything else is ignored, with a Warning Event saying why.
"""

from __future__ import annotations

from typing import Any

from kubenode.api import constants as c

__all__ = ["REASON_IGNORED", "component_mismatch", "controller_set", "job_mismatch"]

Obj = dict[str, Any]

#: Event reason for objects the agent refuses to act on.
REASON_IGNORED = "NotForThisNode"


def controller_set(obj: Obj) -> Obj | None:
    """The ownerReference of `obj` that is its controller and a MachineComponentSet, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == c.KIND_MACHINE_COMPONENT_SET \
                and str(ref.get("apiVersion", "")).split("/")[0] == c.GROUP:
            return dict(ref)
    return None


def component_mismatch(obj: Obj, machine: str, node: str = "") -> str | None:
    """Why a MachineComponent is not this agent's to install (None: it is, as far as its content goes)."""
    spec = obj.get("spec") or {}
    name = (obj.get("metadata") or {}).get("name", "")
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if spec.get("machineName") != machine:
        return f"MachineComponent {name} names machine {spec.get('machineName')!r} in spec.machineName, not {machine}"
    if labels.get(c.LABEL_MACHINE) != machine:
        return f"MachineComponent {name} is labelled {c.LABEL_MACHINE}={labels.get(c.LABEL_MACHINE)!r}, not {machine}"
    if node and spec.get("nodeName") not in (None, node):
        return f"MachineComponent {name} names node {spec.get('nodeName')!r} in spec.nodeName, not {node}"
    if controller_set(obj) is None:
        return f"MachineComponent {name} has no MachineComponentSet as its controller"
    return None


def job_mismatch(obj: Obj, machine: str, node: str) -> str | None:
    """Why a RemedyOperationJob is not this agent's to execute (None: it is)."""
    spec = obj.get("spec") or {}
    name = (obj.get("metadata") or {}).get("name", "")
    if spec.get("nodeName") != node:
        return f"RemedyOperationJob {name} is for node {spec.get('nodeName')!r}, not {node}"
    if spec.get("machineName") not in (None, machine):
        return f"RemedyOperationJob {name} is for machine {spec.get('machineName')!r}, not {machine}"
    return None
