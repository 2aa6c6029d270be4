"""KubeNode's approver decisions, table-driven: only a Machine's own token (or its agent) gets its node's cert."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubenode.machine.csr_approval import APPROVE, DENY, PENDING, agent_node, decide

KEY = ec.generate_private_key(ec.SECP256R1())


def request(cn: str = "kubenode:agent:m1", orgs: tuple[str, ...] = ("kubenode:agents",), *,
            san: bool = False, extra_attr: bool = False) -> str:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn), *(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)
                                                            for o in orgs)]
    if extra_attr:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "x"))
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("evil.example")]), critical=False)
    return base64.b64encode(b.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)).decode()


def csr(req: str | None = None, *, user: str = "system:bootstrap:abc123",
        groups: tuple[str, ...] = ("system:bootstrappers", "system:authenticated"),
        usages: tuple[str, ...] = ("digital signature", "client auth"),
        signer: str = "kubernetes.io/kube-apiserver-client", conditions: list[Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": "c", "uid": "u"},
                           "spec": {"request": req or request(), "signerName": signer, "usages": list(usages),
                                    "username": user, "groups": list(groups)}}
    if conditions:
        obj["status"] = {"conditions": conditions}
    return obj


def machine(name: str = "m1", token: str = "abc123", *, node: str = "", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{name}"}
    if token:
        meta["annotations"] = {"kubenode.io/bootstrap-token-id": token}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node} if node else {}}


AGENT_GROUPS = ("kubenode:agents", "system:authenticated")


@pytest.mark.parametrize(("the_csr", "machines", "action", "reason"), [
    # the happy paths: first certificate with the machine's token, renewal with the agent's own certificate
    (csr(), [machine()], APPROVE, "AutoApproved"),
    (csr(user="kubenode:agent:m1", groups=AGENT_GROUPS), [machine(token="")], APPROVE, "AutoApproved"),
    (csr(request("kubenode:agent:n7")), [machine("m1", node="n7")], APPROVE, "AutoApproved"),
    # a node that is no Machine (or one being deleted) stays pending
    (csr(request("kubenode:agent:stranger")), [machine()], PENDING, "NodeNotAMachine"),
    (csr(), [machine(deleting=True)], PENDING, "NodeNotAMachine"),
    # another machine's bootstrap token, or a token after the machine's was revoked
    (csr(user="system:bootstrap:zzz999"), [machine(), machine("m2", "zzz999")], PENDING, "RequesterNotMachine"),
    (csr(), [machine(token="")], PENDING, "RequesterNotMachine"),
    # another agent renewing for this node, or a plain user
    (csr(user="kubenode:agent:m2", groups=AGENT_GROUPS), [machine(), machine("m2")], PENDING, "RequesterNotMachine"),
    (csr(user="alice", groups=("system:authenticated",)), [machine()], PENDING, "RequesterNotMachine"),
    # requests that can never be right are denied
    (csr(request(orgs=("system:masters",))), [machine()], DENY, "InvalidSubject"),
    (csr(request(orgs=("kubenode:agents", "system:masters"))), [machine()], DENY, "InvalidSubject"),
    (csr(request(extra_attr=True)), [machine()], DENY, "InvalidSubject"),
    (csr(request(san=True)), [machine()], DENY, "InvalidSubject"),
    (csr(usages=("client auth", "server auth")), [machine()], DENY, "InvalidUsages"),
    (csr(usages=("digital signature",)), [machine()], DENY, "InvalidUsages"),
])
def test_decisions(the_csr: dict[str, Any], machines: list[dict[str, Any]], action: str, reason: str) -> None:
    decision = decide(the_csr, machines)
    assert decision is not None
    assert (decision.action, decision.reason) == (action, reason), decision.message
    assert decision.message


@pytest.mark.parametrize("the_csr", [
    csr(signer="kubernetes.io/kube-apiserver-client-kubelet"),  # another signer
    csr(request("system:node:m1", ("system:nodes",))),  # not an agent subject
    csr(request("alice", ())),
    csr(conditions=[{"type": "Approved", "status": "True"}]),  # already decided
    csr(conditions=[{"type": "Denied", "status": "True"}]),
])
def test_not_ours_or_already_decided(the_csr: dict[str, Any]) -> None:
    assert decide(the_csr, [machine()]) is None


def test_agent_node() -> None:
    assert agent_node(csr()) == "m1"
    assert agent_node(csr(req=base64.b64encode(b"junk").decode())) is None
