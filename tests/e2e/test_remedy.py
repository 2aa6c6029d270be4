"""End to end on `kubenode up`: kernel log line → Node condition → remediation ladder → healthy node.

Real agent processes with their detectors and executors, the real operator
with the real Defender and its default policy, driven with kubectl. Four
machines, so that one unhealthy node stays under the default policy's storm
guard (30%).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from .fleet import Kubectl, Process, kill_agents, start_up, wait_for

pytestmark = pytest.mark.e2e

GRACE = 6.0
HUNG = "INFO: task java:4242 blocked for more than 120 seconds.\n"


class Fleet:
    def __init__(self, data: Path, proc: Process, kubectl: Kubectl) -> None:
        self.data = data
        self.proc = proc
        self.k = kubectl
        self.spawned: list[threading.Thread] = []

    def root(self, machine: str) -> Path:
        return self.data / "machines" / machine

    def condition(self, node: str, type_: str) -> dict[str, Any] | None:
        n = self.k.json("get", "node", node)
        return next((c for c in n["status"].get("conditions") or [] if c["type"] == type_), None)

    def deadlock(self, node: str) -> str:
        c = self.condition(node, "KernelDeadlock")
        return c["status"] if c else ""

    def running(self, n: int) -> list[str]:
        def check() -> list[str] | None:
            ms = [m for m in self.k.json("get", "machines")["items"] if not m["metadata"].get("deletionTimestamp")]
            names = sorted(m["metadata"]["name"] for m in ms if (m.get("status") or {}).get("phase") == "Running")
            ready = all((self.condition(x, "Ready") or {}).get("status") == "True" for x in names)
            return names if len(names) == n == len(ms) and ready else None

        result: list[str] = wait_for(check, 90, f"{n} running machines")
        return result

    def stop_agent(self, machine: str) -> None:
        """Stop the agent as an operator would by hand: powered off first, or the provider's supervision
        restarts it too, and with :meth:`start_agent` two agents run (one of them unrecorded, outliving
        the test)."""
        pid = int((self.root(machine) / "run" / "agent.pid").read_text().split()[0])
        proc = psutil.Process(pid)
        (self.root(machine) / "powered-off").touch()
        proc.terminate()

        def gone() -> bool:
            # Its parent is `kubenode up`, which reaps it later: a zombie has exited.
            try:
                return proc.status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return True

        wait_for(gone, 20, f"agent {machine} to exit")

    def start_agent(self, machine: str) -> None:
        """Start the machine's agent again the way the local provider does (it adopts it by pid file)."""
        root = self.root(machine)
        cmd = (root / "run" / "agent.cmd").read_text().split("\0")
        with open(root / "var" / "log" / "agent.log", "ab") as log:
            proc = psutil.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                cwd=str(root))
        (root / "run" / "agent.pid").write_text(f"{proc.pid} {proc.create_time()}\n")
        (root / "powered-off").unlink(missing_ok=True)  # on again: the provider supervises it from its next look
        # We are its parent, so reap it as soon as it exits: `kubenode up` stopping it must not wait on a zombie.
        reaper = threading.Thread(target=proc.wait, daemon=True)
        reaper.start()
        self.spawned.append(reaper)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    base = tmp_path_factory.mktemp("remedy")
    data = base / "data"
    proc, _ = start_up(data, 4, GRACE, base / "up.log")
    f = Fleet(data, proc, Kubectl(data / "kubeconfig", base / "kubectl-cache"))
    try:
        f.running(4)
        yield f
    finally:
        code = proc.stop()
        kill_agents(data)
        for reaper in f.spawned:
            reaper.join(10)
        assert code == 0, proc.output()[-3000:]


def test_agent_restart_keeps_conditions_and_a_reboot_clears_them(fleet: Fleet) -> None:
    machine = fleet.running(4)[0]
    kmsg = fleet.root(machine) / "dev" / "kmsg"
    wait_for(lambda: fleet.deadlock(machine) == "False", 30, "the healthy default KernelDeadlock=False")
    with kmsg.open("a") as f:
        f.write(HUNG)
    wait_for(lambda: fleet.deadlock(machine) == "True", 15, "KernelDeadlock=True")
    c = fleet.condition(machine, "KernelDeadlock")
    assert c is not None and c["reason"] == "TaskHung" and "task java:4242" in c["message"]

    # Restart: stop the agent, make the Node forget (as NPD's restart would), start it again.
    fleet.stop_agent(machine)
    fleet.k.run("patch", "node", machine, "--subresource=status", "--type=strategic", "-p", yaml.safe_dump(
        {"status": {"conditions": [{"type": "KernelDeadlock", "status": "False", "reason": "Forgotten",
                                    "message": "wiped while the agent was down"}]}}))
    assert fleet.deadlock(machine) == "False"
    fleet.start_agent(machine)
    wait_for(lambda: fleet.deadlock(machine) == "True", 30, "the condition restored from the agent's state")
    assert fleet.condition(machine, "KernelDeadlock")["reason"] == "TaskHung"  # type: ignore[index]

    # Reboot: a new boot ID resets the detectors to their healthy defaults.
    fleet.stop_agent(machine)
    (fleet.root(machine) / "run" / "boot_id").write_text("rebooted-by-the-test\n")
    fleet.start_agent(machine)
    wait_for(lambda: fleet.deadlock(machine) == "False", 30, "KernelDeadlock cleared by the reboot")
    assert fleet.condition(machine, "KernelDeadlock")["reason"] == "KernelHasNoDeadlock"  # type: ignore[index]


