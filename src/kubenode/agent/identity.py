"""The agent's identity on a host: a client certificate for its node, bootstrapped and rotated like a kubelet's.

On first start the agent has only a *bootstrap kubeconfig* whose credential is
a short-lived bootstrap token (``<id>.<secret>``, see `machine/bootstrap.py`).
It generates its private key here — the key never leaves the node — and asks
for ``CN=kubenode:agent:<node>, O=kubenode:agents`` with a
CertificateSigningRequest (signer ``kubernetes.io/kube-apiserver-client``,
usages digital signature + client auth). KubeNode's approver approves it
when the node is one of its Machines and the requester is that Machine's
token; the API server's signer issues it. The agent then writes its own
kubeconfig (0600) pointing at one PEM file holding certificate and key
(0600, replaced atomically, like kubelet's ``kubelet-client-current.pem``)
and works with that identity.

A restarted agent reuses a certificate that is still valid. `CertificateRotator`
renews it when 70–90 % (jittered) of its lifetime has passed, with a new key
and a CSR sent under the current certificate's identity; the client picks up
the replaced file for new connections (`KubeClient._check_certificate`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # cryptography is imported when a certificate is made or read (~5 MiB an agent without one saves)
    from cryptography import x509

from kubenode.apimachinery.files import write_atomic
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import CSRS

from . import HTTP_TRANSPORT

log = logging.getLogger("kubenode.agent.identity")

AGENT_GROUP = "kubenode:agents"
USER_PREFIX = "kubenode:agent:"
SIGNER = "kubernetes.io/kube-apiserver-client"
USAGES = ("digital signature", "client auth")
#: What the agent asks for; the signer may cap it (kube's --cluster-signing-duration).
DEFAULT_CERT_SECONDS = 7 * 24 * 3600
PEM_NAME = "agent-client.pem"

Obj = dict[str, Any]


def agent_user(node_name: str) -> str:
    """The user name of `node_name`'s agent certificate."""
    return USER_PREFIX + node_name


class IdentityError(Exception):
    """The certificate request was denied or failed; the message says why."""


@dataclass(frozen=True)
class IdentityPaths:
    """Where the agent keeps its identity."""

    kubeconfig: Path  # its own kubeconfig, written here
    bootstrap_kubeconfig: Path | None  # the one with the bootstrap token, read only

    @property
    def pem(self) -> Path:
        """Certificate and private key in one file (replaced atomically on rotation)."""
        return self.kubeconfig.with_name(PEM_NAME)


def new_request(node_name: str) -> tuple[bytes, bytes]:
    """A fresh EC P-256 key (PEM) and a CSR (PEM) for `node_name`'s agent identity."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, AGENT_GROUP),
                         x509.NameAttribute(NameOID.COMMON_NAME, agent_user(node_name))])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, csr.public_bytes(serialization.Encoding.PEM)


def load_certificate(pem: Path, node_name: str, now: float | None = None) -> x509.Certificate | None:
    """The certificate in `pem` if it is this node's agent identity, has its key and is valid now."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    try:
        data = pem.read_bytes()
        cert = x509.load_pem_x509_certificate(data)
        key = serialization.load_pem_private_key(data[data.index(b"-----BEGIN PRIVATE KEY-----"):], password=None)
    except (OSError, ValueError, TypeError):
        return None
    if cert.public_key() != key.public_key():
        return None
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cns or cns[0].value != agent_user(node_name):
        return None
    t = dt.datetime.fromtimestamp(time.time() if now is None else now, dt.UTC)
    if not cert.not_valid_before_utc <= t < cert.not_valid_after_utc:
        return None
    return cert


def _cluster_of(kubeconfig: Path) -> tuple[str, bytes]:
    """Server URL and CA (PEM) of a kubeconfig's current context."""
    doc = yaml.safe_load(kubeconfig.read_text()) or {}
    ctx = next((c.get("context") or {} for c in doc.get("contexts") or []
                if c.get("name") == doc.get("current-context")), {})
    clusters = doc.get("clusters") or []
    cluster = next((c.get("cluster") or {} for c in clusters if c.get("name") == ctx.get("cluster")),
                   (clusters[0].get("cluster") or {}) if clusters else {})
    ca = b""
    if cluster.get("certificate-authority-data"):
        ca = base64.b64decode(cluster["certificate-authority-data"])
    elif cluster.get("certificate-authority"):
        ca = (kubeconfig.parent / cluster["certificate-authority"]).read_bytes()
    return str(cluster.get("server") or ""), ca


def write_identity(paths: IdentityPaths, server: str, ca_pem: bytes, key_pem: bytes, cert_pem: bytes,
                   node_name: str) -> None:
    """Write the PEM (certificate + key) and the agent's kubeconfig that uses it, both 0600."""
    write_atomic(paths.pem, cert_pem + key_pem)
    cluster: Obj = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    user = agent_user(node_name)
    doc = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": "kubenode", "cluster": cluster}],
           "users": [{"name": user, "user": {"client-certificate": PEM_NAME, "client-key": PEM_NAME}}],
           "contexts": [{"name": "kubenode", "context": {"cluster": "kubenode", "user": user}}],
           "current-context": "kubenode"}
    write_atomic(paths.kubeconfig, yaml.safe_dump(doc, sort_keys=False).encode())


def _condition(csr: Obj, type_: str) -> Obj | None:
    return next((c for c in (csr.get("status") or {}).get("conditions") or []
                 if c.get("type") == type_ and c.get("status", "True") == "True"), None)


