"""The `ssh` provider against a real OpenSSH server on loopback.

The test starts Debian's `/usr/sbin/sshd` on a free port with its own host
key, authorized key and config in tmp_path, and imports *this* machine as
root. The agent is installed in `python` mode (this interpreter, the
`kubenode` package uploaded as a zip) and pointed at the embedded API server,
so "Running" is proven by the Node the agent registers, not only by a PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import getpass
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import psutil
import pytest

from kubenode.apiserver.server import RunningServer, free_port
from kubenode.providers.base import (
    STATE_FAILED,
    STATE_MISSING,
    STATE_RUNNING,
    STATE_STOPPED,
    Bootstrap,
    ProviderError,
)
from kubenode.providers.bootstrap import PythonInstall
from kubenode.providers.kubelet_join import KubeletJoin, bootstrap_kubelet_kubeconfig
from kubenode.providers.ssh_import import SSHCredentials, SSHImportProvider

from ..sshd import SSHD, Sshd
from .kube import Kube
from .polling import eventually

pytestmark = pytest.mark.skipif(not SSHD.exists(), reason="openssh-server is not installed (.ci/run installs it)")


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    server = Sshd(tmp_path / "sshd")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def host_dir(tmp_path: Path) -> Iterator[Path]:
    """Where the provider puts the agent on the "host"; any agent left behind is killed."""
    home = tmp_path / "host" / "kubenode"
    yield home
    pid_file = home / "run" / "agent.pid"
    with contextlib.suppress(FileNotFoundError, ValueError, psutil.NoSuchProcess):
        psutil.Process(int(pid_file.read_text().split()[0])).kill()


UID = "0b7c4c8e-5a2f-4d35-9a8e-3f0c1d2e4b5a"


def machine(port: int, *, name: str = "imported-1", uid: str = UID) -> dict[str, Any]:
    return {
        "apiVersion": "kubenode.io/v1alpha1", "kind": "Machine",
        "metadata": {"name": name, "uid": uid},
        "spec": {"import": {"address": "127.0.0.1", "port": port, "user": getpass.getuser(),
                            "sshSecretRef": {"name": "host-key", "namespace": "kubenode-system"}}},
    }


def provider(tmp_path: Path, host_dir: Path, key: asyncssh.SSHKey, known_hosts: str | None = None,
             **kw: Any) -> SSHImportProvider:
    creds = SSHCredentials(private_key=key.export_private_key().decode(), known_hosts=known_hosts)

    async def lookup(_machine: dict[str, Any]) -> SSHCredentials:
        return creds

    return SSHImportProvider(lookup, PythonInstall(sys.executable), state_dir=tmp_path / "operator-state",
                             remote_dir=str(host_dir), stop_grace=5.0, **kw)


def exists(path: Path) -> bool:
    return path.exists()


def claim(host_dir: Path, uid: str) -> None:
    """Make the host look imported by machine `uid`."""
    host_dir.mkdir(parents=True)
    (host_dir / "machine-uid").write_text(uid + "\n")


def agent_pid(host_dir: Path) -> int:
    return int((host_dir / "run" / "agent.pid").read_text().split()[0])


async def _bootstrap_kubeconfig(server: RunningServer, kube: Kube) -> str:
    """A bootstrap token (as the Machine controller mints one) in a kubeconfig for the agent."""
    import base64

    import yaml

    token_id, secret = "imprt1", "0123456789abcdef"
    data = {"token-id": token_id, "token-secret": secret, "usage-bootstrap-authentication": "true"}
    r = await kube.post("/api/v1/namespaces/kube-system/secrets", {
        "metadata": {"name": f"bootstrap-token-{token_id}"}, "type": "bootstrap.kubernetes.io/token",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})
    assert r.status == 201, r
    doc = yaml.safe_load(server.kubeconfig.read_text())
    doc["users"] = [{"name": "bootstrap", "user": {"token": f"{token_id}.{secret}"}}]
    doc["contexts"][0]["context"]["user"] = "bootstrap"
    return str(yaml.safe_dump(doc))


async def _approve_agent_csrs(kube: Kube, stop: asyncio.Event) -> None:
    """Approve the agent's certificate requests, as a human with `kubectl certificate approve` would."""
    path = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
    while not stop.is_set():
        for csr in (await kube.get(path)).json["items"]:
            if not (csr.get("status") or {}).get("conditions"):
                csr["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "Test",
                                                 "message": "approved by the test"}]}
                await kube.put(f"{path}/{csr['metadata']['name']}/approval", csr)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


