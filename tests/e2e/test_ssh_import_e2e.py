"""End to end: a Machine with `spec.import` brings a real SSH host (loopback sshd) into the fleet.

Besides the agent, the import writes the kubelet's TLS bootstrap under the host root (`--import-host-root`: the
test cannot write /etc): the cluster CA and bootstrap-kubelet.conf with a valid bootstrap token of the Machine,
with which a CSR made exactly as kubelet's TLS bootstrap makes it is approved and signed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..sshd import SSHD, Sshd
from .fleet import Kubectl, check_kubelet_bootstrap, import_machine, kill_agents, start_up, wait_for

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
        import_machine(k, sshd, "imported")

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

