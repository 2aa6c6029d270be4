"""Client resources of the kinds the Machine Operator reads and writes (defined once, in `client/kinds.py`)."""

from __future__ import annotations

from kubenode.client.kinds import INFRA_PROVIDERS, MACHINE_COMPONENTS, MACHINE_SETS, MACHINES

__all__ = ["INFRA_PROVIDERS", "MACHINES", "MACHINE_COMPONENTS", "MACHINE_SETS"]
