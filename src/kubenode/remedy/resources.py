"""Client resources of the kinds the Remedy Operator reads and writes (defined once, in `client/kinds.py`)."""

from __future__ import annotations

from kubenode.client.kinds import MACHINES, NODE_REMEDIERS
from kubenode.client.kinds import REMEDY_OPERATION_JOBS as REMEDY_JOBS

__all__ = ["MACHINES", "NODE_REMEDIERS", "REMEDY_JOBS"]
