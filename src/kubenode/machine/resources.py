"""Client resources of the kinds the Machine Operator reads and writes."""

from __future__ import annotations

from kubenode.api.constants import GROUP, VERSION
from kubenode.client.resources import Resource

MACHINES = Resource(GROUP, VERSION, "machines", "Machine", namespaced=False)
MACHINE_SETS = Resource(GROUP, VERSION, "machinesets", "MachineSet", namespaced=False)
MACHINE_COMPONENTS = Resource(GROUP, VERSION, "machinecomponents", "MachineComponent", namespaced=False)
INFRA_PROVIDERS = Resource(GROUP, VERSION, "infraproviders", "InfraProvider", namespaced=False)
