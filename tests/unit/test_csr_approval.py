"""KubeNode's approver decisions, table-driven: only a Machine's own token (or its agent) gets its node's cert."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubenode.machine.csr_approval import APPROVE, DENY, PENDING, agent_node, csr_node, decide, kubelet_node

from ..kubelet_csr import kubelet_csr

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


# ---------------------------------------------------------------------------- kubelet client certificates
KUBELET = "kubernetes.io/kube-apiserver-client-kubelet"
NODE_GROUPS = ("system:nodes", "system:authenticated")


def imported(name: str = "m1", kubelet_token: str = "kub123", *, spec_import: bool = True) -> dict[str, Any]:
    m = machine(name, token="")
    if kubelet_token:
        m["metadata"]["annotations"] = {"kubenode.io/kubelet-bootstrap-token-id": kubelet_token}
    if spec_import:
        m["spec"]["import"] = {"address": "10.0.0.1", "sshSecretRef": {"name": "k"}}
    return m


def kubelet(node: str = "m1", *, user: str = "system:bootstrap:kub123", groups: tuple[str, ...] = (
        "system:bootstrappers", "system:bootstrappers:kubenode:kubelets", "system:authenticated"),
        usages: tuple[str, ...] | None = None, req: str | None = None, key_encipherment: bool = True) -> dict[str, Any]:
    _, obj = kubelet_csr(node, with_key_encipherment=key_encipherment)
    obj["spec"].update(username=user, groups=list(groups))
    if usages is not None:
        obj["spec"]["usages"] = list(usages)
    if req is not None:
        obj["spec"]["request"] = req
    return obj


@pytest.mark.parametrize(("the_csr", "machines", "action", "reason"), [
    # the join (both usage sets kubelets send) and the kubelet's own renewal
    (kubelet(), [imported()], APPROVE, "AutoApproved"),
    (kubelet(key_encipherment=False), [imported()], APPROVE, "AutoApproved"),
    (kubelet("n7"), [{**imported(), "spec": {**imported()["spec"], "nodeName": "n7"}}], APPROVE, "AutoApproved"),
    (kubelet(user="system:node:m1", groups=NODE_GROUPS), [imported(kubelet_token="")], APPROVE, "AutoApproved"),
    # a node that is no Machine, or one KubeNode did not import
    (kubelet("stranger"), [imported()], PENDING, "NodeNotAMachine"),
    (kubelet(), [imported(spec_import=False)], PENDING, "MachineNotImported"),
    # another machine's kubelet token, the agent's token, another node's kubelet, a plain user
    (kubelet(user="system:bootstrap:zzz999"), [imported(), imported("m2", "zzz999")], PENDING,
     "RequesterNotMachine"),
    (kubelet(user="system:bootstrap:abc123"), [{**imported(), "metadata": {
        **imported()["metadata"], "annotations": {"kubenode.io/bootstrap-token-id": "abc123"}}}], PENDING,
     "RequesterNotMachine"),
    (kubelet(user="system:node:m2", groups=NODE_GROUPS), [imported(), imported("m2")], PENDING,
     "RequesterNotMachine"),
    (kubelet(user="alice", groups=("system:authenticated",)), [imported()], PENDING, "RequesterNotMachine"),
    # not exactly a kubelet client request: left pending (never denied: it may be someone else's)
    (kubelet(usages=("digital signature", "key encipherment", "client auth", "server auth")), [imported()],
     PENDING, "NotAKubeletClientRequest"),
    (kubelet(usages=("client auth",)), [imported()], PENDING, "NotAKubeletClientRequest"),
    (kubelet(req=request("system:node:m1", ("system:nodes", "system:masters"))), [imported()], PENDING,
     "NotAKubeletClientRequest"),
    (kubelet(req=request("system:node:m1", ("system:nodes",), san=True)), [imported()], PENDING,
     "NotAKubeletClientRequest"),
    (kubelet(req=request("system:node:", ("system:nodes",))), [imported()], PENDING, "NotAKubeletClientRequest"),
])
def test_kubelet_decisions(the_csr: dict[str, Any], machines: list[dict[str, Any]], action: str,
                           reason: str) -> None:
    decision = decide(the_csr, machines)
    assert decision is not None
    assert (decision.action, decision.reason) == (action, reason), decision.message
    assert decision.message


def test_kubelet_node_and_csr_node() -> None:
    assert kubelet_node(kubelet()) == "m1" and csr_node(kubelet()) == "m1"
    assert kubelet_node(csr()) is None and csr_node(csr()) == "m1"
    assert kubelet_node(kubelet(req=base64.b64encode(b"junk").decode())) is None
    # the kubelet's subject with the agents' signer is neither ours nor a kubelet's
    assert csr_node(csr(request("system:node:m1", ("system:nodes",)))) is None
