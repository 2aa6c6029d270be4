"""CertificateSigningRequest registry rules (kube's strategy): requester stamping, immutability, approval, status."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from kubenode.apiserver import builtins_certificates as csrs
from kubenode.apiserver.security import User

KEY = ec.generate_private_key(ec.SECP256R1())
REQUEST = base64.b64encode(
    x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a")]))
    .sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)).decode()
APPROVED = {"type": "Approved", "status": "True", "reason": "R", "message": "m"}
DENIED = {"type": "Denied", "status": "True", "reason": "R", "message": "m"}


def obj(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    o: dict[str, Any] = {"metadata": {"name": "c"}, "spec": {
        "request": REQUEST, "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"], **spec}}
    if status is not None:
        o["status"] = status
    return o


def test_set_requester_overrides_what_the_client_claims() -> None:
    body = obj(username="system:admin", groups=["system:masters"], extra={"x": ["y"]})
    csrs.set_requester(body, User("system:bootstrap:abcdef", ("system:bootstrappers",), "u1"))
    assert body["spec"]["username"] == "system:bootstrap:abcdef"
    assert body["spec"]["groups"] == ["system:bootstrappers"] and body["spec"]["uid"] == "u1"
    assert "extra" not in body["spec"]


def test_spec_is_immutable_and_create_has_no_status() -> None:
    new = obj({"conditions": [APPROVED]})
    csrs.prepare_csr(new, None)
    assert "status" not in new
    old = obj(username="orig")
    upd = obj(username="changed", signerName="example.com/other")
    csrs.prepare_csr(upd, old)
    assert upd["spec"] == old["spec"]


def test_approval_changes_only_approval_conditions() -> None:
    cert = base64.b64encode(b"-----BEGIN CERTIFICATE-----").decode()
    old = obj({"conditions": [{"type": "Failed", "status": "True"}], "certificate": cert})
    new = obj({"conditions": [APPROVED, {"type": "Failed", "status": "False"}], "certificate": "other"})
    csrs.prepare_csr_approval(new, old)
    types = {c["type"]: c for c in new["status"]["conditions"]}
    assert types["Failed"]["status"] == "True"  # kept from the stored object
    assert types["Approved"]["lastUpdateTime"] and types["Approved"]["lastTransitionTime"]
    assert new["status"]["certificate"] == cert


def test_status_keeps_approval_conditions() -> None:
    old = obj({"conditions": [DENIED]})
    new = obj({"conditions": [APPROVED]})
    csrs.prepare_csr_status(new, old)
    assert [c["type"] for c in new["status"]["conditions"]] == ["Denied"]


@pytest.mark.parametrize(("o", "field"), [
    (obj({"conditions": [APPROVED, DENIED]}), "status.conditions"),
    (obj({"conditions": [dict(APPROVED, status="False")]}), "status.conditions[0].status"),
    (obj({"conditions": [{"status": "True"}]}), "status.conditions[0].type"),
    (obj({"conditions": [APPROVED, APPROVED]}), "status.conditions[1].type"),
    (obj({"certificate": base64.b64encode(b"x").decode()}), "status.certificate"),
    (obj(usages=[]), "spec.usages"),
    (obj(request="!!"), "spec.request"),
    (obj(expirationSeconds=599), "spec.expirationSeconds"),
])
def test_validation_causes(o: dict[str, Any], field: str) -> None:
    assert field in [c["field"] for c in csrs.validate_csr(o)]


def test_valid_request_has_no_causes() -> None:
    assert csrs.validate_csr(obj(expirationSeconds=600)) == []


@pytest.mark.parametrize(("old", "new", "field"), [
    (obj({"conditions": [APPROVED]}), obj({}), "status.conditions"),
    (obj({"conditions": [APPROVED], "certificate": "YQ=="}), obj({"conditions": [APPROVED], "certificate": "Yg=="}),
     "status.certificate"),
])
def test_update_rules(old: dict[str, Any], new: dict[str, Any], field: str) -> None:
    assert field in [c["field"] for c in csrs.validate_csr_update(new, old)]


@given(st.dictionaries(st.sampled_from(["request", "signerName", "usages", "expirationSeconds"]),
                       st.one_of(st.none(), st.integers(), st.text(max_size=20), st.lists(st.text(max_size=5)))))
def test_validation_never_raises(spec: dict[str, Any]) -> None:
    csrs.validate_csr({"metadata": {"name": "c"}, "spec": spec})


@pytest.mark.parametrize(("status", "summary"), [
    ({}, "Pending"), ({"conditions": [APPROVED]}, "Approved"), ({"conditions": [DENIED]}, "Denied"),
    ({"conditions": [APPROVED], "certificate": "YQ=="}, "Approved,Issued"),
    ({"conditions": [APPROVED, {"type": "Failed", "status": "True"}]}, "Approved,Failed"),
])
def test_condition_column(status: dict[str, Any], summary: str) -> None:
    assert csrs.condition_summary(obj(status)) == summary
