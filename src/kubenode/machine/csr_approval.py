"""Which agent certificate requests KubeNode approves: a pure function of the CSR and the Machines.

A CertificateSigningRequest is KubeNode's when its signer is
``kubernetes.io/kube-apiserver-client`` and its subject's CN is
``kubenode:agent:<node>``; every other CSR is someone else's and left alone
(as kube's own approvers ignore what they do not recognise). One of ours is
approved only when all of these hold:

* the subject is exactly ``CN=kubenode:agent:<node>, O=kubenode:agents``, with
  no subject alternative names, and the usages are client auth plus at most
  digital signature / key encipherment (otherwise **Denied**: it can never be
  right);
* ``<node>`` is the node of a Machine KubeNode manages (not being deleted);
* the requester is that Machine's bootstrap token
  (``system:bootstrap:<id>`` in ``system:bootstrappers`` with ``<id>`` the
  Machine's ``kubenode.io/bootstrap-token-id``) — a first certificate — or the
  agent's own current certificate identity ``kubenode:agent:<node>`` in
  ``kubenode:agents`` — a renewal.

Anything else (a node that is no Machine, another machine's token, …) stays
**pending** with a Warning Event that says why: a human may still approve it
with ``kubectl certificate approve`` after checking.

Kubelet client certificates (an imported host joining as a Kubernetes node,
`providers/kubelet_join.py`): signer ``kubernetes.io/kube-apiserver-client-kubelet``
and ``CN=system:node:<node>``, as the kubelet's TLS bootstrap requests them. Like
kubelet-csr-approver and kube's own approver, KubeNode approves one only when

* it is exactly a kubelet client request (kube's `ValidateKubeletClientCSR`:
  ``O=system:nodes`` alone, no subject alternative names, usages digital
  signature + client auth, with key encipherment or without it — the latter for
  ECDSA keys), signed by its own key;
* ``<node>`` is the node of a Machine KubeNode *imported* (``spec.import``);
* the requester is that Machine's kubelet bootstrap token
  (``system:bootstrap:<id>`` in ``system:bootstrappers``, ``<id>`` its
  ``kubenode.io/kubelet-bootstrap-token-id``) — the join — or the kubelet itself,
  ``system:node:<node>`` in ``system:nodes`` — a renewal.

Every other kubelet request is left pending with its reason, never denied: on a
real cluster it may be someone else's to approve (kube-controller-manager's
approver for kubeadm's tokens, a human).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from kubenode.providers.kubelet_join import ANNOTATION_KUBELET_TOKEN_ID

from .bootstrap import token_id_of

Obj = dict[str, Any]

SIGNER = "kubernetes.io/kube-apiserver-client"
AGENT_PREFIX = "kubenode:agent:"
AGENT_GROUP = "kubenode:agents"
BOOTSTRAP_PREFIX = "system:bootstrap:"
BOOTSTRAPPERS = "system:bootstrappers"
ALLOWED_USAGES = frozenset({"client auth", "digital signature", "key encipherment"})
KUBELET_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
#: kube's kubeletClientRequiredUsages and kubeletClientRequiredUsagesNoRSA.
KUBELET_USAGES = (frozenset({"digital signature", "key encipherment", "client auth"}),
                  frozenset({"digital signature", "client auth"}))

APPROVE, DENY, PENDING = "Approve", "Deny", "Pending"


@dataclass(frozen=True)
class Decision:
    """What to do with one CSR: Approve, Deny or leave Pending, with a reason and a message for humans."""

    action: str
    reason: str
    message: str


def _node_in(csr: Obj, signer: str, prefix: str) -> str | None:
    """`<node>` of a CSR for `signer` whose one common name is `prefix<node>`, else None."""
    spec = csr.get("spec") or {}
    if spec.get("signerName") != signer:
        return None
    try:
        request = x509.load_pem_x509_csr(base64.b64decode(str(spec.get("request") or "")))
    except ValueError:
        return None
    cns = request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(cns) != 1 or not str(cns[0].value).startswith(prefix):
        return None
    return str(cns[0].value)[len(prefix):]


def agent_node(csr: Obj) -> str | None:
    """The node an agent CSR is for, or None when the CSR is not KubeNode's (other signer or subject)."""
    return _node_in(csr, SIGNER, AGENT_PREFIX)


