"""KubeNode's RBAC, defined once as plain Kubernetes objects (the same on the embedded server and a real cluster).

Identities (DESIGN.md "Trust model"):

* the operators: ServiceAccount `kubenode-system/kubenode-operator`;
* the agents: the group `kubenode:agents` (host agents' client certificates,
  `O=kubenode:agents`) and, in a DaemonSet, the ServiceAccount
  `kubenode-system/kubenode-agent`.

Least privilege, derived from what the code does (the request each
controller makes, listed per rule below):

* `kubenode-operator` (ClusterRole): the KubeNode kinds and their status
  (it owns them); Nodes (label/taint sync, cordon, delete after the Machine),
  Pods read and evicted (drain), Events written, Namespaces read, agents' and imported kubelets' CSRs
  approved. Secrets,
  ServiceAccounts and their tokens only in `kubenode-system` and the
  leader-election Lease and bootstrap-token Secrets only in `kube-system`, through Roles there — never
  cluster-wide. No RBAC, CRD or admission objects: those come from the
  installer (`kubenode up`, `kubectl apply` of the manifests) as an admin.
* `kubenode-agent` (ClusterRole): reads the node's world (Nodes, Machines,
  MachineComponents, RemedyOperationJobs, Pods), registers and updates Nodes,
  writes the status of Machines, MachineComponents and RemedyOperationJobs
  and MachineComponent finalizers (patch), records Events; its node Lease
  through a Role in `kube-node-lease`; its CertificateSigningRequests. Never Secrets.
* `kubenode-bootstrapper` (ClusterRole, group `system:bootstrappers`): a
  Machine's bootstrap token may create and read CertificateSigningRequests,
  nothing else (kube's `system:node-bootstrapper`); the operator's CSR
  approver decides whether the request is that Machine's. Which *one* node's
  objects an agent may write is not RBAC's to say (RBAC cannot see object
  contents): the node-isolation ValidatingAdmissionPolicy (api/policies.py)
  restricts each write to the agent's own node, before and after.
"""

from __future__ import annotations

from typing import Any

import yaml

from .constants import GROUP
from .kinds import KINDS

Obj = dict[str, Any]

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_API_VERSION = f"{RBAC_GROUP}/v1"
SYSTEM_NAMESPACE = "kubenode-system"
LEADER_ELECTION_NAMESPACE = "kube-system"
NODE_LEASE_NAMESPACE = "kube-node-lease"
OPERATOR = "kubenode-operator"
AGENT = "kubenode-agent"
AGENTS_GROUP = "kubenode:agents"
BOOTSTRAPPER = "kubenode-bootstrapper"
#: kubeadm's group of bootstrap-token identities (system:bootstrap:<id>).
BOOTSTRAPPERS_GROUP = "system:bootstrappers"
CERTIFICATES_GROUP = "certificates.k8s.io"
#: The signer of the agents' client certificates (the only one the operator may approve for).
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
#: The signer of kubelets' client certificates (imported hosts joining as Kubernetes nodes).
KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
#: The operators' user name as the API server sees their ServiceAccount token.
OPERATOR_USER = f"system:serviceaccount:{SYSTEM_NAMESPACE}:{OPERATOR}"

_READ = ["get", "list", "watch"]
_WRITE = ["create", "update", "patch", "delete"]
_LABELS = {"app.kubernetes.io/name": "kubenode", "app.kubernetes.io/part-of": "kubenode"}


def _rule(groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None) -> Obj:
    out: Obj = {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}
    if names:
        out["resourceNames"] = list(names)
    return out


def _meta(name: str, namespace: str = "") -> Obj:
    meta: Obj = {"name": name, "labels": dict(_LABELS)}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _role(kind: str, name: str, rules: list[Obj], namespace: str = "") -> Obj:
    return {"apiVersion": RBAC_API_VERSION, "kind": kind, "metadata": _meta(name, namespace), "rules": rules}


