"""Client resources of the kinds the release controllers read and write (management and member clusters;
defined once, in `client/kinds.py`)."""

from __future__ import annotations

from kubenode.client.kinds import (
    CLUSTERS,
    COMPONENT_RELEASES,
    DEFENDER_POLICIES,
    MACHINE_COMPONENT_SETS,
    MACHINE_COMPONENTS,
    MACHINES,
    REMEDY_OPERATION_JOBS,
)

__all__ = ["CLUSTERS", "COMPONENT_RELEASES", "DEFENDER_POLICIES", "MACHINES", "MACHINE_COMPONENTS",
           "MACHINE_COMPONENT_SETS", "REMEDY_OPERATION_JOBS"]
