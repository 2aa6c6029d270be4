"""The KubeNode kinds as client resources: one definition of each, for every layer above the client.

All are cluster-scoped in group `kubenode.io/v1alpha1` (DESIGN.md). Equal
resources compare equal, so the Manager's informer factory hands every
operator that asks for one the same shared informer.
"""

from __future__ import annotations

from kubenode.api import constants as c

from .resources import Resource


def _kind(plural: str, kind: str) -> Resource:
    return Resource(c.GROUP, c.VERSION, plural, kind, namespaced=False)


INFRA_PROVIDERS = _kind("infraproviders", c.KIND_INFRA_PROVIDER)
MACHINES = _kind("machines", c.KIND_MACHINE)
MACHINE_SETS = _kind("machinesets", c.KIND_MACHINE_SET)
MACHINE_COMPONENT_SETS = _kind("machinecomponentsets", c.KIND_MACHINE_COMPONENT_SET)
MACHINE_COMPONENTS = _kind("machinecomponents", c.KIND_MACHINE_COMPONENT)
NODE_REMEDIERS = _kind("noderemediers", c.KIND_NODE_REMEDIER)
REMEDY_OPERATION_JOBS = _kind("remedyoperationjobs", c.KIND_REMEDY_OPERATION_JOB)
DEFENDER_POLICIES = _kind("defenderpolicies", c.KIND_DEFENDER_POLICY)
CLUSTERS = _kind("clusters", c.KIND_CLUSTER)
COMPONENT_RELEASES = _kind("componentreleases", c.KIND_COMPONENT_RELEASE)