async def test_import_lifecycle(sshd: Sshd, server: RunningServer, kube: Kube, tmp_path: Path,
                                host_dir: Path) -> None:
    from kubenode.client.client import KubeClient
    from kubenode.client.config import load_config

    from .installer_env import install_node_isolation

    async with KubeClient(load_config(server.kubeconfig)) as admin:  # what `kubenode up` installs for agents
        await install_node_isolation(admin)
    # The kubelet's bootstrap, as the operator's source hands it out (controlplane/kubelet_join.py mints the
    # token through the API; tests/integration/test_kubelet_bootstrap.py covers that part).
    kubelet_token = ["kub123.0123456789abcdef"]
    ca_pem = server.pki.ca_cert.read_bytes()

    async def kubelet_join(_machine: dict[str, Any]) -> KubeletJoin:
        return KubeletJoin(ca_pem, bootstrap_kubelet_kubeconfig(server.url, ca_pem, kubelet_token[0]))

    host_root = tmp_path / "host-root"
    kubelet_conf = host_root / "etc/kubernetes/bootstrap-kubelet.conf"
    kubelet_ca = host_root / "etc/kubernetes/pki/ca.crt"
    p = provider(tmp_path, host_dir, sshd.client_key, kubelet_join=kubelet_join, host_root=str(host_root))
    m = machine(sshd.port)
    boot = Bootstrap(machine_name="imported-1", machine_uid=m["metadata"]["uid"], node_name="imported-node-1",
                     kubeconfig=await _bootstrap_kubeconfig(server, kube))
    stop_approving = asyncio.Event()
    approver = asyncio.create_task(_approve_agent_csrs(kube, stop_approving))
    try:
        assert (await p.state(m)).state == STATE_MISSING

        status = await p.create(m, boot)
        assert status.state == STATE_RUNNING, status.message
        assert status.provider_id == f"ssh://{getpass.getuser()}@127.0.0.1:{sshd.port}"
        assert status.addresses == [{"type": "InternalIP", "address": "127.0.0.1"}]
        assert (host_dir / "bootstrap-kubeconfig").stat().st_mode & 0o777 == 0o600
        assert kubelet_conf.stat().st_mode & 0o777 == 0o600 and kubelet_ca.stat().st_mode & 0o777 == 0o644
        assert kubelet_ca.read_bytes() == ca_pem and "kub123.0123456789abcdef" in kubelet_conf.read_text()
        written = (kubelet_conf.stat().st_mtime_ns, kubelet_conf.stat().st_ino)
        pid = agent_pid(host_dir)
        proc = psutil.Process(pid)
        assert proc.environ()["PYTHONPATH"] == str(host_dir / "lib" / "kubenode-agent.zip")
        assert "--register-node" in proc.cmdline() and "--root" not in proc.cmdline()

        # The agent really runs: it registers its Node with the API server.
        async def node_registered() -> bool:
            return (await kube.get("/api/v1/nodes/imported-node-1")).status == 200

        await eventually(node_registered, within=30.0, what="the agent to register its Node")
        assert "kubenode agent for machine imported-1" in (host_dir / "log" / "agent.log").read_text()
        # ... with the client certificate it requested with the bootstrap token (key made on the host, 0600)
        assert (host_dir / "agent-client.pem").stat().st_mode & 0o777 == 0o600
        assert (host_dir / "kubeconfig").stat().st_mode & 0o777 == 0o600

        # Idempotent: nothing changed, so the same process keeps running.
        again = await p.create(m, boot)
        assert again.state == STATE_RUNNING
        assert agent_pid(host_dir) == pid
        assert (await p.state(m)).state == STATE_RUNNING
        assert (kubelet_conf.stat().st_mtime_ns, kubelet_conf.stat().st_ino) == written  # not rewritten

        # A new kubelet token is written, without restarting the agent (it does not read it).
        kubelet_token[0] = "kub456.fedcba9876543210"
        assert (await p.create(m, boot)).state == STATE_RUNNING
        assert "kub456.fedcba9876543210" in kubelet_conf.read_text()
        assert agent_pid(host_dir) == pid

        # A dead agent is reported as Stopped (installed, not running) ...
        os.kill(pid, signal.SIGKILL)

        async def stopped() -> bool:
            return (await p.state(m)).state == STATE_STOPPED

        await eventually(stopped, within=30.0, what="state() to report the killed agent")
        # ... and create() starts it again.
        assert (await p.create(m, boot)).state == STATE_RUNNING
        assert agent_pid(host_dir) != pid

        # New inputs (a rotated token in the kubeconfig) restart the agent with them.
        before = agent_pid(host_dir)
        rotated = dataclasses.replace(boot, kubeconfig=boot.kubeconfig + "\n# rotated\n")
        assert (await p.create(m, rotated)).state == STATE_RUNNING
        restarted = agent_pid(host_dir)
        assert restarted != before
        assert "# rotated" in (host_dir / "bootstrap-kubeconfig").read_text()

        gone = await p.delete(m)
        assert gone.state == STATE_MISSING
        assert not exists(host_dir)
        assert not exists(kubelet_conf) and not exists(kubelet_ca)
        assert not psutil.pid_exists(restarted) or psutil.Process(restarted).status() == psutil.STATUS_ZOMBIE
        assert (await p.state(m)).state == STATE_MISSING
        assert (await p.delete(m)).state == STATE_MISSING  # idempotent
    finally:
        stop_approving.set()
        await approver
        with contextlib.suppress(ProviderError):
            await p.delete(m)


