"""Client resources of the kinds the Remedy Operator reads and writes."""

from __future__ import annotations

from kubenode.api.constants import GROUP, KIND_NODE_REMEDIER, KIND_REMEDY_OPERATION_JOB, VERSION
from kubenode.client.resources import Resource

NODE_REMEDIERS = Resource(GROUP, VERSION, "noderemediers", KIND_NODE_REMEDIER, namespaced=False)
REMEDY_JOBS = Resource(GROUP, VERSION, "remedyoperationjobs", KIND_REMEDY_OPERATION_JOB, namespaced=False)
MACHINES = Resource(GROUP, VERSION, "machines", "Machine", namespaced=False)
