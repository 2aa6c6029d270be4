"""The CSR signer: what kube-controller-manager's `csrsigning` controller does, for the embedded server.

Approved CertificateSigningRequests of the signers
``kubernetes.io/kube-apiserver-client`` and
``kubernetes.io/kube-apiserver-client-kubelet`` are signed with the cluster
CA, and the certificate is written to ``status.certificate`` through the
`/status` subresource (a normal write with its watch event). As in kube:

* validity = min(``spec.expirationSeconds``, the configured maximum — kube's
  ``--cluster-signing-duration``), never past the CA's own expiry, with
  ``notBefore`` backdated five minutes for clock skew;
* the request must fit its signer (client auth usage only with digital
  signature / key encipherment; the kubelet signer also wants
  ``CN=system:node:<name>, O=system:nodes``), otherwise the CSR gets a
  ``Failed`` condition with reason ``SignerValidationFailure`` and no
  certificate;
* denied, failed or already issued requests are left alone; other signers
  are someone else's.

The signed certificate carries the request's subject and public key only —
never extensions the requester asked for.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubenode.apimachinery.tasks import cancel_and_wait

from . import builtins_certificates as csrs
from . import errors
from .objects import Obj, clone, now_rfc3339
from .rest import ObjectAPI, WriteOptions, WriteResult
from .security import PKIPaths
from .storage import Change, PassLog, Store

log = logging.getLogger("kubenode.apiserver.certificates")

CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
KUBELET_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
SIGNERS = frozenset({CLIENT_SIGNER, KUBELET_SIGNER})
#: kube's default --cluster-signing-duration (one year).
DEFAULT_MAX_SECONDS = 365 * 24 * 3600
BACKDATE = dt.timedelta(minutes=5)
_CLIENT_USAGES = frozenset({"client auth", "digital signature", "key encipherment"})
_PREFIX = "certificates.k8s.io/certificatesigningrequests/"
_SYSTEM = WriteOptions(field_manager="certificatesigningrequest-signing-controller")


class SignerValidationError(ValueError):
    """The request does not fit its signer's rules (becomes a Failed condition)."""