def kubelet_node(csr: Obj) -> str | None:
    """The node a kubelet client CSR is for (signer and `CN=system:node:<node>`), else None."""
    return _node_in(csr, KUBELET_SIGNER, NODE_PREFIX)


def _subject_problem(request: x509.CertificateSigningRequest, what: str, prefix: str, group: str) -> str:
    """Why `request`'s subject is not exactly `CN=<prefix><node>, O=<group>` without SANs ("" when it is)."""
    orgs = [str(a.value) for a in request.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    others = [a for a in request.subject if a.oid not in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME)]
    if orgs != [group] or others:
        return f"{what} must have exactly the subject CN={prefix}<node>, O={group}"
    try:
        request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return f"{what} may not carry subject alternative names"
    except x509.ExtensionNotFound:
        return ""


def csr_node(csr: Obj) -> str | None:
    """The node of a CSR KubeNode decides on (an agent's or a kubelet's client certificate), else None."""
    return agent_node(csr) or kubelet_node(csr)


def decided(csr: Obj) -> bool:
    """Whether the CSR already has an Approved or Denied condition."""
    return any(c.get("type") in ("Approved", "Denied") for c in (csr.get("status") or {}).get("conditions") or [])


def _node_of(machine: Obj) -> str:
    return str((machine.get("spec") or {}).get("nodeName") or machine["metadata"]["name"])


def _machine_of(node: str, machines: list[Obj]) -> Obj | None:
    """The Machine (not being deleted) whose node is `node`."""
    return next((m for m in machines if _node_of(m) == node and not m["metadata"].get("deletionTimestamp")), None)


def _with_token(spec: Obj, token_id: str) -> bool:
    """Whether the CSR was requested with the bootstrap token `token_id` (`system:bootstrap:<id>`)."""
    return bool(token_id) and spec.get("username") == BOOTSTRAP_PREFIX + token_id and BOOTSTRAPPERS in (
        spec.get("groups") or [])


def _no_machine(node: str, whose: str = "") -> Decision:
    """Pending: `node` is no Machine's (`whose`: what of the node would have been approved, e.g. "its kubelet")."""
    return Decision(PENDING, "NodeNotAMachine", f"node {node!r} belongs to no Machine KubeNode manages; not "
                                                f"approving {whose + ' ' if whose else ''}automatically")


def _by_requester(spec: Obj, token_id: str, own_user: str, own_group: str, *, first: str, renewal: str,
                  neither: str, other_token: str | None = None) -> Decision:
    """Approve what the Machine's bootstrap token `token_id` asked for (`first`), or the certificate's own
    identity (`own_user` in `own_group`: `renewal`); else pending with `neither`, or with `other_token`
    when it was another bootstrap token (None: `neither` says that too)."""
    username = str(spec.get("username") or "")
    groups = spec.get("groups") or []
    if _with_token(spec, token_id):
        return Decision(APPROVE, "AutoApproved", first)
    if other_token is not None and username.startswith(BOOTSTRAP_PREFIX) and BOOTSTRAPPERS in groups:
        return Decision(PENDING, "RequesterNotMachine", other_token)
    if username == own_user and own_group in groups:
        return Decision(APPROVE, "AutoApproved", renewal)
    return Decision(PENDING, "RequesterNotMachine", neither)


