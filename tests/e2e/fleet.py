"""Helpers for end-to-end tests with real processes: `kubenode up`, agents and kubectl."""

from __future__ import annotations

import base64
import contextlib
import getpass
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

from kubenode.apiserver.server import free_port

from ..kubelet_csr import kubelet_csr
from ..sshd import Sshd


def wait_for(check: Callable[[], Any], within: float, what: str, every: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `within` seconds."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {within}s waiting for {what}; last: {last!r}")


class Kubectl:
    """Runs the real kubectl against one kubeconfig."""

    def __init__(self, kubeconfig: Path, cache_dir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.cache_dir = cache_dir

    def run(self, *args: str, check: bool = True, stdin: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        cmd = ["kubectl", f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.cache_dir}", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, input=stdin, timeout=120,
                              env={**os.environ, **(env or {})}, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)


class Process:
    """A child process in its own session, always cleaned up."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env={**os.environ, **(env or {})})

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGINT, grace: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def kubenode(*args: str) -> list[str]:
    """argv for the kubenode command of this interpreter."""
    return [sys.executable, "-m", "kubenode.cli.main", *args]


def start_up(data: Path, machines: int, grace: float, log: Path, *extra: str) -> tuple[Process, int]:
    """Start `kubenode up`; returns once its kubeconfig exists and the server answers."""
    port = free_port()
    proc = Process(kubenode("up", "--data-dir", str(data), "--port", str(port), "--machines", str(machines),
                            "--node-grace-seconds", str(grace), *extra), log)
    wait_for(lambda: "listening on" in proc.output() or not proc.alive(), 60, "kubenode up to start")
    assert proc.alive(), proc.output()
    return proc, port


def kill_agents(data: Path) -> None:
    """Kill every local agent left behind (belt and braces after a test)."""
    for pid_file in data.glob("machines/*/run/agent.pid"):
        try:
            pid = int(pid_file.read_text().split()[0])
            os.killpg(pid, signal.SIGKILL)
        except (ValueError, ProcessLookupError, PermissionError, OSError):
            pass


def machineset_fleet(replicas: int = 2) -> str:
    """A `local` InfraProvider and a MachineSet `pool` of `replicas` machines on it."""
    return f"""
apiVersion: kubenode.io/v1alpha1
kind: InfraProvider
metadata: {{name: local}}
spec: {{type: local}}
---
apiVersion: kubenode.io/v1alpha1
kind: MachineSet
metadata: {{name: pool}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{pool: a}}}}
  template:
    metadata: {{labels: {{pool: a}}}}
    spec: {{providerRef: {{name: local}}}}
"""


def start_apiserver(data: Path, log: Path) -> Process:
    """A `kubenode apiserver` process on a free port; returns once its kubeconfig exists and it listens."""
    server = Process(kubenode("apiserver", "--data-dir", str(data), "--port", str(free_port())), log)
    try:
        wait_for(lambda: ((data / "kubeconfig").exists() and "listening" in server.output()) or not server.alive(),
                 30, "the API server")
        assert server.alive(), server.output()
    except BaseException:
        server.stop(signal.SIGTERM)
        raise
    return server


def wait_for_crds(k: Kubectl) -> None:
    wait_for(lambda: k.run("get", "machinesets", check=False).returncode == 0, 30, "CRDs to be served")


def install_shipped(k: Kubectl) -> None:
    """What deploy/ installs besides the workloads: the CRDs, the shipped RBAC and the node-isolation policy."""
    for what in ("crds", "rbac", "policies"):
        k.run("apply", "-f", "-", stdin=subprocess.run(kubenode(what), capture_output=True, text=True,
                                                      check=True).stdout)
    wait_for_crds(k)


def token_kubeconfig(admin: Path, token: str, out: Path, user: str) -> Path:
    """The admin kubeconfig's cluster with `token` as the only credential (mode 0600)."""
    doc = yaml.safe_load(admin.read_text())
    cluster = doc["clusters"][0]
    out.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [cluster],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": cluster["name"], "user": user}}],
        "current-context": user}))
    out.chmod(0o600)
    return out


