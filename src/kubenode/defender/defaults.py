"""The DefenderPolicy `kubenode up` installs on first start (documented in docs/defender.md).

The figures follow the anchors: KubeDefender's 1m/5m/1h/24h windows, a storm
guard like MachineHealthCheck's maxUnhealthy (30%: kube-controller-manager
slows evictions once a zone is 55% unhealthy; we stop remediating earlier),
one replacement at a time in the spirit of Gardener's meltdown protection,
loosened enough that a remediation ladder (restart, reboot, replace) on one
node and ordinary scale-downs of a small fleet pass.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from kubenode.api import constants as c
from kubenode.client import errors
from kubenode.client.client import KubeClient

from .resources import DEFENDER_POLICIES

__all__ = ["DEFAULT_POLICY", "DEFAULT_POLICY_NAME", "default_policy", "install_default_policy"]

DEFAULT_POLICY_NAME = "default"
#: Marker in the data directory: the default was installed once; deleting the policy afterwards sticks.
MARKER = "defender-default-policy-installed"

DEFAULT_POLICY: dict[str, Any] = {
    "apiVersion": c.API_VERSION,
    "kind": c.KIND_DEFENDER_POLICY,
    "metadata": {"name": DEFAULT_POLICY_NAME, "labels": {"app.kubernetes.io/managed-by": "kubenode-up"}},
    "spec": {
        "rules": [
            {"name": "remediation-budget", "operations": [c.OPERATION_REMEDIATION],
             "budgets": [{"window": "1m", "limit": 10}, {"window": "5m", "limit": 20},
                         {"window": "1h", "limit": 60}, {"window": "24h", "limit": 200}],
             "maxConcurrent": 5},
            {"name": "disruptive-remediation", "operations": [c.OPERATION_REMEDIATION],
             "actions": [c.ACTION_REBOOT, c.ACTION_DRAIN, c.ACTION_REPLACE],
             "budgets": [{"window": "1m", "limit": 3}, {"window": "1h", "limit": 20},
                         {"window": "24h", "limit": 50}],
             "maxConcurrent": 2},
            {"name": "storm-guard", "operations": [c.OPERATION_REMEDIATION, c.OPERATION_COMPONENT_UPGRADE],
             "maxUnhealthy": "30%"},
            {"name": "machine-deletions", "operations": [c.OPERATION_MACHINE_DELETION],
             "budgets": [{"window": "1m", "limit": 5}, {"window": "1h", "limit": 30},
                         {"window": "24h", "limit": 100}],
             "maxConcurrent": 5},
        ],
        "circuitBreaker": {"cooldownSeconds": 300},
    },
}


def default_policy() -> dict[str, Any]:
    """A fresh copy of the default policy object."""
    return copy.deepcopy(DEFAULT_POLICY)


async def install_default_policy(client: KubeClient, data_dir: Path) -> bool:
    """Create the default policy on the first start of a data directory; True when it was created now.

    Later starts leave policies alone, so an operator who deleted or replaced the default keeps that choice.
    """
    marker = data_dir / MARKER
    if marker.exists():
        return False
    created = True
    try:
        await client.create(DEFENDER_POLICIES, default_policy())
    except errors.AlreadyExists:
        created = False
    marker.write_text("the default DefenderPolicy was installed; delete this file to reinstall it\n")
    return created