def check_request(signer: str, request: x509.CertificateSigningRequest, usages: list[str]) -> None:
    """Raise `SignerValidationError` unless `request` with `usages` may be signed by `signer`."""
    if "client auth" not in usages:
        raise SignerValidationError(f'{signer} requires the "client auth" usage')
    bad = sorted(set(usages) - _CLIENT_USAGES)
    if bad:
        raise SignerValidationError(f"{signer} does not allow the usages {bad}; allowed: {sorted(_CLIENT_USAGES)}")
    try:
        san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    if signer == KUBELET_SIGNER:
        cns = request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        orgs = [a.value for a in request.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        if len(cns) != 1 or not str(cns[0].value).startswith("system:node:") or orgs != ["system:nodes"]:
            raise SignerValidationError(f"{signer} signs only CN=system:node:<name>, O=system:nodes")
        if san is not None and len(list(san)):
            raise SignerValidationError(f"{signer} does not allow subject alternative names")
    if not request.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        raise SignerValidationError("the request's subject has no common name")


def sign(request: x509.CertificateSigningRequest, usages: list[str], ca_cert: x509.Certificate,
         ca_key: ec.EllipticCurvePrivateKey, seconds: int, now: dt.datetime) -> x509.Certificate:
    """A client certificate for `request`'s subject and key, valid `seconds` from `now` (capped by the CA)."""
    not_after = min(now + dt.timedelta(seconds=seconds), ca_cert.not_valid_after_utc)
    key_usage = x509.KeyUsage(
        digital_signature="digital signature" in usages, content_commitment=False,
        key_encipherment="key encipherment" in usages, data_encipherment=False, key_agreement=False,
        key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
    builder = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(ca_cert.subject)
        .public_key(request.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if key_usage.digital_signature or key_usage.key_encipherment:
        # As Go's x509 (and so kube's signer): no KeyUsage extension at all when no key usage was asked for.
        builder = builder.add_extension(key_usage, critical=True)
    return (
        builder
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _condition(csr: Obj, type_: str) -> Obj | None:
    for c in (csr.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == type_ and c.get("status", "True") == "True":
            return c
    return None


def needs_signing(csr: Obj) -> bool:
    """Approved, not denied or failed, not yet issued, and one of our signers."""
    status = csr.get("status") or {}
    return ((csr.get("spec") or {}).get("signerName") in SIGNERS and _condition(csr, csrs.APPROVED) is not None
            and _condition(csr, csrs.DENIED) is None and _condition(csr, csrs.FAILED) is None
            and not status.get("certificate"))


class CSRSigner:
    """Signs approved CSRs of the kube-apiserver-client signers with the cluster CA (level-triggered)."""

    def __init__(self, api: ObjectAPI, store: Store, pki: PKIPaths, *, max_seconds: int = DEFAULT_MAX_SECONDS) -> None:
        self._passes = PassLog(log, "CSR signing pass")
        self.api = api
        self.store = store
        self.pki = pki
        self.max_seconds = max_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None
        store.add_listener(self._on_commit)

    def _on_commit(self, changes: list[Change]) -> None:
        if any(c.key.startswith(_PREFIX) and c.type != "DELETED" for c in changes):
            self._wake.set()

    def start(self) -> None:
        """Start signing on the running event loop."""
        self._wake.set()
        self._task = asyncio.create_task(self._loop(), name="kubenode-csr-signer")

    async def stop(self) -> None:
        """Stop and wait."""
        await cancel_and_wait(self._task)
        self._task = None

    def _load_ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        if self._ca is None:
            cert = x509.load_pem_x509_certificate(self.pki.ca_cert.read_bytes())
            key = serialization.load_pem_private_key(self.pki.ca_key.read_bytes(), password=None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            self._ca = (cert, key)
        return self._ca

    def sign_pass(self, now: float) -> list[WriteResult]:
        """Sign (or fail) every approved, unissued CSR of our signers; returns the status writes."""
        from .builtins_certificates import CSR_RESOURCE

        writes: list[WriteResult] = []
        for _, csr in list(self.store.items(csrs.RESOURCE_ID)):
            if not needs_signing(csr):
                continue
            new = clone(csr)
            status = new.setdefault("status", {})
            spec = csr.get("spec") or {}
            try:
                request = csrs.parse_request(spec)
                usages = [str(u) for u in spec.get("usages") or []]
                check_request(str(spec.get("signerName")), request, usages)
                ca_cert, ca_key = self._load_ca()
                seconds = self.max_seconds
                wanted = spec.get("expirationSeconds")
                if isinstance(wanted, int) and not isinstance(wanted, bool):
                    seconds = min(seconds, wanted)
                cert = sign(request, usages, ca_cert, ca_key, seconds, dt.datetime.fromtimestamp(now, dt.UTC))
                status["certificate"] = base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode()
                log.info("signed CSR %s for %s (%d s)", csr["metadata"]["name"], request.subject.rfc4514_string(),
                         seconds)
            except (SignerValidationError, ValueError) as exc:
                stamp = now_rfc3339()
                status.setdefault("conditions", []).append({
                    "type": csrs.FAILED, "status": "True", "reason": "SignerValidationFailure",
                    "message": str(exc), "lastUpdateTime": stamp, "lastTransitionTime": stamp})
            try:
                writes.append(self.api.update(CSR_RESOURCE, "", csr["metadata"]["name"], new, _SYSTEM,
                                              subresource="status"))
            except errors.StatusError as exc:
                log.warning("cannot write CSR %s status: %s", csr["metadata"]["name"], exc)
        return writes

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                for w in self.sign_pass(time.time()):
                    await w.wait()
                self._passes.ok()
            except Exception as exc:  # a bug must not stop signing for good
                self._passes.failed(exc)
