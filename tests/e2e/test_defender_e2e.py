"""End to end on `kubenode up`: the Defender holds remediation back — storms, budgets, freezes, dry runs.

Each test gets its own fleet of four local machines with real agents (their
detectors read the machine's kmsg file), removes the default policy and
installs exactly the DefenderPolicy it is about, then injects hung-task lines.
The remedier's action is Cordon (controller-side, instant), so "executed"
and "not executed" are visible on the Node.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .fleet import Kubectl, Process, kill_agents, start_up, wait_for

pytestmark = pytest.mark.e2e

HUNG = "INFO: task java:4242 blocked for more than 120 seconds.\n"


class Fleet:
    def __init__(self, data: Path, proc: Process, k: Kubectl) -> None:
        self.data = data
        self.proc = proc
        self.k = k

    def machines(self) -> list[str]:
        def check() -> list[str] | None:
            items = self.k.json("get", "machines")["items"]
            names = sorted(m["metadata"]["name"] for m in items if (m.get("status") or {}).get("phase") == "Running")
            return names if len(names) == 4 else None

        result: list[str] = wait_for(check, 60, "4 running machines")
        return result

    def hang(self, machine: str) -> None:
        with (self.data / "machines" / machine / "dev" / "kmsg").open("a") as f:
            f.write(HUNG)

    def deadlock(self, node: str) -> str:
        n = self.k.json("get", "node", node)
        c = next((c for c in n["status"].get("conditions") or [] if c["type"] == "KernelDeadlock"), None)
        return c["status"] if c else ""

    def jobs(self, node: str | None = None) -> list[dict[str, Any]]:
        args = ["get", "remedyoperationjobs"] + (["-l", f"kubenode.io/node={node}"] if node else [])
        items: list[dict[str, Any]] = self.k.json(*args)["items"]
        return items

    def cordoned(self, node: str) -> bool:
        return bool(self.k.json("get", "node", node)["spec"].get("unschedulable"))

    def apply(self, obj: dict[str, Any]) -> None:
        self.k.run("apply", "-f", "-", stdin=yaml.safe_dump(obj))

    def policy(self, rules: list[dict[str, Any]], cooldown: int = 300) -> None:
        self.apply({"apiVersion": "kubenode.io/v1alpha1", "kind": "DefenderPolicy", "metadata": {"name": "test"},
                    "spec": {"rules": rules, "circuitBreaker": {"cooldownSeconds": cooldown}}})

    def remedier(self, *, for_seconds: int = 0, dry_run: bool = False) -> None:
        self.apply({"apiVersion": "kubenode.io/v1alpha1", "kind": "NodeRemedier", "metadata": {"name": "kernel"},
                    "spec": {"selector": {}, "dryRun": dry_run, "rules": [{
                        "name": "hung", "conditions": [{"type": "KernelDeadlock", "status": "True",
                                                        "forSeconds": for_seconds}],
                        "actions": [{"type": "Cordon", "timeoutSeconds": 30}], "cooldownSeconds": 300,
                        "maxAttempts": 1}]}})


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    data = tmp_path / "data"
    proc, _ = start_up(data, 4, 6.0, tmp_path / "up.log")
    f = Fleet(data, proc, Kubectl(data / "kubeconfig", tmp_path / "cache"))
    try:
        f.machines()
        f.k.run("delete", "defenderpolicy", "default", "--ignore-not-found")
        yield f
    finally:
        code = proc.stop()
        kill_agents(data)
        assert code == 0, proc.output()[-3000:]


def test_storm_stops_all_remediation_and_opens_the_circuit(fleet: Fleet) -> None:
    fleet.policy([{"name": "storm", "operations": ["Remediation"], "maxUnhealthy": "50%"}])
    # forSeconds gives the three faults time to land before any job is considered
    fleet.remedier(for_seconds=3)
    sick = fleet.machines()[:3]
    for m in sick:
        fleet.hang(m)
    for m in sick:
        wait_for(lambda m=m: fleet.deadlock(m) == "True", 20, f"KernelDeadlock on {m}")

    def all_denied() -> list[dict[str, Any]] | None:
        jobs = fleet.jobs()
        done = [j for j in jobs if (j.get("status") or {}).get("phase") in ("Denied", "Running", "Succeeded")]
        return jobs if len(done) >= 3 else None

    jobs = wait_for(all_denied, 60, "the remediation jobs to be decided")
    assert {j["status"]["phase"] for j in jobs} == {"Denied"}, [j["status"] for j in jobs]
    reasons = {j["status"]["defender"]["reason"] for j in jobs}
    assert reasons <= {"StormDetected", "CircuitOpen"} and "StormDetected" in reasons
    assert all(j["status"]["defender"]["policy"] == "test" for j in jobs)
    assert not any(fleet.cordoned(m) for m in sick)  # nothing was executed

    # the policy's status is written by the Defender's background loop, a moment after the decisions
    wait_for(lambda: fleet.k.json("get", "defenderpolicy", "test")["status"]["circuit"]["state"] == "Open", 15,
             "the policy status to show the open circuit")
    status = subprocess.run([sys.executable, "-m", "kubenode.cli.main", "defender", "status", "--kubeconfig",
                             str(fleet.k.kubeconfig)], capture_output=True, text=True, check=True).stdout
    assert "Open" in status and "test" in status


def test_budget_of_one_per_minute_denies_the_second_job(fleet: Fleet) -> None:
    fleet.policy([{"name": "budget", "operations": ["Remediation"], "budgets": [{"window": "1m", "limit": 1}]}],
                 cooldown=0)
    fleet.remedier()
    a, b = fleet.machines()[:2]
    fleet.hang(a)
    wait_for(lambda: fleet.cordoned(a), 30, f"{a} cordoned by the first, allowed job")
    first = fleet.jobs(a)[0]
    assert first["status"]["defender"]["decision"] == "Allowed"
    fleet.hang(b)

    def denied() -> dict[str, Any] | None:
        jobs = [j for j in fleet.jobs(b) if (j.get("status") or {}).get("phase") == "Denied"]
        return jobs[0] if jobs else None

    job = wait_for(denied, 30, "the second job to be Denied")
    d = job["status"]["defender"]
    assert (d["decision"], d["policy"], d["rule"], d["reason"]) == ("Denied", "test", "budget", "BudgetExhausted")
    assert not fleet.cordoned(b)


def test_freeze_window_denies(fleet: Fleet) -> None:
    # a window that opens every minute and lasts an hour: always frozen
    fleet.policy([{"name": "freeze", "operations": ["Remediation"],
                   "freezeWindows": [{"schedule": "* * * * *", "durationSeconds": 3600}]}], cooldown=0)
    fleet.remedier()
    a = fleet.machines()[0]
    fleet.hang(a)

    def denied() -> dict[str, Any] | None:
        jobs = [j for j in fleet.jobs(a) if (j.get("status") or {}).get("phase") == "Denied"]
        return jobs[0] if jobs else None

    job = wait_for(denied, 30, "the job to be Denied by the freeze")
    assert job["status"]["defender"]["reason"] == "FreezeWindow"
    assert job["status"]["defender"]["rule"] == "freeze"
    assert not fleet.cordoned(a)


def test_dry_run_executes_nothing(fleet: Fleet) -> None:
    fleet.policy([{"name": "budget", "operations": ["Remediation"], "budgets": [{"window": "1m", "limit": 10}]}])
    fleet.remedier(dry_run=True)
    a = fleet.machines()[0]
    fleet.hang(a)

    def decided() -> dict[str, Any] | None:
        jobs = [j for j in fleet.jobs(a) if (j.get("status") or {}).get("phase") == "Succeeded"]
        return jobs[0] if jobs else None

    job = wait_for(decided, 30, "the dry-run job to be decided")
    assert job["status"]["defender"]["decision"] == "Allowed"
    assert "dry run" in job["status"]["message"]
    assert not fleet.cordoned(a)
