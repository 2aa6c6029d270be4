"""`kubenode simulate` and `kubenode simulate flip` as real processes against `kubenode apiserver`, seen by kubectl."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import Cluster, LineReader, wait_until


def kubenode(cluster: Cluster, *args: str) -> list[str]:
    return [sys.executable, "-m", "kubenode.cli.main", *args, "--kubeconfig", str(cluster.kubeconfig)]


def test_simulate_registers_flips_and_cleans_up(cluster: Cluster) -> None:
    crds = subprocess.run([sys.executable, "-m", "kubenode.cli.main", "crds"], capture_output=True, text=True,
                          check=True).stdout
    cluster.kubectl("apply", "-f", "-", stdin=crds)
    proc = subprocess.Popen(kubenode(cluster, "simulate", "--nodes", "5", "--lease-seconds", "1",
                                     "--faults", "KernelDeadlock:1", "--cleanup", "--stats-seconds", "1"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            env=cluster.env())
    out = LineReader(proc)
    try:
        out.wait_for(lambda line: "5 hollow nodes registered" in line, timeout=60)
        nodes = cluster.get_json("nodes", "-l", "kubenode.io/simulated=true")["items"]
        assert len(nodes) == 5
        assert len(cluster.get_json("leases", "-n", "kube-node-lease")["items"]) == 5
        assert len(cluster.get_json("machines")["items"]) == 5

        def deadlocked() -> list[str]:
            items = cluster.get_json("nodes", "-l", "kubenode.io/simulated=true")["items"]
            return [n["metadata"]["name"] for n in items for x in n["status"]["conditions"]
                    if x["type"] == "KernelDeadlock" and x["status"] == "True"]
        assert len(wait_until(deadlocked, 30, "the injected fault")) == 1

        flip = subprocess.run(kubenode(cluster, "simulate", "flip", "ReadonlyFilesystem=True", "-l",
                                       "topology.kubernetes.io/zone=sim-b"),
                              capture_output=True, text=True, env=cluster.env(), timeout=60, check=False)
        assert flip.returncode == 0, flip.stderr
        assert "ReadonlyFilesystem=True (FilesystemIsReadOnly) on 2 node(s): sim-000001, sim-000004" in flip.stdout
        node = json.loads(cluster.kubectl("get", "node", "sim-000004", "-o", "json").stdout)
        assert {x["type"]: x["status"] for x in node["status"]["conditions"]}["ReadonlyFilesystem"] == "True"
        out.wait_for(lambda line: line.startswith("writes ") and "lease" in line, timeout=30)
        proc.terminate()  # SIGTERM: a graceful stop, then --cleanup
        out.wait_for(lambda line: line.startswith("stopped: "), timeout=60)
        assert proc.wait(60) == 0, out.seen
    finally:
        out.stop()
    assert cluster.get_json("nodes", "-l", "kubenode.io/simulated=true")["items"] == []
    assert cluster.get_json("machines")["items"] == []


def test_simulate_says_what_to_fix(cluster: Cluster) -> None:
    bad = subprocess.run(kubenode(cluster, "simulate", "--nodes", "3", "--faults", "KernelDeadlock:lots"),
                         capture_output=True, text=True, env=cluster.env(), timeout=60, check=False)
    assert bad.returncode == 2
    assert "TYPE[=REASON]:AMOUNT[/PERIOD]" in bad.stderr
