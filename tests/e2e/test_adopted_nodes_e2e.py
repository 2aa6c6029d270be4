"""End to end: a cluster's own Nodes adopted by an `existing` InfraProvider, run by DaemonSet-mode agents.

The Nodes are created by the test exactly as a kubelet registers them (its labels, a Ready status); the
agents run as `kubenode agent --node-name N --host-root DIR --kubeconfig K` — the DaemonSet's arguments —
with a `kubenode-agent` ServiceAccount token bound to its pod (so it names the pod's node), read from a file as
a pod reads its projected token.
Each DIR stands for a host's root filesystem mounted into the pod. No systemd runs on this machine, so a
`chroot` on the agents' PATH records what would reach the host's systemd (the agent's only way to it) and
succeeds: the test checks the exact commands, and the unit files and component files on the "host".
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from .fleet import Kubectl, Process, kubenode, start_up, wait_for

pytestmark = pytest.mark.e2e

ADOPT = {"pool": "adopt"}


def kubelet_node(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """A Node as the kubelet registers it (well-known labels; no KubeNode label)."""
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", **labels}}}


def kubelet_status(name: str) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
                        "lastTransitionTime": now}],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
        "nodeInfo": {"kubeletVersion": "v1.32.0", "containerRuntimeVersion": "containerd://1.7.0",
                     "machineID": name, "systemUUID": name, "bootID": "b", "kernelVersion": "6.1",
                     "osImage": "Debian", "operatingSystem": "linux", "architecture": "amd64",
                     "kubeProxyVersion": ""}}}


def fake_host(root: Path) -> None:
    """A host root as a pod sees it under /host: a kernel log, the host's /proc, systemd's unit directory."""
    (root / "dev").mkdir(parents=True)
    (root / "dev" / "kmsg").write_text("")
    (root / "proc").symlink_to("/proc")
    (root / "etc" / "systemd" / "system").mkdir(parents=True)


def chroot_recorder(bin_dir: Path, record: Path) -> None:
    bin_dir.mkdir(parents=True)
    script = bin_dir / "chroot"
    script.write_text(f'#!/bin/sh\necho "$*" >> {record}\nexit 0\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def machine_phase(k: Kubectl, name: str) -> str:
    proc = k.run("get", "machine", name, "-o", "json", check=False)
    return str((json.loads(proc.stdout).get("status") or {}).get("phase")) if proc.returncode == 0 else ""


def test_existing_nodes_adopted_and_run_by_daemonset_agents(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # The test plays the kubelet but renews no node Lease: a long grace keeps its Nodes Ready.
    up, _ = start_up(data, 0, 3600.0, tmp_path / "up.log")
    k = Kubectl(data / "kubeconfig", tmp_path / "cache")
    agents: list[Process] = []
    try:
        for name, labels in (("w1", ADOPT), ("w2", ADOPT), ("other", {"pool": "gpu"})):
            k.run("apply", "-f", "-", stdin=json.dumps(kubelet_node(name, labels)))
            k.run("patch", "node", name, "--subresource=status", "--type=merge", "-p",
                  json.dumps(kubelet_status(name)))
        k.run("apply", "-f", "-", stdin=json.dumps({
            "apiVersion": "kubenode.io/v1alpha1", "kind": "InfraProvider", "metadata": {"name": "cluster"},
            "spec": {"type": "existing", "parameters": {"nodeSelector": {"matchLabels": ADOPT}}}}))

        def adopted() -> list[str]:
            items = k.json("get", "machines", "-l", "kubenode.io/infraprovider=cluster")["items"]
            return sorted(m["metadata"]["name"] for m in items)

        wait_for(lambda: adopted() == ["w1", "w2"], 60, "a Machine for each selected Node")
        m = k.json("get", "machine", "w1")
        assert m["spec"]["providerID"] == "existing://w1" and m["spec"]["nodeName"] == "w1"
        # The kubelet's Node is Ready, but without its agent the machine is not Running yet.
        def waiting_for_agent() -> bool:
            st = k.json("get", "machine", "w1").get("status") or {}
            conds = {c["type"]: c["status"] for c in st.get("conditions") or []}
            return (st.get("phase") == "Joining" and conds.get("NodeReady") == "True"
                    and conds.get("AgentConnected") == "False")

        wait_for(waiting_for_agent, 60, "w1 Joining: its Node Ready, its agent not yet connected")
        ip = k.json("get", "infraprovider", "cluster")
        assert ip["status"]["machines"] == 2
        assert ip["status"]["conditions"][0]["reason"] == "ProviderReady"

        # DaemonSet-mode agents: each reads the kubenode-agent ServiceAccount token projected into its pod, which
        # is bound to that pod and so names the pod's node (the node-name extra the node-isolation policy checks).
        # No kubelet runs pods here: the test creates each DaemonSet pod as the controller and scheduler would.
        record = tmp_path / "host-commands.log"
        chroot_recorder(tmp_path / "bin", record)
        env = {"PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
        for name in ("w1", "w2"):
            pod = tmp_path / f"pod-{name}.yaml"
            pod.write_text(yaml.safe_dump({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"kubenode-agent-{name}", "namespace": "kubenode-system"},
                "spec": {"nodeName": name, "serviceAccountName": "kubenode-agent",
                         "containers": [{"name": "agent", "image": "kubenode:dev"}]}}))
            k.run("apply", "-f", str(pod))
            token = k.run("create", "token", "kubenode-agent", "-n", "kubenode-system", "--bound-object-kind",
                          "Pod", "--bound-object-name", f"kubenode-agent-{name}").stdout.strip()
            token_file = tmp_path / f"token-{name}"
            token_file.write_text(token)
            kc = yaml.safe_load((data / "kubeconfig").read_text())
            kc["users"] = [{"name": "agent", "user": {"tokenFile": str(token_file)}}]
            kc["contexts"][0]["context"]["user"] = "agent"
            agent_kc = tmp_path / f"agent-{name}.kubeconfig"
            agent_kc.write_text(yaml.safe_dump(kc))
            fake_host(tmp_path / "hosts" / name)
            agents.append(Process(kubenode("agent", "--node-name", name, "--host-root", str(tmp_path / "hosts" / name),
                                           "--kubeconfig", str(agent_kc), "--metrics-port", "0",
                                           "--metrics-address", "127.0.0.1", "--heartbeat-seconds", "2"),
                                  tmp_path / f"agent-{name}.log", env=env))

        def running() -> bool:
            for n in ("w1", "w2"):
                st = k.json("get", "machine", n).get("status") or {}
                assert st.get("phase") == "Running", (n, st)
            return True

        wait_for(running, 90, "the adopted machines Running once their agents report")
        node = k.json("get", "node", "w1")
        # The kubelet still owns the Node: the agent registered nothing and kept the kubelet's status.
        assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.32.0"
        assert node["metadata"]["labels"]["kubenode.io/machine"] == "w1"  # synced by the operator
        assert k.run("get", "lease", "w1", "-n", "kube-node-lease", check=False).returncode != 0
        assert machine_phase(k, "other") == ""

        # A component rolled onto the adopted machines: files on the host, a systemd unit naming host paths.
        mcs = yaml.safe_load((data / "artifacts" / "node-exporter-1.0.0.yaml").read_text())
        mcs["metadata"]["name"] = "adopted-exporter"  # `kubenode up` has its own set of that name
        mcs["spec"]["selector"] = {"matchLabels": {"kubenode.io/infraprovider": "cluster"}}
        mcs["spec"]["updateStrategy"]["rollingUpdate"] = {"batches": [2], "batchSoakSeconds": 0}
        mcs["spec"]["template"].pop("healthCheck", None)  # nothing runs the unit here; the unit is checked
        k.run("apply", "-f", "-", stdin=yaml.safe_dump(mcs))
        name = mcs["spec"]["component"]

        def installed() -> bool:
            items = k.json("get", "machinecomponents")["items"]
            ok = len(items) == 2 and all((i.get("status") or {}).get("phase") == "Running" for i in items)
            assert ok, ([i.get("status") for i in items], k.json("get", "mcs", "adopted-exporter").get("status"))
            return ok

        wait_for(installed, 120, "the component Running on both adopted machines")
        host = tmp_path / "hosts" / "w1"
        unit = (host / "etc" / "systemd" / "system" / f"kubenode-{name}.service").read_text()
        assert f"/opt/kubenode/components/{name}/1.0.0" in unit and str(host) not in unit
        assert (host / "opt" / "kubenode" / "components" / name / "1.0.0").is_dir()
        commands = record.read_text().splitlines()
        for action in ("daemon-reload", f"enable kubenode-{name}.service", f"restart kubenode-{name}.service"):
            assert f"{host} systemctl {action}" in commands, commands

        # Deleting an adopted Machine cordons and drains its Node and leaves Node and host in place.
        k.run("delete", "machine", "w1", "--timeout=60s")
        node = k.json("get", "node", "w1")
        assert node["spec"]["unschedulable"] is True
        assert node["metadata"]["annotations"]["kubenode.io/adopt"] == "false"
        assert (host / "etc" / "systemd" / "system").is_dir()  # the host itself is untouched
        wait_for(lambda: k.json("get", "infraprovider", "cluster")["status"]["conditions"][0]["reason"]
                 == "NodesSkipped", 30, "the provider to report w1 skipped")
        assert adopted() == ["w2"]  # not adopted again
    finally:
        for a in agents:
            a.stop()
        up.stop()
