"""`kubenode up` applies KubeNode's admission policies through the API, as `kubectl apply` would.

The objects are the ones `kubenode policies` prints for real clusters (`api/policies.py`): created when
missing, replaced when they differ, so an upgrade of KubeNode brings its new rules on the next start.
"""

from __future__ import annotations

from typing import Any

from kubenode.api.policies import all_policies
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.resources import Resource

VALIDATING_ADMISSION_POLICIES = Resource("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies",
                                         "ValidatingAdmissionPolicy", False)
VALIDATING_ADMISSION_POLICY_BINDINGS = Resource("admissionregistration.k8s.io", "v1",
                                                "validatingadmissionpolicybindings",
                                                "ValidatingAdmissionPolicyBinding", False)
_BY_KIND = {r.kind: r for r in (VALIDATING_ADMISSION_POLICIES, VALIDATING_ADMISSION_POLICY_BINDINGS)}


async def install_admission_policies(client: KubeClient) -> list[str]:
    """Create or update every shipped policy and binding; returns the names of those that changed."""
    changed: list[str] = []
    for obj in all_policies():
        res = _BY_KIND[obj["kind"]]
        name = obj["metadata"]["name"]
        try:
            current = await client.get(res, name)
        except errors.NotFound:
            await client.create(res, obj)
            changed.append(f"{res.plural}/{name}")
            continue
        if _same(current, obj):
            continue
        body = dict(obj, metadata=dict(obj["metadata"], resourceVersion=current["metadata"]["resourceVersion"]))
        await client.replace(res, body)
        changed.append(f"{res.plural}/{name}")
    return changed


def _same(current: dict[str, Any], desired: dict[str, Any]) -> bool:
    labels = (current.get("metadata") or {}).get("labels") or {}
    return current.get("spec") == desired.get("spec") and all(
        labels.get(k) == v for k, v in (desired["metadata"].get("labels") or {}).items())
