"""The `existing` provider: Nodes a cluster already has, adopted as Machines.

On a real cluster the kubelet registered the Node and owns it; the host was
built by somebody else. This provider therefore never creates or deletes a
host: a Machine of type `existing` is "provisioned" exactly when its Node
exists, its providerID is `existing://<node>`, and "deprovisioning" is a
no-op that reports the host gone from KubeNode's hands at once (the Machine
controller has cordoned and drained the Node before and leaves the Node
itself in place). Which Nodes get a Machine is the adoption controller's
business (`machine/adoption_controller.py`), from `spec.parameters.nodeSelector`.

Providers never write to the API; this one only reads the Node.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kubenode.apimachinery.selectors import label_selector_from_dict

from .base import STATE_MISSING, STATE_RUNNING, Bootstrap, InfraProvider, InfraStatus, Obj

#: `spec.type` of the provider.
TYPE = "existing"
#: providerID scheme of adopted nodes.
PROVIDER_ID_PREFIX = "existing://"

#: Reads a Node by name; None when it does not exist.
NodeGetter = Callable[[str], Awaitable[Obj | None]]


def provider_id(node_name: str) -> str:
    """The providerID of an adopted node."""
    return PROVIDER_ID_PREFIX + node_name


def node_name_of(machine: Obj) -> str:
    """The Node a Machine adopts: spec.nodeName, else the machine's name."""
    return str((machine.get("spec") or {}).get("nodeName") or machine["metadata"]["name"])


def node_addresses(node: Obj) -> list[dict[str, str]]:
    """The Node's addresses as Machine.status.addresses entries."""
    out: list[dict[str, str]] = []
    for a in (node.get("status") or {}).get("addresses") or []:
        if isinstance(a, dict) and a.get("type") and a.get("address"):
            out.append({"type": str(a["type"]), "address": str(a["address"])})
    return out


class ExistingNodesProvider(InfraProvider):
    """Adopted Nodes: the host is whatever the kubelet registered; KubeNode never creates or deletes it."""

    type = TYPE
    #: The Machine controller must not delete the Node nor the host; it cordons, drains and releases.
    owns_hosts = False
    #: The kubelet makes the Node Ready on its own: Running also needs the agent's heartbeat.
    requires_agent = True

    def __init__(self, get_node: NodeGetter) -> None:
        self.get_node = get_node

    async def _observe(self, machine: Obj) -> InfraStatus:
        name = node_name_of(machine)
        node = await self.get_node(name)
        if node is None:
            return InfraStatus(STATE_MISSING, message=f"no Node {name} exists to adopt")
        return InfraStatus(STATE_RUNNING, provider_id=provider_id(name), addresses=node_addresses(node),
                           message=f"adopted Node {name}")

    async def create(self, machine: Obj, bootstrap: Bootstrap) -> InfraStatus:
        """Nothing to create: the Node exists or the machine waits for it."""
        return await self._observe(machine)

    async def state(self, machine: Obj) -> InfraStatus:
        """Running while the Node exists."""
        return await self._observe(machine)

    async def delete(self, machine: Obj) -> InfraStatus:
        """Never deletes the host: it leaves KubeNode's hands as it is (cordoned and drained)."""
        return InfraStatus(STATE_MISSING, message="the host was not built by KubeNode and is left in place")


def parse_parameters(parameters: Any) -> Obj:
    """The `nodeSelector` of `spec.parameters`, checked; ValueError says what to fix."""
    if not isinstance(parameters, dict):
        raise ValueError("spec.parameters must be an object with a nodeSelector")
    sel = parameters.get("nodeSelector")
    if not isinstance(sel, dict):
        raise ValueError("spec.parameters.nodeSelector is required: a LabelSelector "
                         "({matchLabels: {...}, matchExpressions: [...]}); {} adopts every Node")
    unknown = sorted(set(sel) - {"matchLabels", "matchExpressions"})
    if unknown:
        raise ValueError(f"spec.parameters.nodeSelector: unknown field(s) {', '.join(unknown)} "
                         "(a LabelSelector has matchLabels and matchExpressions)")
    try:
        label_selector_from_dict(sel)
    except ValueError as exc:
        raise ValueError(f"spec.parameters.nodeSelector: {exc}") from None
    return sel