REMEDIER = {
    "apiVersion": "kubenode.io/v1alpha1", "kind": "NodeRemedier", "metadata": {"name": "kernel"},
    "spec": {"selector": {}, "rules": [{
        "name": "hung", "conditions": [{"type": "KernelDeadlock", "status": "True", "forSeconds": 0}],
        "actions": [{"type": "RestartComponent", "component": "node-problem-detector", "timeoutSeconds": 10},
                    {"type": "Reboot", "timeoutSeconds": 30},
                    {"type": "Replace", "timeoutSeconds": 60}],
        "cooldownSeconds": 4, "maxAttempts": 1}]},
}


def jobs_of(fleet: Fleet, node: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = fleet.k.json("get", "remedyoperationjobs", "-l", f"kubenode.io/node={node}")["items"]
    return sorted(items, key=lambda j: (j["spec"]["attempt"], j["spec"]["step"]))


def test_hung_task_is_remediated_until_the_node_is_healthy(fleet: Fleet) -> None:
    machine = fleet.running(4)[1]
    boot_before = (fleet.root(machine) / "run" / "boot_id").read_text().strip()
    wait_for(lambda: fleet.deadlock(machine) == "False", 30, "the healthy default")
    fleet.k.run("apply", "-f", "-", stdin=yaml.safe_dump(REMEDIER))

    start = time.monotonic()
    with (fleet.root(machine) / "dev" / "kmsg").open("a") as f:
        f.write(HUNG)
    wait_for(lambda: fleet.deadlock(machine) == "True", 15, "KernelDeadlock=True", every=0.05)
    detected = time.monotonic()

    def ladder_done() -> list[dict[str, Any]] | None:
        jobs = jobs_of(fleet, machine)
        phases = [(j["spec"]["action"]["type"], (j.get("status") or {}).get("phase")) for j in jobs]
        return jobs if phases[:2] == [("RestartComponent", "Succeeded"), ("Reboot", "Succeeded")] else None

    wait_for(lambda: fleet.deadlock(machine) == "False" and ladder_done(), 60, "the ladder to heal the node",
             every=0.1)
    healthy = time.monotonic()
    jobs = jobs_of(fleet, machine)
    boot_after = (fleet.root(machine) / "run" / "boot_id").read_text().strip()
    assert boot_after != boot_before
    restart, reboot = jobs[0], jobs[1]
    assert restart["status"]["defender"]["decision"] == "Allowed"
    assert reboot["status"]["defender"]["decision"] == "Allowed"
    assert "node-problem-detector" in restart["status"]["message"]
    assert f"{boot_before} -> {boot_after}" in reboot["status"]["message"]
    assert (fleet.condition(machine, "Ready") or {}).get("status") == "True"
    # The reboot healed it: after the cooldown no Replace follows, and the machine is still there.
    time.sleep(REMEDIER["spec"]["rules"][0]["cooldownSeconds"] + 2)  # proving an absence: nothing to poll for
    assert [j["spec"]["action"]["type"] for j in jobs_of(fleet, machine)] == ["RestartComponent", "Reboot"]
    assert machine in fleet.running(4)
    history = fleet.k.run("get", "remedyoperationjobs").stdout
    assert "Reboot" in history and "Succeeded" in history
    print(f"\nREMEDY E2E: append->condition {detected - start:.2f}s, condition->healthy {healthy - detected:.2f}s, "
          f"append->healthy {healthy - start:.2f}s")
    assert healthy - start < 30


def test_unknown_action_type_is_rejected_with_the_field_path(fleet: Fleet) -> None:
    bad = yaml.safe_load(yaml.safe_dump(REMEDIER))
    bad["metadata"]["name"] = "bad"
    bad["spec"]["rules"][0]["actions"] = [{"type": "FormatDisk"}]
    r = fleet.k.run("apply", "-f", "-", stdin=yaml.safe_dump(bad), check=False)
    assert r.returncode != 0
    assert "spec.rules[0].actions[0].type" in r.stderr and "Unsupported value" in r.stderr, r.stderr
