"""Authorization of agents on the embedded control plane (a NodeRestriction for KubeNode).

An agent authenticates as the ServiceAccount `kubenode-system/machine-<M>`
of its Machine M. It may read what it needs (everything except Secrets) and
write only its own objects: its Node (and its status), its Lease in
`kube-node-lease`, its Machine's status, the status of MachineComponents and
RemedyOperationJobs labelled `kubenode.io/machine=<M>`, and Events. Writes of
those kinds beyond that are 403; for anything else the rule has no opinion and
RBAC decides (self reviews, discovery), as kube chains its Node authorizer
before RBAC.

One exception reaches past status: the agent owns the finalizer
`kubenode.io/machinecomponent` of its MachineComponents (it adds it before
the first install and drops it once the component is removed), so it may
`patch` — not create, update or delete — the main resource of a
MachineComponent labelled with its machine. Authorization sees no request
body, so this rule cannot limit such a patch to `metadata.finalizers`; the
limit is that an agent can only touch its own node's MachineComponents (a
compromised agent could already lie in their status). An admission policy on
a real cluster can narrow it to finalizers.

On a real cluster the same limits come from RBAC plus an admission policy;
this rule is how `kubenode up` enforces them without either.

TRANSITIONAL (issue 9): agents on hosts now authenticate with a client
certificate ``CN=kubenode:agent:<node>, O=kubenode:agents`` obtained with a
bootstrap token (`agent/identity.py`). Until RBAC (the ``kubenode-agent``
ClusterRole) and the node-isolation ValidatingAdmissionPolicy are merged,
this rule gives that identity the same limits as the legacy
``machine-<M>`` ServiceAccount, plus what kube's ``system:node-bootstrapper``
and self-node-client roles grant: bootstrap tokens and agents may create and
read CertificateSigningRequests. The whole module goes once RBAC and the VAP
cover both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubenode.api.constants import GROUP, LABEL_MACHINE
from kubenode.apiserver.authz import Attributes, Rule
from kubenode.apiserver.security import User
from kubenode.machine.bootstrap import SA_PREFIX, SYSTEM_NAMESPACE

Obj = dict[str, Any]
#: Reads an object from the server's store by key ("group/plural/namespace/name").
StoreGet = Callable[[str], Obj | None]

_PREFIX = f"system:serviceaccount:{SYSTEM_NAMESPACE}:{SA_PREFIX}"
_CERT_PREFIX = "kubenode:agent:"
_AGENTS = "kubenode:agents"
_BOOTSTRAPPERS = "system:bootstrappers"
_CSR_VERBS = frozenset({"create", "get", "list", "watch"})
_READ = frozenset({"get", "list", "watch"})
_WRITE = frozenset({"create", "update", "patch"})
_LABELLED_STATUS = frozenset({"machinecomponents", "remedyoperationjobs"})


def is_legacy_agent(user: User) -> bool:
    """Whether `agent_rule` decides for `user` (a machine's ServiceAccount)."""
    return user.name.startswith(_PREFIX)


def agent_rule(get: StoreGet) -> Rule:
    """The authorization rule for agent identities, reading Machines through `get`."""

    def rule(a: Attributes) -> bool | None:
        csr = a.group == "certificates.k8s.io" and a.resource == "certificatesigningrequests" and not a.subresource
        if a.user.name.startswith(_PREFIX):
            machine_name = a.user.name[len(_PREFIX):]
            machine = get(f"{GROUP}/machines//{machine_name}")
            node_name = str(((machine or {}).get("spec") or {}).get("nodeName") or machine_name)
        elif a.user.name.startswith(_CERT_PREFIX) and _AGENTS in a.user.groups:
            node_name = a.user.name[len(_CERT_PREFIX):]
            machine_name, machine = _machine_of_node(get, node_name)
        elif _BOOTSTRAPPERS in a.user.groups:
            return True if csr and a.verb in _CSR_VERBS else None
        else:
            return None
        if a.path:
            return None  # discovery, /version: RBAC's bootstrap roles
        if csr and a.verb in _CSR_VERBS:
            return True
        if a.verb in _READ:
            return a.resource != "secrets"
        if a.verb not in _WRITE:
            return None
        if a.group == "" and a.resource == "nodes":
            return a.name == node_name and a.subresource in ("", "status")
        if a.group == "coordination.k8s.io" and a.resource == "leases":
            return a.namespace == "kube-node-lease" and a.name == node_name
        if a.group == "" and a.resource == "events":
            return a.verb in ("create", "patch")
        if a.group == GROUP and a.resource == "machines":
            return machine is not None and a.name == machine_name and a.subresource == "status"
        if a.group == GROUP and a.resource in _LABELLED_STATUS and a.subresource == "status":
            return _labelled_for(get, a, machine_name)
        if a.group == GROUP and a.resource == "machinecomponents" and a.subresource == "" and a.verb == "patch":
            # The agent adds and drops its finalizer (kubenode.io/machinecomponent). The authorizer cannot
            # see the request body, so "finalizers only" is not enforced here: the agent may patch the main
            # resource of its own MachineComponents, never create, replace or delete them (see module doc).
            return _labelled_for(get, a, machine_name)
        if a.group in ("", "coordination.k8s.io", GROUP):
            return False
        return None

    return rule


def _machine_of_node(get: StoreGet, node_name: str) -> tuple[str, Obj | None]:
    """The Machine of the same name whose node is `node_name` (never a label the agent itself could write)."""
    machine = get(f"{GROUP}/machines//{node_name}")
    if machine is not None and str((machine.get("spec") or {}).get("nodeName") or node_name) == node_name:
        return node_name, machine
    return node_name, None


def _labelled_for(get: StoreGet, a: Attributes, machine_name: str) -> bool:
    """Whether the object named by `a` exists and is labelled `kubenode.io/machine=<machine_name>`."""
    obj = get(f"{GROUP}/{a.resource}//{a.name}")
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(LABEL_MACHINE) == machine_name
