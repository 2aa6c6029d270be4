"""Client resources of the kinds the Defender reads and writes."""

from __future__ import annotations

from kubenode.api.constants import GROUP, KIND_DEFENDER_POLICY, VERSION
from kubenode.client.resources import Resource

DEFENDER_POLICIES = Resource(GROUP, VERSION, "defenderpolicies", KIND_DEFENDER_POLICY, namespaced=False)
