"""A CertificateSigningRequest exactly as the kubelet's TLS bootstrap creates it.

Kubernetes' `pkg/kubelet/certificate/bootstrap/bootstrap.go` (`requestNodeCertificate`,
`digestedName`) with client-go's `util/certificate/csr.RequestCertificate` and
`util/cert.MakeCSR`, `util/keyutil.MakeEllipticPrivateKeyPEM`:

* the key is a fresh ECDSA P-256 key, the CSR signed with ECDSA-SHA256;
* the subject is `O=system:nodes, CN=system:node:<node>` (Go's pkix.Name order: O before CN),
  no subject alternative names, no extensions;
* usages `digital signature`, `key encipherment`, `client auth` (newer kubelets leave key encipherment
  out for non-RSA keys: `with_key_encipherment=False`);
* signer `kubernetes.io/kube-apiserver-client-kubelet`, no `expirationSeconds`;
* the name is `node-csr-` + base64url (no padding) of SHA-512/256 over base64url(PKIX public key),
  the common name, each organization and each usage, every part followed by `|`.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def digested_name(public_der: bytes, cn: str, orgs: list[str], usages: list[str]) -> str:
    h = hashlib.new("sha512_256")
    for part in (public_der, cn.encode(), *(o.encode() for o in orgs), *(u.encode() for u in usages)):
        h.update(_b64url(part).encode())
        h.update(b"|")
    return "node-csr-" + _b64url(h.digest())


def kubelet_csr(node: str, *, with_key_encipherment: bool = True,
                key: ec.EllipticCurvePrivateKey | None = None) -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any]]:
    """(the kubelet's private key, the CertificateSigningRequest object it POSTs)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    cn, orgs = f"system:node:{node}", ["system:nodes"]
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, orgs[0]),
                         x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    pem = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256()).public_bytes(
        serialization.Encoding.PEM)
    usages = ["digital signature", *(["key encipherment"] if with_key_encipherment else []), "client auth"]
    public_der = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, {
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": digested_name(public_der, cn, orgs, usages)},
        "spec": {"request": base64.b64encode(pem).decode(), "usages": usages, "signerName": SIGNER},
    }