async def test_host_owned_by_another_machine_is_left_alone(sshd: Sshd, tmp_path: Path, host_dir: Path) -> None:
    p = provider(tmp_path, host_dir, sshd.client_key)
    first = machine(sshd.port)
    other = machine(sshd.port, name="imported-2", uid="11111111-2222-3333-4444-555555555555")
    claim(host_dir, first["metadata"]["uid"])

    boot = Bootstrap("imported-2", other["metadata"]["uid"], "n2", kubeconfig="apiVersion: v1\n")
    with pytest.raises(ProviderError) as err:
        await p.create(other, boot)
    assert err.value.reason == "HostInUse" and not err.value.retryable
    assert (await p.state(other)).state == STATE_MISSING
    assert (await p.delete(other)).state == STATE_MISSING
    assert exists(host_dir / "machine-uid")  # the other machine's files are untouched


async def test_wrong_key_is_a_clear_permanent_failure(sshd: Sshd, tmp_path: Path, host_dir: Path) -> None:
    p = provider(tmp_path, host_dir, asyncssh.generate_private_key("ssh-ed25519"))
    m = machine(sshd.port)
    with pytest.raises(ProviderError) as err:
        await p.create(m, Bootstrap("imported-1", m["metadata"]["uid"], "n", kubeconfig=""))
    assert err.value.reason == "AuthenticationFailed"
    assert not err.value.retryable
    assert "not authorized" in str(err.value) and "kubenode-system/host-key" in str(err.value)
    status = await p.state(m)
    assert status.state == STATE_FAILED and "authentication" in status.message


async def test_changed_host_key_is_refused(sshd: Sshd, tmp_path: Path, host_dir: Path) -> None:
    p = provider(tmp_path, host_dir, sshd.client_key)
    m = machine(sshd.port)
    assert (await p.state(m)).state == STATE_MISSING  # first contact: the host key is recorded

    sshd.restart_with_new_host_key()
    status = await p.state(m)
    assert status.state == STATE_FAILED
    assert "HOST KEY CHANGED" in status.message
    assert sshd.host_key.get_fingerprint() in status.message
    with pytest.raises(ProviderError) as err:
        await p.create(m, Bootstrap("imported-1", m["metadata"]["uid"], "n", kubeconfig=""))
    assert err.value.reason == "HostKeyChanged" and not err.value.retryable
    assert not exists(host_dir)  # nothing was done on the untrusted host


async def test_known_hosts_from_the_secret(sshd: Sshd, tmp_path: Path, host_dir: Path) -> None:
    line = f"[127.0.0.1]:{sshd.port} {sshd.host_key.export_public_key().decode().strip()}\n"
    m = machine(sshd.port)
    assert (await provider(tmp_path, host_dir, sshd.client_key, line).state(m)).state == STATE_MISSING

    stranger = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    p = provider(tmp_path, host_dir, sshd.client_key, f"[127.0.0.1]:{sshd.port} {stranger}\n")
    with pytest.raises(ProviderError) as err:
        await p.delete(m)
    assert err.value.reason == "HostKeyNotTrusted"
    assert sshd.host_key.get_fingerprint() in str(err.value)


async def test_unreachable_host_is_retryable(tmp_path: Path, host_dir: Path) -> None:
    p = provider(tmp_path, host_dir, asyncssh.generate_private_key("ssh-ed25519"), connect_attempts=2,
                 retry_delay=0.01, connect_timeout=2.0)
    m = machine(free_port())  # nothing listens there
    with pytest.raises(ProviderError) as err:
        await p.state(m)
    assert err.value.retryable and err.value.reason == "Unreachable"
    assert "after 2 attempts" in str(err.value)


async def test_invalid_import_spec_is_rejected_before_connecting(tmp_path: Path, host_dir: Path) -> None:
    p = provider(tmp_path, host_dir, asyncssh.generate_private_key("ssh-ed25519"))
    m = machine(22)
    m["spec"]["import"]["address"] = "-oProxyCommand=evil"
    m["spec"]["import"]["user"] = "root; rm -rf /"
    with pytest.raises(ProviderError) as err:
        await p.create(m, Bootstrap("imported-1", m["metadata"]["uid"], "n", kubeconfig=""))
    assert err.value.reason == "InvalidImportSpec" and not err.value.retryable
    assert "address" in str(err.value) and "user" in str(err.value)
    status = await p.state(m)
    assert status.state == STATE_FAILED and "spec.import.address" in status.message
