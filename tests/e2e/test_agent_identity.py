"""End to end: agents join `kubenode up` with client certificates, rotate them, and kubectl speaks certificates."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .fleet import Kubectl, Process, kill_agents, start_up, wait_for

pytestmark = pytest.mark.e2e

GRACE = 6.0
#: The signer's cap: agents ask for 7 days and get 40 s, so they renew every ~30 s.
CERT_SECONDS = 40


class Fleet:
    def __init__(self, data: Path, proc: Process, kubectl: Kubectl, cache: Path) -> None:
        self.data = data
        self.proc = proc
        self.k = kubectl
        self.cache = cache

    def running(self) -> list[str]:
        items = self.k.json("get", "machines")["items"]
        return sorted(m["metadata"]["name"] for m in items if (m.get("status") or {}).get("phase") == "Running")

    def agent(self, name: str) -> Kubectl:
        return Kubectl(self.data / "machines" / name / "etc" / "kubeconfig", self.cache)

    def node_ready(self, name: str) -> bool:
        node = self.k.run("get", "node", name, "-o", "json", check=False)
        if node.returncode != 0:
            return False
        conds = json.loads(node.stdout)["status"].get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    def pem(self, name: str) -> Path:
        return self.data / "machines" / name / "etc" / "agent-client.pem"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    base = tmp_path_factory.mktemp("identity")
    data = base / "data"
    proc, _ = start_up(data, 2, GRACE, base / "up.log", "--cert-max-seconds", str(CERT_SECONDS))
    f = Fleet(data, proc, Kubectl(data / "kubeconfig", base / "kubectl-cache"), base / "kubectl-cache")
    try:
        wait_for(lambda: len(f.running()) == 2 or None, 90, "2 running machines")
        yield f
    finally:
        # f.proc, not proc: a test restarts `kubenode up` and leaves the new process in the fixture
        code = f.proc.stop()
        kill_agents(data)
        assert code == 0, f.proc.output()[-3000:]


def test_machines_join_with_certificates_and_their_bootstrap_tokens_are_deleted(fleet: Fleet) -> None:
    for name in fleet.running():
        config = yaml.safe_load((fleet.data / "machines" / name / "etc" / "kubeconfig").read_text())
        user = config["users"][0]["user"]
        assert "token" not in user and user["client-certificate"] == "agent-client.pem"
        assert fleet.pem(name).stat().st_mode & 0o777 == 0o600
        who = json.loads(fleet.agent(name).run("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
        assert who == {"username": f"kubenode:agent:{name}", "groups": ["kubenode:agents", "system:authenticated"]}

    def tokens_gone() -> bool:
        secrets = fleet.k.json("get", "secrets", "-n", "kube-system")["items"]
        machines = fleet.k.json("get", "machines")["items"]
        return (not [s for s in secrets if s["metadata"]["name"].startswith("bootstrap-token-")]
                and not any("kubenode.io/bootstrap-token-id" in (m["metadata"].get("annotations") or {})
                            for m in machines))

    wait_for(tokens_gone, 30, "bootstrap tokens deleted once the agents connected")
    table = fleet.k.run("get", "csr").stdout
    assert "SIGNERNAME" in table and "REQUESTEDDURATION" in table and "Approved,Issued" in table


def test_agents_rotate_their_certificates_and_keep_working(fleet: Fleet) -> None:
    name = fleet.running()[0]
    first = x509.load_pem_x509_certificate(fleet.pem(name).read_bytes())

    def rotated() -> x509.Certificate | None:
        cert = x509.load_pem_x509_certificate(fleet.pem(name).read_bytes())
        return cert if cert.serial_number != first.serial_number else None

    wait_for(rotated, CERT_SECONDS + 30, "the agent renewing its certificate")
    expired_at = first.not_valid_after_utc.timestamp()
    wait_for(lambda: time.time() > expired_at + 1 or None, CERT_SECONDS + 10, "the first certificate to expire")

    def heartbeat_after_expiry() -> bool:
        machine = fleet.k.json("get", "machine", name)
        beat = ((machine.get("status") or {}).get("agent") or {}).get("lastHeartbeatTime", "")
        return bool(beat) and time.mktime(time.strptime(beat, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone > expired_at

    wait_for(heartbeat_after_expiry, 30, "a heartbeat made with the renewed certificate")
    renewals = [c for c in fleet.k.json("get", "csr")["items"] if c["spec"]["username"] == f"kubenode:agent:{name}"]
    assert renewals and all(any(cond["type"] == "Approved" for cond in c["status"]["conditions"]) for c in renewals)


def _csr_manifest(name: str, cn: str, org: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    req = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
    ])).sign(key, hashes.SHA256())
    manifest: dict[str, Any] = {
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
        "spec": {"request": base64.b64encode(req.public_bytes(serialization.Encoding.PEM)).decode(),
                 "signerName": "kubernetes.io/kube-apiserver-client", "expirationSeconds": 3600,
                 "usages": ["client auth"]}}
    return key, yaml.safe_dump(manifest)


def test_kubectl_certificate_approve_and_whoami_with_the_certificate(fleet: Fleet, tmp_path: Path) -> None:
    key, manifest = _csr_manifest("alice", "alice", "devs")
    fleet.k.run("apply", "-f", "-", stdin=manifest)
    assert "Pending" in fleet.k.run("get", "csr", "alice").stdout  # not an agent's: KubeNode leaves it alone
    fleet.k.run("certificate", "approve", "alice")

    def issued() -> str | None:
        cert = fleet.k.run("get", "csr", "alice", "-o", "jsonpath={.status.certificate}").stdout
        return cert or None

    cert_b64 = wait_for(issued, 30, "the certificate issued")
    assert "Approved,Issued" in fleet.k.run("get", "csr", "alice").stdout
    admin = yaml.safe_load((fleet.data / "kubeconfig").read_text())
    (tmp_path / "alice.crt").write_bytes(base64.b64decode(cert_b64))
    key_file = tmp_path / "alice.key"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    admin["users"] = [{"name": "alice", "user": {"client-certificate": str(tmp_path / "alice.crt"),
                                                 "client-key": str(key_file)}}]
    admin["contexts"][0]["context"]["user"] = "alice"
    kubeconfig = tmp_path / "alice.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(admin))
    who = json.loads(Kubectl(kubeconfig, fleet.cache).run("auth", "whoami", "-o", "json").stdout)
    assert who["status"]["userInfo"] == {"username": "alice", "groups": ["devs", "system:authenticated"]}


def test_agents_whose_certificates_expired_while_off_rejoin_with_a_fresh_bootstrap_token(fleet: Fleet,
                                                                                     tmp_path: Path) -> None:
    def bootstrap_csrs() -> set[str]:
        return {c["metadata"]["name"] for c in fleet.k.json("get", "csr")["items"]
                if c["spec"]["username"].startswith("system:bootstrap:")}

    names = fleet.running()
    before = bootstrap_csrs()
    assert fleet.proc.stop() == 0  # powers the machines off
    expiries = [x509.load_pem_x509_certificate(fleet.pem(n).read_bytes()).not_valid_after_utc.timestamp()
                for n in names]
    wait_for(lambda: time.time() > max(expiries) + 1 or None, CERT_SECONDS + 10, "the certificates to expire")
    fleet.proc, _ = start_up(fleet.data, 2, GRACE, tmp_path / "up-again.log", "--cert-max-seconds",
                             str(CERT_SECONDS))

    def running_again() -> bool:
        return fleet.running() == names and all(fleet.node_ready(n) for n in names) and all(
            x509.load_pem_x509_certificate(fleet.pem(n).read_bytes()).not_valid_after_utc.timestamp() > time.time()
            for n in names)

    wait_for(running_again, 120, "the agents to obtain new certificates and report again")
    fresh = bootstrap_csrs() - before
    assert len(fresh) >= len(names), "each agent asked again with a new bootstrap token"