async def request_certificate(client: KubeClient, node_name: str, csr_pem: bytes, seconds: int,
                              stop: asyncio.Event | None = None, poll: float = 0.5) -> bytes:
    """Create a CSR for `csr_pem` and wait until it is issued; returns the certificate PEM.

    Raises `IdentityError` when it is denied or fails; returns early (raising CancelledError) if `stop` is set.
    """
    body = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"generateName": f"kubenode-agent-{node_name}-"},
            "spec": {"request": base64.b64encode(csr_pem).decode(), "signerName": SIGNER, "usages": list(USAGES),
                     "expirationSeconds": seconds}}
    created = await client.create(CSRS, body)
    name = created["metadata"]["name"]
    log.info("requested a client certificate with CSR %s; waiting for approval", name)
    while True:
        csr = await client.get(CSRS, name)
        for bad in ("Denied", "Failed"):
            cond = _condition(csr, bad)
            if cond is not None:
                raise IdentityError(f"CSR {name} {bad.lower()}: {cond.get('reason')}: {cond.get('message')}")
        cert = (csr.get("status") or {}).get("certificate")
        if cert:
            log.info("CSR %s issued", name)
            return base64.b64decode(cert)
        if stop is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll)
            if stop.is_set():
                raise asyncio.CancelledError
        else:
            await asyncio.sleep(poll)


async def ensure_identity(paths: IdentityPaths, node_name: str, seconds: int = DEFAULT_CERT_SECONDS,
                          stop: asyncio.Event | None = None, retry_seconds: float = 5.0) -> None:
    """Make sure `paths.kubeconfig` holds a valid certificate identity, bootstrapping one if needed."""
    if paths.kubeconfig.exists() and load_certificate(paths.pem, node_name) is not None:
        log.info("reusing the agent certificate in %s", paths.pem)
        return
    if paths.bootstrap_kubeconfig is None or not paths.bootstrap_kubeconfig.exists():
        raise IdentityError(f"no valid certificate in {paths.pem} and no bootstrap kubeconfig to request one")
    server, ca = _cluster_of(paths.bootstrap_kubeconfig)
    while True:
        key_pem, csr_pem = new_request(node_name)
        try:
            bootstrap = load_config(paths.bootstrap_kubeconfig)
            bootstrap.transport = HTTP_TRANSPORT
            async with KubeClient(bootstrap) as client:
                cert_pem = await request_certificate(client, node_name, csr_pem, seconds, stop)
            write_identity(paths, server, ca, key_pem, cert_pem, node_name)
            return
        except (errors.ApiError, OSError, TimeoutError, IdentityError) as exc:
            log.warning("could not obtain a client certificate (will retry in %.0fs): %s", retry_seconds, exc)
        if stop is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), retry_seconds)
            if stop.is_set():
                raise asyncio.CancelledError
        else:
            await asyncio.sleep(retry_seconds)


def renew_at(cert: x509.Certificate, issued_at: float, rng: random.Random | None = None) -> float:
    """When to renew: 70–90 % (jittered, as kubelet) of the lifetime counted from when we received it."""
    not_after = cert.not_valid_after_utc.timestamp()
    start = max(issued_at, cert.not_valid_before_utc.timestamp())
    return start + (not_after - start) * (rng or random).uniform(0.7, 0.9)


class CertificateRotator:
    """An agent extension that renews the client certificate before it expires."""

    def __init__(self, client: KubeClient, paths: IdentityPaths, node_name: str,
                 seconds: int = DEFAULT_CERT_SECONDS, retry_seconds: float = 5.0) -> None:
        self.client = client
        self.paths = paths
        self.node_name = node_name
        self.seconds = seconds
        self.retry_seconds = retry_seconds
        self.rotations = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Renew when due until `stop` is set; failures are retried."""
        while not stop.is_set():
            cert = load_certificate(self.paths.pem, self.node_name)
            if cert is None:
                # Expired (e.g. renewal failed for too long): start again from the bootstrap kubeconfig, which
                # the Machine controller refreshes for an agent that stopped reporting.
                log.error("the agent certificate in %s is missing or expired; requesting a new one with the "
                          "bootstrap kubeconfig", self.paths.pem)
                try:
                    await ensure_identity(self.paths, self.node_name, self.seconds, stop, self.retry_seconds)
                    self.rotations += 1
                except asyncio.CancelledError:
                    return
                except IdentityError as exc:
                    log.error("cannot obtain a new certificate: %s", exc)
                wait = 0.0 if load_certificate(self.paths.pem, self.node_name) else self.retry_seconds
            else:
                try:
                    issued = self.paths.pem.stat().st_mtime
                except OSError:
                    issued = time.time()
                wait = renew_at(cert, issued) - time.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                if stop.is_set():
                    return
            if cert is None:
                continue
            try:
                await self.rotate(stop)
            except asyncio.CancelledError:
                return
            except (errors.ApiError, OSError, TimeoutError, IdentityError) as exc:
                log.warning("certificate rotation failed (will retry): %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.retry_seconds)

    async def rotate(self, stop: asyncio.Event | None = None) -> None:
        """Request a new certificate with a new key under the current identity and replace the PEM file."""
        key_pem, csr_pem = new_request(self.node_name)
        cert_pem = await request_certificate(self.client, self.node_name, csr_pem, self.seconds, stop)
        write_atomic(self.paths.pem, cert_pem + key_pem)
        self.rotations += 1
        log.info("rotated the agent certificate (%d)", self.rotations)