def decide(csr: Obj, machines: list[Obj]) -> Decision | None:
    """The decision for `csr` given every Machine; None when the CSR is not ours or already decided."""
    if decided(csr):
        return None
    node = agent_node(csr)
    if node is None:
        kubelet = kubelet_node(csr)
        return None if kubelet is None else _decide_kubelet(csr, kubelet, machines)
    spec = csr.get("spec") or {}
    request = x509.load_pem_x509_csr(base64.b64decode(str(spec.get("request"))))
    problem = _subject_problem(request, "an agent certificate", AGENT_PREFIX, AGENT_GROUP)
    if problem or not node:
        return Decision(DENY, "InvalidSubject", problem or f"an agent certificate must name its node: "
                                                           f"CN={AGENT_PREFIX}<node>")
    usages = set(spec.get("usages") or [])
    if "client auth" not in usages or not usages <= ALLOWED_USAGES:
        return Decision(DENY, "InvalidUsages", f"an agent certificate is for client auth only (with digital "
                                               f"signature, key encipherment); asked for {sorted(usages)}")
    machine = _machine_of(node, machines)
    if machine is None:
        return _no_machine(node)
    name = machine["metadata"]["name"]
    username = str(spec.get("username") or "")
    return _by_requester(
        spec, token_id_of(machine), AGENT_PREFIX + node, AGENT_GROUP,
        first=f"Auto-approved by KubeNode: first certificate of machine {name}'s agent, requested with the "
              f"machine's bootstrap token",
        renewal=f"Auto-approved by KubeNode: renewal of machine {name}'s agent certificate, requested with its "
                f"current certificate",
        neither=f"requested by {username or 'an unknown user'}, neither machine {name}'s bootstrap token nor its "
                f"agent; not approving automatically",
        other_token=f"requested by {username}, which is not machine {name}'s bootstrap token; not approving "
                    f"automatically")


def _kubelet_request_problem(request: x509.CertificateSigningRequest, usages: set[str]) -> str:
    """Why `request` is not exactly what a kubelet's TLS bootstrap sends ("" when it is)."""
    problem = _subject_problem(request, "a kubelet client certificate", NODE_PREFIX, NODES_GROUP)
    if problem:
        return problem
    if usages not in KUBELET_USAGES:
        return (f"a kubelet client certificate has the usages digital signature, client auth (and key "
                f"encipherment for RSA keys); asked for {sorted(usages)}")
    if not request.is_signature_valid:
        return "the request is not signed by the key it carries"
    return ""


def _decide_kubelet(csr: Obj, node: str, machines: list[Obj]) -> Decision:
    spec = csr.get("spec") or {}
    request = x509.load_pem_x509_csr(base64.b64decode(str(spec.get("request"))))
    problem = "" if node else f"the subject names no node ({NODE_PREFIX}<node>)"
    problem = problem or _kubelet_request_problem(request, set(spec.get("usages") or []))
    if problem:
        return Decision(PENDING, "NotAKubeletClientRequest", f"{problem}; not approving automatically")
    machine = _machine_of(node, machines)
    if machine is None:
        return _no_machine(node, "its kubelet")
    name = machine["metadata"]["name"]
    if not (machine.get("spec") or {}).get("import"):
        return Decision(PENDING, "MachineNotImported",
                        f"machine {name} was not imported by KubeNode (no spec.import), so KubeNode issued its "
                        f"kubelet no bootstrap token; not approving automatically")
    username = str(spec.get("username") or "")
    return _by_requester(
        spec, str((machine["metadata"].get("annotations") or {}).get(ANNOTATION_KUBELET_TOKEN_ID) or ""),
        NODE_PREFIX + node, NODES_GROUP,
        first=f"Auto-approved by KubeNode: kubelet client certificate of imported machine {name}, requested "
              f"with the machine's kubelet bootstrap token",
        renewal=f"Auto-approved by KubeNode: renewal of imported machine {name}'s kubelet client certificate, "
                f"requested with its current certificate",
        neither=f"requested by {username or 'an unknown user'}, neither imported machine {name}'s kubelet "
                f"bootstrap token nor its kubelet; not approving automatically")
