"""End to end: component rollouts across five local machines — batches, failure, undo, pause, the Defender.

Real `kubenode up` (operators, artifact server, agents with their installers)
and the real `kubectl`; the demo node-exporter archives 1.0.0, 1.1.0 and a
1.2.0 whose health check fails are the components rolled.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .fleet import Kubectl, Process, kill_agents, start_up, wait_for

pytestmark = pytest.mark.e2e

MCS = "node-exporter"


class Rollout:
    def __init__(self, data: Path, proc: Process, k: Kubectl) -> None:
        self.data, self.proc, self.k = data, proc, k

    def components(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.k.json("get", "machinecomponents")["items"]
        return items

    def mcs(self) -> dict[str, Any]:
        obj: dict[str, Any] = self.k.json("get", "mcs", MCS)
        return obj

    def all_at(self, version: str, n: int = 5) -> bool:
        mcs = self.components()
        return len(mcs) == n and all(
            (m.get("status") or {}).get("installedVersion") == version
            and (m.get("status") or {}).get("phase") == "Running" and (m.get("status") or {}).get("healthy")
            for m in mcs)

    def manifest(self, version: str, batches: list[int]) -> dict[str, Any]:
        doc: dict[str, Any] = yaml.safe_load((self.data / "artifacts" / f"{MCS}-{version}.yaml").read_text())
        doc["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {
            "batches": batches, "batchSoakSeconds": 1, "maxFailures": 0}}
        return doc

    def roll(self, version: str, batches: list[int] | None = None) -> None:
        self.k.run("apply", "-f", "-", stdin=yaml.safe_dump(self.manifest(version, batches or [1, 2, 2])))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kubenode.cli.main", "rollout", *args, "--kubeconfig",
                               str(self.k.kubeconfig)], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rollout]:
    base = tmp_path_factory.mktemp("rollout")
    data = base / "data"
    proc, _ = start_up(data, 5, 8.0, base / "up.log")
    ro = Rollout(data, proc, Kubectl(data / "kubeconfig", base / "kubectl-cache"))
    try:
        wait_for(lambda: ro.all_at("1.0.0"), 120, "1.0.0 on all five machines")
        yield ro
    finally:
        proc.stop()
        kill_agents(data)


class Recorder:
    """Samples every MachineComponent often, to see the order in which machines move."""

    def __init__(self, ro: Rollout, version: str) -> None:
        self.ro, self.version = ro, version
        self.assigned: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            now = time.monotonic()
            for m in self.ro.components():
                name = m["spec"]["machineName"]
                if m["spec"].get("version") == self.version:
                    self.assigned.setdefault(name, now)
                st = m.get("status") or {}
                if st.get("installedVersion") == self.version and st.get("phase") == "Running" and st.get("healthy"):
                    self.done.setdefault(name, now)
            self.stop.wait(0.1)

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def test_batches_one_two_two_in_order_never_two_in_flight(r: Rollout) -> None:
    with Recorder(r, "1.1.0") as rec:
        r.roll("1.1.0")
        wait_for(lambda: r.all_at("1.1.0"), 120, "1.1.0 on all five machines")
    order = sorted(rec.assigned, key=lambda n: rec.assigned[n])
    assert len(order) == 5
    batches = [order[:1], order[1:3], order[3:5]]
    for prev, nxt in itertools.pairwise(batches):
        # every machine of a batch was done before any machine of the next batch was touched
        assert max(rec.done[n] for n in prev) <= min(rec.assigned[n] for n in nxt), (rec.assigned, rec.done)
    assert r.mcs()["status"]["phase"] == "Completed"
    out = r.cli("status", MCS)
    assert out.returncode == 0 and "Completed" in out.stdout, out.stdout + out.stderr


def test_failing_version_pauses_degraded_rolls_back_locally_and_undo_restores(r: Rollout) -> None:
    r.roll("1.2.0")

    def degraded() -> dict[str, Any] | None:
        st = r.mcs().get("status") or {}
        conds = {c["type"]: c["status"] for c in st.get("conditions") or []}
        return st if conds.get("Degraded") == "True" and st.get("failedMachines") else None

    st = wait_for(degraded, 90, "the rollout to stop as Degraded")
    failed = [f["name"] for f in st["failedMachines"]]
    assert len(failed) == 1
    assert st["phase"] in ("Paused", "Failed")
    comps = r.components()
    untouched = [m for m in comps if m["spec"]["machineName"] not in failed]
    assert len(untouched) == 4
    assert all(m["spec"]["version"] == "1.1.0" and m["status"]["installedVersion"] == "1.1.0" for m in untouched)
    current = r.data / "machines" / failed[0] / "opt/kubenode/components/node-exporter/current"
    wait_for(lambda: current.resolve().name == "1.1.0", 30, "the failed node to run 1.1.0 again")

    out = r.cli("undo", MCS)
    assert out.returncode == 0, out.stderr
    wait_for(lambda: r.all_at("1.1.0"), 120, "undo to restore 1.1.0 everywhere")
    assert r.mcs()["spec"]["template"]["version"] == "1.1.0"


def test_pause_holds_and_resume_continues(r: Rollout) -> None:
    assert r.cli("pause", MCS).returncode == 0
    r.roll("1.0.0")
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:  # proving an absence: nothing moves while paused
        assert all(m["spec"]["version"] == "1.1.0" for m in r.components())
        time.sleep(0.5)
    assert r.mcs()["status"]["phase"] == "Paused"
    assert r.cli("resume", MCS).returncode == 0
    wait_for(lambda: r.all_at("1.0.0"), 120, "the resumed rollout to finish")


def test_a_batch_is_held_when_the_defender_budget_is_spent(r: Rollout) -> None:
    r.k.run("apply", "-f", "-", stdin=yaml.safe_dump({
        "apiVersion": "kubenode.io/v1alpha1", "kind": "DefenderPolicy", "metadata": {"name": "upgrades"},
        "spec": {"rules": [{"name": "upgrade-budget", "operations": ["ComponentUpgrade"],
                            "budgets": [{"window": "1h", "limit": 1}]}],
                 "circuitBreaker": {"cooldownSeconds": 0}}}))
    r.roll("1.1.0")

    def held() -> dict[str, Any] | None:
        st = r.mcs().get("status") or {}
        cond = next((c for c in st.get("conditions") or [] if c["type"] == "RolloutAllowed"), None)
        return cond if cond and cond["status"] == "False" else None

    cond = wait_for(held, 90, "the second batch to be held by the Defender")
    assert "BudgetExhausted" in (cond["reason"] + cond["message"])
    moved = [m for m in r.components() if m["spec"]["version"] == "1.1.0"]
    assert len(moved) == 1  # the first batch (one machine) used the only token


class Watch:
    """`kubectl get KIND --watch -o json`: every version of every object, as written (brief states included)."""

    def __init__(self, ro: Rollout, kind: str) -> None:
        k = ro.k
        self.proc = subprocess.Popen(
            ["kubectl", f"--kubeconfig={k.kubeconfig}", f"--cache-dir={k.cache_dir}", "get", kind, "--watch",
             "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.seen: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        assert self.proc.stdout is not None
        decoder, buf = json.JSONDecoder(), ""
        for line in self.proc.stdout:
            buf += line
            while buf.strip():
                try:
                    obj, end = decoder.raw_decode(buf.lstrip())
                except ValueError:
                    break  # an object not complete yet
                self.seen.append(obj)
                buf = buf.lstrip()[end:]

    def __enter__(self) -> Watch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.thread.join(10)


def test_drain_then_reboot_disruptions_on_kubenode_up(r: Rollout) -> None:
    """disruption Drain cordons and drains a batch's nodes (a pod on one is evicted) and uncordons them once
    healthy; disruption Reboot reboots each machine after its install and the rollout completes healthy."""
    r.k.run("delete", "defenderpolicy", "--all")  # the previous test's budget would hold every batch
    wait_for(lambda: r.all_at("1.1.0"), 120, "the held 1.1.0 rollout to finish once the budget is gone")
    node = sorted(m["spec"]["nodeName"] for m in r.components())[0]
    r.k.run("apply", "-f", "-", stdin=yaml.safe_dump({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "workload", "namespace": "default"},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "registry.example/app:1"}]}}))

    doc = r.manifest("1.0.0", [2, 3])
    doc["spec"]["template"]["disruption"] = "Drain"
    with Watch(r, "nodes") as nodes:
        r.k.run("apply", "-f", "-", stdin=yaml.safe_dump(doc))
        wait_for(lambda: r.all_at("1.0.0") and r.mcs()["status"].get("phase") == "Completed", 120,
                 "the Drain rollout to 1.0.0 to complete")
        wait_for(lambda: not any((n.get("spec") or {}).get("unschedulable")
                                 for n in r.k.json("get", "nodes")["items"]), 60, "every node uncordoned")
    cordoned = {n["metadata"]["name"] for n in nodes.seen if (n.get("spec") or {}).get("unschedulable")
                and (n["metadata"].get("annotations") or {}).get("kubenode.io/cordoned-by") == f"mcs/{MCS}"}
    assert len(cordoned) == 5, cordoned  # every batch's nodes were cordoned by the set
    pods = r.k.json("get", "pods", "-n", "default")["items"]
    assert not [p for p in pods if p["metadata"]["name"] == "workload"], "the pod on a drained node was evicted"
    events = r.k.json("get", "events", "-A", "--field-selector", f"involvedObject.name={MCS}")["items"]
    reasons = {e["reason"] for e in events}
    assert {"DrainingNodes", "NodesUncordoned"} <= reasons, reasons

    doc = r.manifest("1.1.0", [2, 3])
    doc["spec"]["template"]["disruption"] = "Reboot"
    before = {m["metadata"]["name"]: m["status"]["agent"]["bootID"] for m in r.k.json("get", "machines")["items"]}
    r.k.run("apply", "-f", "-", stdin=yaml.safe_dump(doc))
    wait_for(lambda: r.all_at("1.1.0") and r.mcs()["status"].get("phase") == "Completed", 180,
             "the Reboot rollout to 1.1.0 to complete")

    def rebooted() -> bool:
        now = {m["metadata"]["name"]: ((m.get("status") or {}).get("agent") or {}).get("bootID")
               for m in r.k.json("get", "machines")["items"]}
        return len(now) == 5 and all(now[m] and now[m] != before.get(m) for m in now)

    wait_for(rebooted, 30, "a new boot ID on every machine (each rebooted after its install)")
    assert r.all_at("1.1.0")  # and healthy after the boot