def _binding(kind: str, name: str, role_kind: str, subjects: list[Obj], namespace: str = "") -> Obj:
    return {"apiVersion": RBAC_API_VERSION, "kind": kind, "metadata": _meta(name, namespace),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": name}, "subjects": subjects}


def _sa(name: str) -> Obj:
    return {"kind": "ServiceAccount", "name": name, "namespace": SYSTEM_NAMESPACE}


def _agent_subjects() -> list[Obj]:
    return [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": AGENTS_GROUP}, _sa(AGENT)]


def operator_rules() -> list[Obj]:
    """The operators' cluster-wide rules (ClusterRole kubenode-operator)."""
    kinds = sorted(k.plural for k in KINDS)
    return [
        # Machine, MachineSet, component, remedy and Defender controllers own every KubeNode kind and its status.
        _rule([GROUP], kinds, [*_READ, *_WRITE]),
        _rule([GROUP], [f"{p}/status" for p in kinds], ["get", "patch", "update"]),
        # Node sync (labels, taints), cordon for drain and remediation, delete once the Machine is gone.
        _rule([""], ["nodes"], [*_READ, "patch", "update", "delete"]),
        # Drain: the pods of a node, evicted (never deleted outright).
        _rule([""], ["pods"], _READ),
        _rule([""], ["pods/eviction"], ["create"]),
        # Events about every object it acts on (EventRecorder aggregates by patching the count).
        _rule([""], ["events"], ["create", "patch"]),
        # The CSR approver (machine/csr_approver.py): reads agents' and imported hosts' kubelets'
        # CertificateSigningRequests and approves or denies them through /approval, for those two client
        # signers only (kube asks `approve` on the request's signer).
        _rule([CERTIFICATES_GROUP], ["certificatesigningrequests"], _READ),
        _rule([CERTIFICATES_GROUP], ["certificatesigningrequests/approval"], ["patch", "update"]),
        _rule([CERTIFICATES_GROUP], ["signers"], ["approve"], [CLIENT_SIGNER, KUBELET_CLIENT_SIGNER]),
        # kubenode-system must exist before machines' credentials are minted (created by the installer).
        _rule([""], ["namespaces"], ["get"]),
    ]


def operator_system_rules() -> list[Obj]:
    """The operators' rules in kubenode-system: machines' bootstrap Secrets, ServiceAccounts and tokens, and the
    Defender's ledger ConfigMaps."""
    return [
        _rule([""], ["secrets", "serviceaccounts"], ["get", "create", "delete"]),
        _rule([""], ["serviceaccounts/token"], ["create"]),
        # The Defender's durable ledger: append-only ConfigMap chunks (defender/store.py), pruned by retention.
        _rule([""], ["configmaps"], [*_READ, "create", "update", "delete"]),
    ]


def operator_leader_election_rules() -> list[Obj]:
    """The operators' rules in kube-system: the leader-election Lease `kubenode-operator`, bootstrap tokens."""
    return [
        # create cannot be limited by name (the name is in the body); get and update can.
        _rule(["coordination.k8s.io"], ["leases"], ["create"]),
        _rule(["coordination.k8s.io"], ["leases"], ["get", "update"], [OPERATOR]),
        # Machines' bootstrap tokens (Secrets bootstrap-token-<id>, kubeadm's format; machine/bootstrap.py).
        _rule([""], ["secrets"], ["get", "create", "delete"]),
    ]


def agent_rules() -> list[Obj]:
    """The agents' cluster-wide rules (ClusterRole kubenode-agent); per-node limits come from the VAP."""
    return [
        _rule([""], ["nodes"], [*_READ, "create", "patch", "update"]),
        # get: `kubectl patch --subresource=status` reads the subresource first (as the kubelet's role allows).
        _rule([""], ["nodes/status"], ["get", "patch", "update"]),
        _rule([""], ["pods"], _READ),
        _rule([""], ["events"], ["create", "patch"]),
        _rule([GROUP], ["machines", "machinecomponents", "machinecomponentsets", "remedyoperationjobs"], _READ),
        _rule([GROUP], ["machines/status", "machinecomponents/status", "remedyoperationjobs/status"],
              ["get", "patch", "update"]),
        # Its finalizer kubenode.io/machinecomponent (added before the first install, dropped after removal).
        _rule([GROUP], ["machinecomponents"], ["patch"]),
        # Its client certificate, renewed before expiry (agent/identity.py): kube's selfnodeclient role.
        *bootstrapper_rules(),
    ]


def bootstrapper_rules() -> list[Obj]:
    """What a bootstrap token may do (ClusterRole kubenode-bootstrapper, kube's system:node-bootstrapper)."""
    return [_rule([CERTIFICATES_GROUP], ["certificatesigningrequests"], ["create", *_READ])]


def agent_lease_rules() -> list[Obj]:
    """The agents' rules in kube-node-lease: their node heartbeat Lease."""
    return [_rule(["coordination.k8s.io"], ["leases"], [*_READ, "create", "patch", "update"])]


def service_accounts() -> list[Obj]:
    """The ServiceAccounts the ClusterRoles are bound to."""
    return [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, SYSTEM_NAMESPACE)}
            for name in (OPERATOR, AGENT)]


def rbac_objects() -> list[Obj]:
    """Every Role, ClusterRole and binding of KubeNode, in an order that applies cleanly (roles first)."""
    return [
        _role("ClusterRole", OPERATOR, operator_rules()),
        _role("Role", OPERATOR, operator_system_rules(), SYSTEM_NAMESPACE),
        _role("Role", OPERATOR, operator_leader_election_rules(), LEADER_ELECTION_NAMESPACE),
        _role("ClusterRole", AGENT, agent_rules()),
        _role("Role", AGENT, agent_lease_rules(), NODE_LEASE_NAMESPACE),
        _role("ClusterRole", BOOTSTRAPPER, bootstrapper_rules()),
        _binding("ClusterRoleBinding", OPERATOR, "ClusterRole", [_sa(OPERATOR)]),
        _binding("RoleBinding", OPERATOR, "Role", [_sa(OPERATOR)], SYSTEM_NAMESPACE),
        _binding("RoleBinding", OPERATOR, "Role", [_sa(OPERATOR)], LEADER_ELECTION_NAMESPACE),
        _binding("ClusterRoleBinding", AGENT, "ClusterRole", _agent_subjects()),
        _binding("RoleBinding", AGENT, "Role", _agent_subjects(), NODE_LEASE_NAMESPACE),
        _binding("ClusterRoleBinding", BOOTSTRAPPER, "ClusterRole",
                 [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": BOOTSTRAPPERS_GROUP}]),
    ]


def all_objects() -> list[Obj]:
    """The namespace-scoped prerequisites and RBAC objects, in apply order (`kubenode rbac` prints these)."""
    return [*service_accounts(), *rbac_objects()]


def rbac_yaml() -> str:
    """The namespace kubenode-system and `all_objects()` as multi-document YAML (what `kubenode rbac` prints)."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(SYSTEM_NAMESPACE)}
    return yaml.safe_dump_all([namespace, *all_objects()], sort_keys=False, explicit_start=True, width=120)
