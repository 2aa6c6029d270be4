"""End to end: `kubenode up` with real agent processes, driven with the real kubectl."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .fleet import Kubectl, Process, kill_agents, start_up, wait_for

pytestmark = pytest.mark.e2e

GRACE = 6.0


class Fleet:
    def __init__(self, data: Path, proc: Process, kubectl: Kubectl) -> None:
        self.data = data
        self.proc = proc
        self.k = kubectl

    def machines(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.k.json("get", "machines")["items"]
        return items

    def running(self) -> list[str]:
        return sorted(m["metadata"]["name"] for m in self.machines()
                      if (m.get("status") or {}).get("phase") == "Running"
                      and not m["metadata"].get("deletionTimestamp"))

    def node_ready(self, name: str) -> str:
        node = self.k.json("get", "node", name)
        return next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready")

    def wait_running(self, n: int, within: float = 60) -> list[str]:
        def check() -> list[str] | None:
            names = self.running()
            all_ms = [m for m in self.machines() if not m["metadata"].get("deletionTimestamp")]
            if len(names) == n and len(all_ms) == n and all(self.node_ready(x) == "True" for x in names):
                return names
            return None

        result: list[str] = wait_for(check, within, f"{n} running machines with Ready nodes")
        return result


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    base = tmp_path_factory.mktemp("fleet")
    data = base / "data"
    proc, _ = start_up(data, 3, GRACE, base / "up.log")
    try:
        yield Fleet(data, proc, Kubectl(data / "kubeconfig", base / "kubectl-cache"))
    finally:
        code = proc.stop()
        kill_agents(data)
        assert code == 0, proc.output()[-3000:]


def test_three_machines_running_with_ready_nodes(fleet: Fleet) -> None:
    names = fleet.wait_running(3)
    out = fleet.k.run("get", "machines").stdout
    assert "PHASE" in out and "Running" in out
    for name in names:
        # ComponentsReady follows the demo set's install on its own schedule (it is not part of Ready).
        def components_ready(name: str = name) -> dict[str, Any] | None:
            m: dict[str, Any] = fleet.k.json("get", "machine", name)
            conds = {c["type"]: c["status"] for c in m["status"]["conditions"]}
            return m if conds.get("ComponentsReady") == "True" else None

        m = wait_for(components_ready, 60, f"{name} ComponentsReady")
        conds = {c["type"]: c["status"] for c in m["status"]["conditions"]}
        assert conds == {"InfrastructureReady": "True", "AgentConnected": "True", "NodeReady": "True",
                         "NodeSynced": "True", "ComponentsReady": "True", "Ready": "True"}
        assert m["spec"]["providerID"] == f"local:///{name}"  # set once the host exists
        node = fleet.k.json("get", "node", name)
        assert node["metadata"]["labels"]["kubenode.io/machine"] == name
        assert node["metadata"]["labels"]["kubernetes.io/arch"]
        assert (fleet.data / "machines" / name / "dev" / "kmsg").exists()
    ms = fleet.k.json("get", "machineset", "local")
    assert ms["status"]["readyReplicas"] == 3


def test_scale_up_with_kubectl(fleet: Fleet) -> None:
    fleet.k.run("scale", "machineset", "local", "--replicas=5")
    assert len(fleet.wait_running(5)) == 5
    assert "5" in fleet.k.run("get", "machineset", "local").stdout


def test_scale_down_honours_delete_policy(fleet: Fleet) -> None:
    machines = sorted(fleet.machines(), key=lambda m: (m["metadata"]["creationTimestamp"], m["metadata"]["name"]))
    newest = machines[-1]["metadata"]["name"]
    oldest = machines[0]["metadata"]["name"]
    # annotated first, whatever the policy
    fleet.k.run("annotate", "machine", newest, "kubenode.io/delete-machine=yes")
    fleet.k.run("scale", "machineset", "local", "--replicas=4")
    names = fleet.wait_running(4)
    assert newest not in names
    # then the policy of the `local` set: Oldest
    fleet.k.run("scale", "machineset", "local", "--replicas=3")
    names = fleet.wait_running(3)
    assert oldest not in names
    wait_for(lambda: fleet.k.run("get", "node", oldest, check=False).returncode != 0, 30, "the node to be removed")
    assert not (fleet.data / "machines" / oldest).exists()


def test_labels_and_taints_sync_onto_the_node(fleet: Fleet) -> None:
    name = fleet.running()[0]
    fleet.k.run("patch", "machine", name, "--type=merge", "-p",
                '{"spec":{"nodeLabels":{"tier":"gold"},"nodeTaints":[{"key":"dedicated","value":"db",'
                '"effect":"NoSchedule"}]}}')
    fleet.k.run("label", "node", name, "owner=human")

    def synced() -> bool:
        node = fleet.k.json("get", "node", name)
        taints = {t["key"] for t in node["spec"].get("taints") or []}
        return node["metadata"]["labels"].get("tier") == "gold" and "dedicated" in taints

    wait_for(synced, 30, "labels and taints on the node")
    fleet.k.run("patch", "machine", name, "--type=merge", "-p", '{"spec":{"nodeLabels":null,"nodeTaints":null}}')

    def removed() -> bool:
        node = fleet.k.json("get", "node", name)
        taints = {t["key"] for t in node["spec"].get("taints") or []}
        return "tier" not in node["metadata"]["labels"] and "dedicated" not in taints

    wait_for(removed, 30, "machine-owned labels and taints removed")
    assert fleet.k.json("get", "node", name)["metadata"]["labels"]["owner"] == "human"  # not ours: kept


def test_deleted_machine_is_replaced(fleet: Fleet) -> None:
    victim = fleet.running()[0]
    fleet.k.run("delete", "machine", victim, "--wait=true", "--timeout=60s")
    names = fleet.wait_running(3)
    assert victim not in names
    assert fleet.k.run("get", "node", victim, check=False).returncode != 0


def test_agent_token_may_not_touch_another_node(fleet: Fleet, tmp_path: Path) -> None:
    a, b = fleet.running()[:2]
    agent = Kubectl(fleet.data / "machines" / a / "etc" / "kubeconfig", tmp_path / "cache")
    denied = agent.run("label", "node", b, "hacked=yes", check=False)
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr and f'nodes "{b}" is forbidden' in denied.stderr
    assert agent.run("delete", "machine", b, check=False).returncode != 0
    assert agent.run("get", "secrets", "-A", check=False).returncode != 0
    assert "hacked" not in fleet.k.json("get", "node", b)["metadata"]["labels"]
    # Its own Node: only the labels a kubelet may set (NodeRestriction's set; issue 9's node-isolation policy).
    agent.run("label", "node", a, "node.kubernetes.io/self-label=ok")
    own = agent.run("label", "node", a, "self-label=no", check=False)
    assert own.returncode != 0 and "may change only the Node labels it owns, not: self-label" in own.stderr
    assert agent.json("get", "nodes")["items"]  # and it may read


def test_bad_machine_spec_is_rejected_with_field_paths(fleet: Fleet, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: kubenode.io/v1alpha1\nkind: Machine\nmetadata:\n  name: bad\n"
                   "spec:\n  providerRef: {}\n  unschedulable: maybe\n")
    r = fleet.k.run("apply", "-f", str(bad), check=False)
    assert r.returncode != 0
    assert "spec.unschedulable" in r.stderr
    assert "spec.providerRef.name" in r.stderr


def test_silent_agent_turns_node_unknown(fleet: Fleet) -> None:
    # A hung agent (SIGSTOP): alive, so the local provider's supervision does not restart it (a SIGKILLed one
    # is restarted with backoff, tests/integration/test_local_supervision.py), but silent: no Lease, no status.
    victim = fleet.running()[-1]
    pid = int((fleet.data / "machines" / victim / "run" / "agent.pid").read_text().split()[0])
    os.kill(pid, signal.SIGSTOP)
    try:
        _node_turns_unknown(fleet, victim)
    finally:
        os.kill(pid, signal.SIGCONT)


def _node_turns_unknown(fleet: Fleet, victim: str) -> None:
    wait_for(lambda: fleet.node_ready(victim) == "Unknown", GRACE + 20, "the node to turn Unknown")

    def machine_says_so() -> bool:
        m = fleet.k.json("get", "machine", victim)
        conds = {c["type"]: c for c in m["status"]["conditions"]}
        return (conds["NodeReady"]["status"] == "Unknown" and conds["AgentConnected"]["status"] == "Unknown"
                and conds["Ready"]["status"] == "False")

    wait_for(machine_says_so, GRACE + 30, "the Machine's conditions to report the dead agent")
    node = fleet.k.json("get", "node", victim)
    assert any(t["key"] == "node.kubernetes.io/unreachable" for t in node["spec"].get("taints") or [])
