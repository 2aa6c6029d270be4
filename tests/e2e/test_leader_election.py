"""Two `kubenode operator` processes against one API server: one leads, the other takes over."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from kubenode.apiserver.server import free_port

from .fleet import Kubectl, Process, kill_agents, kubenode, wait_for

pytestmark = pytest.mark.e2e

LEASE = 4.0
FLEET = """
apiVersion: kubenode.io/v1alpha1
kind: InfraProvider
metadata: {name: local}
spec: {type: local}
---
apiVersion: kubenode.io/v1alpha1
kind: MachineSet
metadata: {name: pool}
spec:
  replicas: 2
  selector: {matchLabels: {pool: a}}
  template:
    metadata: {labels: {pool: a}}
    spec: {providerRef: {name: local}}
"""


def holder(k: Kubectl) -> str:
    r = k.run("get", "lease", "-n", "kube-system", "kubenode-operator", "-o", "jsonpath={.spec.holderIdentity}",
              check=False)
    return r.stdout.strip() if r.returncode == 0 else ""


def test_only_the_leader_acts_and_a_kill_hands_over(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Process(kubenode("apiserver", "--data-dir", str(data), "--port", str(free_port())),
                     tmp_path / "apiserver.log")
    ops: list[Process] = []
    try:
        wait_for(lambda: (data / "kubeconfig").exists() and "listening" in server.output(), 30, "the API server")
        k = Kubectl(data / "kubeconfig", tmp_path / "cache")
        # What deploy/ installs on a real cluster: the CRDs, the shipped RBAC and the node-isolation policy.
        for what in ("crds", "rbac", "policies"):
            k.run("apply", "-f", "-", stdin=subprocess.run(kubenode(what), capture_output=True, text=True,
                                                          check=True).stdout)
        wait_for(lambda: k.run("get", "machinesets", check=False).returncode == 0, 30, "CRDs to be served")
        k.run("apply", "-f", "-", stdin=FLEET)

        def operator(name: str) -> Process:
            p = Process(kubenode("operator", "--kubeconfig", str(data / "kubeconfig"), "--data-dir", str(data),
                                 "--identity", name, "--lease-duration", str(LEASE), "--health-port",
                                 str(free_port())), tmp_path / f"{name}.log")
            ops.append(p)
            return p

        a = operator("op-a")
        wait_for(lambda: holder(k) == "op-a", 30, "op-a to lead")
        b = operator("op-b")

        def two_running() -> bool:
            items = k.json("get", "machines")["items"]
            return len(items) == 2 and all((m.get("status") or {}).get("phase") == "Running" for m in items)

        wait_for(two_running, 60, "2 running machines")
        wait_for(lambda: "started" in b.output(), 30, "op-b to start")
        assert holder(k) == "op-a"
        assert "created machine" not in b.output()  # the follower never acted

        a.proc.send_signal(signal.SIGKILL)  # no graceful release: the Lease must expire
        a.proc.wait(10)
        wait_for(lambda: holder(k) == "op-b", LEASE * 3 + 10, "op-b to take over")
        k.run("scale", "machineset", "pool", "--replicas=3")

        def three_running() -> bool:
            items = k.json("get", "machines")["items"]
            return len(items) == 3 and all((m.get("status") or {}).get("phase") == "Running" for m in items)

        wait_for(three_running, 60, "3 running machines after the handover")
        assert b.output().count("created machine") == 1  # exactly one, no duplicate action
        # the new leader re-adopted the machines the old one had started
        assert len(k.json("get", "nodes")["items"]) == 3
    finally:
        for p in ops:
            p.stop(signal.SIGTERM)
        kill_agents(data)
        server.stop(signal.SIGTERM)
