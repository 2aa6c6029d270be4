"""Installing KubeNode's ServiceAccounts and RBAC (api/rbac.py) through the API, as `kubectl apply` would.

Run by `kubenode up` as the admin before the operators start: the operators
themselves may not write RBAC (that would let them grant themselves anything),
so the installer does, once per start, creating what is missing and replacing
what differs from the shipped definition.
"""

from __future__ import annotations

from typing import Any

from kubenode.api.rbac import RBAC_GROUP, all_objects
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.resources import SERVICEACCOUNTS, Resource

Obj = dict[str, Any]

RBAC_RESOURCES: dict[str, Resource] = {
    "Role": Resource(RBAC_GROUP, "v1", "roles", "Role", namespaced=True),
    "ClusterRole": Resource(RBAC_GROUP, "v1", "clusterroles", "ClusterRole", namespaced=False),
    "RoleBinding": Resource(RBAC_GROUP, "v1", "rolebindings", "RoleBinding", namespaced=True),
    "ClusterRoleBinding": Resource(RBAC_GROUP, "v1", "clusterrolebindings", "ClusterRoleBinding",
                                   namespaced=False),
    "ServiceAccount": SERVICEACCOUNTS,
}
#: The fields a shipped object defines besides metadata (compared to decide whether to replace).
_CONTENT = ("rules", "roleRef", "subjects")


async def install_rbac(client: KubeClient) -> int:
    """Create or update every object of `all_objects()`; returns how many were written."""
    written = 0
    for obj in all_objects():
        res = RBAC_RESOURCES[obj["kind"]]
        meta = obj["metadata"]
        ns = meta.get("namespace")
        try:
            current = await client.get(res, meta["name"], ns)
        except errors.NotFound:
            await client.create(res, obj, ns)
            written += 1
            continue
        labels = (current.get("metadata") or {}).get("labels") or {}
        if all(current.get(k) == obj.get(k) for k in _CONTENT) and all(
                labels.get(k) == v for k, v in (meta.get("labels") or {}).items()):
            continue
        if "roleRef" in obj and current.get("roleRef") != obj["roleRef"]:  # roleRef is immutable: re-create
            await client.delete(res, meta["name"], ns)
            await client.create(res, obj, ns)
            written += 1
            continue
        body = dict(obj, metadata=dict(meta, resourceVersion=current["metadata"]["resourceVersion"],
                                       labels={**labels, **(meta.get("labels") or {})}))
        await client.replace(res, body)
        written += 1
    return written
