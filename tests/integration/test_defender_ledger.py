"""The Defender's durable ledger against the embedded API server: written by the running Defender, kept
across a restart, rotated and pruned, exported and replayed by the CLI (real processes)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubenode.api.defender import Operation
from kubenode.apiserver.server import RunningServer
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import CONFIGMAPS, NAMESPACES, NODES
from kubenode.controlplane.up import install_crds
from kubenode.defender.resources import DEFENDER_POLICIES
from kubenode.defender.store import LEDGER_LABEL, LEDGER_NAMESPACE, LedgerSettings, read_ledger

from .defender_harness import RunningDefender
from .polling import eventually

Obj = dict[str, Any]
SETTINGS = LedgerSettings(max_records=3, max_chunks=3)


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[KubeClient]:
    async with KubeClient(load_config(server.kubeconfig)) as c:
        await install_crds(c)
        await c.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": LEDGER_NAMESPACE}})
        yield c


def running(client: KubeClient) -> RunningDefender:
    """The Defender with small ledger chunks."""
    return RunningDefender(client, ledger_settings=SETTINGS)


async def _policy(client: KubeClient, limit: int) -> None:
    await client.create(DEFENDER_POLICIES, {
        "apiVersion": "kubenode.io/v1alpha1", "kind": "DefenderPolicy", "metadata": {"name": "reboots"},
        "spec": {"rules": [{"name": "reboots", "operations": ["Remediation"], "actions": ["Reboot"],
                            "budgets": [{"window": "1h", "limit": limit}], "maxConcurrent": 5}],
                 "circuitBreaker": {"cooldownSeconds": 0}}})


async def _node(client: KubeClient, name: str, zone: str) -> None:
    await client.create(NODES, {"apiVersion": "v1", "kind": "Node",
                                "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}}})


def reboot(i: int) -> Operation:
    return Operation(kind="Remediation", id=f"job-{i}", action="Reboot", nodes=("n1",), source="test")


async def test_every_review_is_recorded_durably_and_survives_a_restart(client: KubeClient) -> None:
    await _policy(client, 2)
    await _node(client, "n1", "a")
    await _node(client, "n2", "b")
    async with running(client) as d:
        await eventually(lambda: asyncio.sleep(0, d.policy("reboots") is not None), what="policy seen")
        await eventually(lambda: asyncio.sleep(0, d._fleet_state().get("n2") is not None), what="nodes seen")
        verdicts = [await d.review(reboot(i)) for i in range(3)]
        d.finished("job-0")
        assert [v.decision for v in verdicts] == ["Allowed", "Allowed", "Denied"]
        await eventually(lambda: asyncio.sleep(0, d.records.pending == 0 and d.records.written == 4),
                         what="the ledger written")
    # A new Defender (operator restart): the old records are still there, new ones go to a new chunk.
    async with running(client) as d:
        await eventually(lambda: asyncio.sleep(0, d.policy("reboots") is not None), what="policy seen")
        assert (await d.review(reboot(0))).reason == "AlreadyAdmitted"  # restored from status
        assert (await d.review(reboot(3))).decision == "Denied"
        await eventually(lambda: asyncio.sleep(0, d.records.written == 2), what="the ledger written")
    records = await read_ledger(client)
    reviews = [r for r in records if r["type"] == "review"]
    assert [(r["operation"]["id"], r["decision"]["decision"], r["decision"]["reason"]) for r in reviews] == [
        ("job-0", "Allowed", "Allowed"), ("job-1", "Allowed", "Allowed"), ("job-2", "Denied", "BudgetExhausted"),
        ("job-0", "Allowed", "AlreadyAdmitted"), ("job-3", "Denied", "BudgetExhausted")]
    assert [r["id"] for r in records if r["type"] == "finished"] == ["job-0"]
    first = reviews[0]
    assert first["policies"] == [{"name": "reboots", "generation": 1}]
    assert first["fleet"]["nodes"] == 2 and first["fleet"]["unhealthy"] == 2  # no Ready condition yet
    assert first["fleet"]["opNodes"][0]["labels"] == {"topology.kubernetes.io/zone": "a"}
    assert first["outcomes"] == [{"policy": "reboots", "rule": "reboots", "decision": "Allowed",
                                  "reason": "Allowed"}]
    chunks, _ = await client.list(CONFIGMAPS, LEDGER_NAMESPACE, label_selector=LEDGER_LABEL)
    assert len(chunks) == 3  # 3 records per chunk, then a new writer's chunk


async def test_retention_keeps_the_newest_chunks(client: KubeClient) -> None:
    await _policy(client, 100)
    async with running(client) as d:
        await eventually(lambda: asyncio.sleep(0, d.policy("reboots") is not None), what="policy seen")
        for i in range(14):
            await d.review(reboot(i))
            d.finished(f"job-{i}")
            await eventually(lambda: asyncio.sleep(0, d.records.pending == 0), what="the ledger written")
    chunks, _ = await client.list(CONFIGMAPS, LEDGER_NAMESPACE, label_selector=LEDGER_LABEL)
    assert len(chunks) == SETTINGS.max_chunks
    records = await read_ledger(client)
    ids = [r["operation"]["id"] for r in records if r["type"] == "review"]
    assert ids[-1] == "job-13" and "job-0" not in ids  # the oldest went first, the newest are kept


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubenode.cli.main", "defender", *args], capture_output=True,
                          text=True, timeout=120)


async def test_cli_exports_the_ledger_and_replays_a_candidate(client: KubeClient, server: RunningServer,
                                                              tmp_path: Path) -> None:
    await _policy(client, 1)
    await _node(client, "n1", "a")
    async with running(client) as d:
        await eventually(lambda: asyncio.sleep(0, d.policy("reboots") is not None), what="policy seen")
        await eventually(lambda: asyncio.sleep(0, d._fleet_state().get("n1") is not None), what="node seen")
        for i in range(3):
            await d.review(reboot(i))
        await eventually(lambda: asyncio.sleep(0, d.records.pending == 0), what="the ledger written")
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text("apiVersion: kubenode.io/v1alpha1\nkind: DefenderPolicy\nmetadata: {name: wider}\n"
                         "spec:\n  rules:\n  - {name: reboots, operations: [Remediation], "
                         "budgets: [{window: 1h, limit: 2}]}\n")
    kc = str(server.kubeconfig)
    out = await asyncio.to_thread(_cli, "replay", "--policy", str(candidate), "--kubeconfig", kc, "-o", "json")
    assert out.returncode == 1, out.stderr  # 1: the candidate decides some operations differently
    doc = json.loads(out.stdout)
    assert [(r["current"]["decision"], r["candidate"]["decision"]) for r in doc["rows"]] == [
        ("Allowed", "Allowed"), ("Denied", "Allowed"), ("Denied", "Denied")]
    assert doc["summary"]["differences"] == 1 and doc["summary"]["onlyCandidateAllowed"] == 1
    ledger = tmp_path / "ledger.jsonl"
    out = await asyncio.to_thread(_cli, "export", "--ledger", str(ledger), "--kubeconfig", kc)
    assert out.returncode == 0, out.stderr
    assert len(ledger.read_text().splitlines()) == 3
    out = await asyncio.to_thread(_cli, "replay", "--policy", str(candidate), "--ledger", str(ledger))
    assert out.returncode == 1, out.stderr
    assert "only the candidate allows" in out.stdout and "≠" in out.stdout and "job-1" in out.stdout
    table = [line.rstrip() for line in out.stdout.splitlines() if "job-" in line]
    assert len(table) == 3
    out = await asyncio.to_thread(_cli, "replay", "--policy", str(candidate), "--ledger", str(ledger),
                                  "--differences")
    assert [line.rstrip() for line in out.stdout.splitlines() if "job-" in line] == [table[1]]
    missing = await asyncio.to_thread(_cli, "replay", "--policy", str(candidate), "--ledger", str(tmp_path / "no"))
    assert missing.returncode == 2 and "cannot read the ledger file" in missing.stderr


async def test_a_storm_of_hollow_nodes_is_rehearsed_recorded_and_replayed(client: KubeClient) -> None:
    """`kubenode simulate --faults storm` in small: hollow nodes turn sick, the live Defender holds remediation,
    the ledger records it with the fleet it saw, and a replay under a laxer candidate shows what it would allow."""
    import dataclasses

    from kubenode.defender.candidate import load_candidate
    from kubenode.defender.replay import replay
    from kubenode.simulator.faults import parse_faults
    from kubenode.simulator.hollow import Simulator, SimulatorSettings

    await client.create(DEFENDER_POLICIES, {
        "apiVersion": "kubenode.io/v1alpha1", "kind": "DefenderPolicy", "metadata": {"name": "storm"},
        "spec": {"rules": [{"name": "storm-guard", "operations": ["Remediation"], "maxUnhealthy": "30%",
                            "settleSeconds": 0}], "circuitBreaker": {"cooldownSeconds": 0}}})
    sim = Simulator(client, SimulatorSettings(nodes=10, lease_seconds=0.3, status_seconds=0.5,
                                              heartbeat_seconds=0.5, concurrency=8))
    await sim.start()
    try:
        async with running(client) as d:
            fleet = lambda: d._fleet_state()  # noqa: E731
            await eventually(lambda: asyncio.sleep(0, len(fleet().nodes) == 10
                                                    and not any(n.unhealthy for n in fleet().nodes)),
                             what="10 healthy hollow nodes seen")
            storm = parse_faults("storm")[0]
            first = sim.inject(storm)  # one strike: 5 % of 10 nodes, rounded up: 1
            await eventually(lambda: asyncio.sleep(0, sum(n.unhealthy for n in fleet().nodes) == 1),
                             what="the first victim seen")
            early = await d.review(Operation("Remediation", "job-early", "Reboot", (first[0],)))
            victims = sim.inject(dataclasses.replace(storm, percent=40))  # the storm develops
            await eventually(lambda: asyncio.sleep(0, sum(n.unhealthy for n in fleet().nodes) == 5),
                             what="the storm seen")
            held = [await d.review(Operation("Remediation", f"job-{v}", "Reboot", (v,))) for v in victims]
            await eventually(lambda: asyncio.sleep(0, d.records.pending == 0), what="the ledger written")
    finally:
        await sim.stop()
    assert early.decision == "Allowed"
    assert {v.reason for v in held} == {"StormDetected"}
    records = await read_ledger(client)
    assert [r["fleet"]["unhealthy"] for r in records] == [1, 5, 5, 5, 5]
    lax = load_candidate("apiVersion: kubenode.io/v1alpha1\nkind: DefenderPolicy\nmetadata: {name: lax}\n"
                         "spec:\n  rules:\n  - {name: storm-guard, operations: [Remediation], maxUnhealthy: 50%,"
                         " settleSeconds: 0}\n")
    result = replay(records, lax)
    assert [r.candidate["decision"] for r in result.rows] == ["Allowed"] * 5
    assert result.summary()["onlyCandidateAllowed"] == 4
