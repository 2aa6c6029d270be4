"""Bootstrap token format, Secret parsing and expiry (kube's bootstrap-token rules), and the agent identity files."""

from __future__ import annotations

import base64
import os
import random
import time
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st

from kubenode.agent import identity
from kubenode.apiserver import bootstrap_tokens as bt
from kubenode.machine.bootstrap import ANNOTATION_TOKEN_ID, bootstrap_token_secret, new_bootstrap_token, token_id_of


def _secret(**data: str) -> dict[str, object]:
    return {"type": bt.SECRET_TYPE, "metadata": {"name": f"bootstrap-token-{data.get('token-id', '')}"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


@pytest.mark.parametrize(("token", "parsed"), [
    ("abcdef.0123456789abcdef", ("abcdef", "0123456789abcdef")),
    ("ABCDEF.0123456789abcdef", None),  # upper case
    ("abcde.0123456789abcdef", None),  # short id
    ("abcdef.0123456789abcde", None),  # short secret
    ("abcdef0123456789abcdef", None),  # no dot
    ("abcdef.0123456789abcdef\n", None),
    ("", None),
])
def test_token_format(token: str, parsed: tuple[str, str] | None) -> None:
    assert bt.parse_token(token) == parsed


@given(st.text(max_size=40))
def test_parse_token_never_raises(token: str) -> None:
    parsed = bt.parse_token(token)
    assert parsed is None or f"{parsed[0]}.{parsed[1]}" == token


def test_generated_tokens_have_kube_format() -> None:
    for _ in range(50):
        tid, secret = new_bootstrap_token()
        assert bt.parse_token(f"{tid}.{secret}") == (tid, secret)


def test_machine_token_secret_is_read_back() -> None:
    machine = {"apiVersion": "kubenode.io/v1alpha1", "kind": "Machine",
               "metadata": {"name": "m1", "uid": "u1", "annotations": {ANNOTATION_TOKEN_ID: "abcdef"}}}
    secret = bootstrap_token_secret(machine, "abcdef", "0123456789abcdef", time.time() + 60)
    parsed = bt.read_secret(secret)
    assert parsed is not None and parsed.problem == "" and parsed.authentication
    assert parsed.extra_groups == ("system:bootstrappers:kubenode:machines",)
    assert parsed.expires_at is not None and not parsed.expired(time.time())
    assert parsed.expired(time.time() + 120)
    assert token_id_of(machine) == "abcdef"


@pytest.mark.parametrize(("data", "problem"), [
    ({"token-id": "abcdef", "token-secret": "0123456789abcdef"}, ""),
    ({"token-id": "abcdef", "token-secret": "0123456789ABCDEF"}, "token-secret"),
    ({"token-id": "abcdef", "token-secret": "0123456789abcdef", "expiration": "tomorrow"}, "RFC 3339"),
    ({"token-id": "abcdef", "token-secret": "0123456789abcdef", "auth-extra-groups": "system:masters"},
     "auth-extra-groups"),
    ({"token-id": "abcdef", "token-secret": "0123456789abcdef",
      "auth-extra-groups": "system:bootstrappers:ok,system:bootstrappers:also-ok"}, ""),
])
def test_secret_problems(data: dict[str, str], problem: str) -> None:
    parsed = bt.read_secret(_secret(**data))
    assert parsed is not None
    assert (problem in parsed.problem) if problem else parsed.problem == ""


def test_secret_name_must_match_id() -> None:
    secret = _secret(**{"token-id": "abcdef", "token-secret": "0123456789abcdef"})
    secret["metadata"] = {"name": "bootstrap-token-zzzzzz"}
    parsed = bt.read_secret(secret)
    assert parsed is not None and "named" in parsed.problem
    assert bt.read_secret({"type": "Opaque", "metadata": {"name": "bootstrap-token-abcdef"}}) is None


@pytest.mark.parametrize(("value", "ok"), [
    ("2030-01-01T00:00:00Z", True), ("2030-01-01T00:00:00+02:00", True), ("2030-01-01T00:00:00", False),
    ("soon", False),
])
def test_parse_expiration(value: str, ok: bool) -> None:
    assert (bt.parse_expiration(value) is not None) is ok


# ---------------------------------------------------------------------------------------------- agent identity
def test_agent_request_subject() -> None:
    key_pem, csr_pem = identity.new_request("n1")
    csr = x509.load_pem_x509_csr(csr_pem)
    assert csr.subject.rfc4514_string() == "CN=kubenode:agent:n1,O=kubenode:agents"
    assert b"PRIVATE KEY" in key_pem


def test_renewal_is_jittered_between_70_and_90_percent() -> None:
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    start = datetime(2030, 1, 1, tzinfo=UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(start - timedelta(minutes=5)).not_valid_after(start + timedelta(
                seconds=100)).sign(key, hashes.SHA256()))
    issued = start.timestamp()
    times = [identity.renew_at(cert, issued, random.Random(i)) - issued for i in range(200)]
    assert all(70 <= t <= 90 for t in times)
    assert max(times) - min(times) > 10  # jitter, so a fleet does not renew at once


def test_identity_files_are_private_and_reloadable(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key_pem, csr_pem = identity.new_request("n1")
    key = serialization.load_pem_private_key(key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    ca = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(x509.load_pem_x509_csr(csr_pem).subject)
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])).public_key(key.public_key())
            .serial_number(2).not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(hours=1))
            .sign(ca, hashes.SHA256()))
    paths = identity.IdentityPaths(tmp_path / "etc" / "kubeconfig", None)
    identity.write_identity(paths, "https://127.0.0.1:1", b"CA", key_pem,
                            cert.public_bytes(serialization.Encoding.PEM), "n1")
    assert os.stat(paths.pem).st_mode & 0o777 == 0o600
    assert os.stat(paths.kubeconfig).st_mode & 0o777 == 0o600
    assert identity.load_certificate(paths.pem, "n1") is not None
    assert identity.load_certificate(paths.pem, "other-node") is None
    assert identity.load_certificate(paths.pem, "n1", now=(now + timedelta(hours=2)).timestamp()) is None
