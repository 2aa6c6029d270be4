"""Client resources of the kinds the release controllers read and write (management and member clusters)."""

from __future__ import annotations

from kubenode.api.constants import (
    GROUP,
    KIND_CLUSTER,
    KIND_COMPONENT_RELEASE,
    KIND_DEFENDER_POLICY,
    KIND_MACHINE,
    KIND_MACHINE_COMPONENT,
    KIND_MACHINE_COMPONENT_SET,
    KIND_REMEDY_OPERATION_JOB,
    VERSION,
)
from kubenode.client.resources import Resource

CLUSTERS = Resource(GROUP, VERSION, "clusters", KIND_CLUSTER, namespaced=False)
COMPONENT_RELEASES = Resource(GROUP, VERSION, "componentreleases", KIND_COMPONENT_RELEASE, namespaced=False)
# In member clusters:
MACHINE_COMPONENT_SETS = Resource(GROUP, VERSION, "machinecomponentsets", KIND_MACHINE_COMPONENT_SET,
                                  namespaced=False)
MACHINES = Resource(GROUP, VERSION, "machines", KIND_MACHINE, namespaced=False)
MACHINE_COMPONENTS = Resource(GROUP, VERSION, "machinecomponents", KIND_MACHINE_COMPONENT, namespaced=False)
REMEDY_OPERATION_JOBS = Resource(GROUP, VERSION, "remedyoperationjobs", KIND_REMEDY_OPERATION_JOB, namespaced=False)
DEFENDER_POLICIES = Resource(GROUP, VERSION, "defenderpolicies", KIND_DEFENDER_POLICY, namespaced=False)
