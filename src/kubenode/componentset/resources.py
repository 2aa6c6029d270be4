"""Client resources of the kinds the MachineComponentSet controller reads and writes (`client/kinds.py`).

Machines are read only (the Machine Operator owns them).
"""

from __future__ import annotations

from kubenode.client.kinds import MACHINE_COMPONENT_SETS, MACHINE_COMPONENTS, MACHINES

__all__ = ["MACHINES", "MACHINE_COMPONENTS", "MACHINE_COMPONENT_SETS"]
