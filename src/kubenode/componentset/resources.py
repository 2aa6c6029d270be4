"""Client resources of the kinds the MachineComponentSet controller reads and writes."""

from __future__ import annotations

from kubenode.api.constants import GROUP, KIND_MACHINE, KIND_MACHINE_COMPONENT, KIND_MACHINE_COMPONENT_SET, VERSION
from kubenode.client.resources import Resource

MACHINE_COMPONENT_SETS = Resource(GROUP, VERSION, "machinecomponentsets", KIND_MACHINE_COMPONENT_SET,
                                  namespaced=False)
MACHINE_COMPONENTS = Resource(GROUP, VERSION, "machinecomponents", KIND_MACHINE_COMPONENT, namespaced=False)
#: Read only (the Machine Operator owns Machines); equal to `machine.resources.MACHINES`, so the Manager's
#: informer factory hands both operators the same shared informer.
MACHINES = Resource(GROUP, VERSION, "machines", KIND_MACHINE, namespaced=False)
