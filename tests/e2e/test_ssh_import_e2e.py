"""End to end: a Machine with `spec.import` brings a real SSH host (loopback sshd) into the fleet.

Besides the agent, the import writes the kubelet's TLS bootstrap under the host root (`--import-host-root`: the
test cannot write /etc): the cluster CA and bootstrap-kubelet.conf with a valid bootstrap token of the Machine,
with which a CSR made exactly as kubelet's TLS bootstrap makes it is approved and signed.
"""

from __future__ import annotations

import base64
import getpass
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from ..kubelet_csr import kubelet_csr
from ..sshd import SSHD, Sshd
from .fleet import Kubectl, kill_agents, start_up, wait_for

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not SSHD.exists(), reason="openssh-server is not installed (.ci/run installs it)")]


def test_import_a_loopback_host_over_ssh(tmp_path: Path) -> None:
    sshd = Sshd(tmp_path / "sshd")
    sshd.start()
    data = tmp_path / "data"
    host_dir = tmp_path / "host" / "kubenode"
    host_root = tmp_path / "host" / "root"
    proc, _ = start_up(data, 0, 6.0, tmp_path / "up.log", "--import-dir", str(host_dir), "--import-host-root",
                       str(host_root))
    k = Kubectl(data / "kubeconfig", tmp_path / "cache")
    try:
        key = sshd.client_key.export_private_key().decode()
        k.run("apply", "-f", "-", stdin=json.dumps({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/ssh-auth",
            "metadata": {"name": "host-key", "namespace": "kubenode-system"},
            "data": {"ssh-privatekey": base64.b64encode(key.encode()).decode()}}))
        k.run("apply", "-f", "-", stdin=json.dumps({
            "apiVersion": "kubenode.io/v1alpha1", "kind": "Machine", "metadata": {"name": "imported"},
            "spec": {"import": {"address": "127.0.0.1", "port": sshd.port, "user": getpass.getuser(),
                                "sshSecretRef": {"name": "host-key", "namespace": "kubenode-system"}}}}))

        def running() -> bool:
            m = k.json("get", "machine", "imported")
            return (m.get("status") or {}).get("phase") == "Running"

        wait_for(running, 90, "the imported machine to be Running")
        node = k.json("get", "node", "imported")
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True"
        m = k.json("get", "machine", "imported")
        assert m["status"]["providerID"].startswith("ssh://")
        assert (host_dir / "bootstrap-kubeconfig").stat().st_mode & 0o777 == 0o600
        check_kubelet_bootstrap(k, host_root, m, tmp_path)

        k.run("delete", "machine", "imported", "--timeout=60s")
        assert k.run("get", "node", "imported", check=False).returncode != 0
        assert not host_dir.exists() or not any(host_dir.iterdir())  # the agent and its files are gone
        assert not (host_root / "etc/kubernetes/bootstrap-kubelet.conf").exists()
        assert not (host_root / "etc/kubernetes/pki/ca.crt").exists()
    finally:
        proc.stop()
        kill_agents(data)
        sshd.stop()


def check_kubelet_bootstrap(k: Kubectl, host_root: Path, machine: dict[str, Any], tmp_path: Path) -> None:
    """The files kubelet's --bootstrap-kubeconfig needs landed with kubeadm's paths and modes, and work."""
    admin = yaml.safe_load(k.kubeconfig.read_text())["clusters"][0]["cluster"]
    ca_pem = base64.b64decode(admin["certificate-authority-data"])
    ca = host_root / "etc/kubernetes/pki/ca.crt"
    conf = host_root / "etc/kubernetes/bootstrap-kubelet.conf"
    assert ca.stat().st_mode & 0o777 == 0o644
    assert conf.stat().st_mode & 0o777 == 0o600
    assert ca.read_bytes() == ca_pem
    x509.load_pem_x509_certificate(ca.read_bytes())
    doc = yaml.safe_load(conf.read_text())
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == admin["server"]
    assert base64.b64decode(cluster["certificate-authority-data"]) == ca_pem
    token = doc["users"][0]["user"]["token"]
    assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", token), token
    token_id = token.split(".")[0]
    assert machine["metadata"]["annotations"]["kubenode.io/kubelet-bootstrap-token-id"] == token_id
    # a valid bootstrap token: it authenticates as system:bootstrap:<id> ...
    as_kubelet = Kubectl(conf, tmp_path / "kubelet-cache")
    whoami = as_kubelet.run("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
    assert whoami == f"system:bootstrap:{token_id}"
    # ... and the kubelet's CSR made with it is approved by KubeNode and signed for system:node:<node>
    _, csr = kubelet_csr("imported")
    as_kubelet.run("create", "-f", "-", stdin=json.dumps(csr))
    name = csr["metadata"]["name"]

    def issued() -> dict[str, Any] | None:
        obj: dict[str, Any] = k.json("get", "csr", name)
        return obj if (obj.get("status") or {}).get("certificate") else None

    signed = wait_for(issued, 60, "the kubelet's CSR to be approved and signed")
    assert any(c["type"] == "Approved" and c["reason"] == "AutoApproved" for c in signed["status"]["conditions"])
    cert = x509.load_pem_x509_certificate(base64.b64decode(signed["status"]["certificate"]))
    assert cert.subject.rfc4514_string() == "CN=system:node:imported,O=system:nodes"