def start_operator(kubeconfig: Path, data: Path, identity: str, log: Path, lease: float, *extra: str) -> Process:
    """`kubenode operator` with `kubeconfig`'s credentials, local machines under `data`, leader-elected."""
    return Process(kubenode("operator", "--kubeconfig", str(kubeconfig), "--data-dir", str(data),
                            "--identity", identity, "--lease-duration", f"{lease:g}", "--health-port",
                            str(free_port()), *extra), log)


@dataclass
class ApiserverFleet:
    """A `kubenode apiserver` (data under `data`), kubectl as its admin, and the operators started on it."""

    data: Path
    k: Kubectl
    tmp: Path
    operators: list[Process] = field(default_factory=list)

    def operator(self, identity: str, lease: float, kubeconfig: Path | None = None, *extra: str) -> Process:
        """`kubenode operator` as `identity` (log `tmp/<identity>.log`) with `kubeconfig` (default: the admin's),
        local machines under `data`; stopped when the fleet is."""
        p = start_operator(kubeconfig or self.data / "kubeconfig", self.data, identity, self.tmp / f"{identity}.log",
                           lease, *extra)
        self.operators.append(p)
        return p


@contextlib.contextmanager
def apiserver_fleet(tmp: Path) -> Iterator[ApiserverFleet]:
    """A `kubenode apiserver` under `tmp/data` with an admin kubectl (cache `tmp/cache`); on exit every operator
    started through it is stopped (SIGTERM), the local agents are killed and the server is stopped."""
    data = tmp / "data"
    server = start_apiserver(data, tmp / "apiserver.log")
    fleet = ApiserverFleet(data, Kubectl(data / "kubeconfig", tmp / "cache"), tmp)
    try:
        yield fleet
    finally:
        for p in fleet.operators:
            p.stop(signal.SIGTERM)
        kill_agents(data)
        server.stop(signal.SIGTERM)


def running_machines(k: Kubectl, n: int) -> list[str] | None:
    """The names of the Machines when there are exactly `n`, none being deleted, all Running; else None."""
    items = k.json("get", "machines")["items"]
    if len(items) != n or any(m["metadata"].get("deletionTimestamp") for m in items):
        return None
    if not all((m.get("status") or {}).get("phase") == "Running" for m in items):
        return None
    return sorted(m["metadata"]["name"] for m in items)


def import_machine(k: Kubectl, sshd: Sshd, name: str) -> None:
    """A Machine `name` importing the loopback `sshd` host as this user, its key in Secret kubenode-system/host-key."""
    key = sshd.client_key.export_private_key().decode()
    k.run("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/ssh-auth",
        "metadata": {"name": "host-key", "namespace": "kubenode-system"},
        "data": {"ssh-privatekey": base64.b64encode(key.encode()).decode()}}))
    k.run("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "kubenode.io/v1alpha1", "kind": "Machine", "metadata": {"name": name},
        "spec": {"import": {"address": "127.0.0.1", "port": sshd.port, "user": getpass.getuser(),
                            "sshSecretRef": {"name": "host-key", "namespace": "kubenode-system"}}}}))


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
    node = str(machine["spec"].get("nodeName") or machine["metadata"]["name"])
    _, csr = kubelet_csr(node)
    as_kubelet.run("create", "-f", "-", stdin=json.dumps(csr))
    name = csr["metadata"]["name"]

    def issued() -> dict[str, Any] | None:
        obj: dict[str, Any] = k.json("get", "csr", name)
        return obj if (obj.get("status") or {}).get("certificate") else None

    signed = wait_for(issued, 60, "the kubelet's CSR to be approved and signed")
    assert any(c["type"] == "Approved" and c["reason"] == "AutoApproved" for c in signed["status"]["conditions"])
    cert = x509.load_pem_x509_certificate(base64.b64decode(signed["status"]["certificate"]))
    assert cert.subject.rfc4514_string() == f"CN=system:node:{node},O=system:nodes"
