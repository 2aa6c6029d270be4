"""Reports, diagnosis and state metrics on the embedded API server, with planted inconsistencies.

No operator runs here, so what a human did behind the Machines' backs stays
visible: a Node deleted, a label edited by hand on a Node, a taint removed,
a stray Node, a component whose files drifted, a leftover local machine
root. `kubenode report consistency`, `report coverage`, `report slo` and
`diagnose node` run as real processes against the server; the operator's
state exposition runs on a real Manager fed by real informers.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubenode.api import constants as c
from kubenode.apiserver.server import RunningServer
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import NODES
from kubenode.componentset.resources import MACHINE_COMPONENTS
from kubenode.controlplane.up import install_crds
from kubenode.machine.resources import INFRA_PROVIDERS, MACHINES
from kubenode.metrics.agent_sd import sd_handler
from kubenode.metrics.state_metrics import watch_state
from kubenode.runtime.manager import Manager

from .polling import eventually

Obj = dict[str, Any]
SHA = "0" * 64
NOW = "2026-01-01T00:00:00Z"


@dataclass
class Fleet:
    server: RunningServer
    client: KubeClient
    data_dir: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kubenode.cli.main", *args,
                               "--kubeconfig", str(self.server.kubeconfig)],
                              capture_output=True, text=True, timeout=120, check=False,
                              env={**os.environ, "COLUMNS": "300"})  # one line per error message

    async def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(self.cli, *args)


def cond(type_: str, status: str, reason: str = "R", message: str = "") -> Obj:
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": NOW}


async def add_machine(client: KubeClient, name: str, *, labels: dict[str, str] | None = None,
                      taints: list[Obj] | None = None) -> None:
    await client.create(MACHINES, {
        "apiVersion": c.API_VERSION, "kind": "Machine",
        "metadata": {"name": name, "labels": {c.LABEL_MACHINE_SET: "pool", "zone": name[-1]}},
        "spec": {"providerRef": {"name": "local"}, "nodeLabels": labels or {}, "nodeTaints": taints or []}})
    await client.patch_status(MACHINES, name, {"status": {
        "phase": "Running", "nodeRef": {"name": name},
        "conditions": [cond("NodeReady", "True"), cond("Ready", "True")]}})


async def add_node(client: KubeClient, name: str, labels: dict[str, str], taints: list[Obj] | None = None) -> None:
    await client.create(NODES, {"apiVersion": "v1", "kind": "Node",
                                "metadata": {"name": name, "labels": {c.LABEL_MACHINE: name, **labels}},
                                "spec": {"taints": taints or []}})
    await client.patch_status(NODES, name, {"status": {"conditions": [
        cond("Ready", "True", "KubeletReady"), cond("KernelDeadlock", "False", "KernelHasNoDeadlock")]}})


async def add_component(client: KubeClient, machine: str, version: str, drifted: str | None = None) -> None:
    name = f"node-exporter-{machine}"
    await client.create(MACHINE_COMPONENTS, {
        "apiVersion": c.API_VERSION, "kind": "MachineComponent",
        "metadata": {"name": name, "labels": {c.LABEL_MACHINE: machine}},
        "spec": {"machineName": machine, "component": "node-exporter", "version": "1.1.0",
                 "source": {"url": "http://127.0.0.1:1/x.tar.gz", "sha256": SHA}}})
    conditions = [cond("Healthy", "True")]
    if drifted:
        conditions.append(cond("Drifted", "True", "FilesDiffer", drifted))
    await client.patch_status(MACHINE_COMPONENTS, name, {"status": {
        "phase": "Running", "installedVersion": version, "healthy": True, "conditions": conditions}})


@pytest.fixture
async def fleet(server: RunningServer, tmp_path: Path) -> AsyncIterator[Fleet]:
    """Three machines a, b, c (zones a, b, c) and what went wrong behind their backs."""
    client = KubeClient(load_config(server.kubeconfig))
    await install_crds(client)
    await client.create(INFRA_PROVIDERS, {"apiVersion": c.API_VERSION, "kind": "InfraProvider",
                                          "metadata": {"name": "local"}, "spec": {"type": "local"}})
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    await add_machine(client, "m-a", labels={"tier": "gold"})
    await add_machine(client, "m-b", taints=[taint])
    await add_machine(client, "m-c")
    await add_node(client, "m-a", {"tier": "silver"})       # a label edited by hand
    await add_node(client, "m-b", {})                       # its taint removed by hand
    await add_node(client, "stray", {})                     # a Node no Machine owns
    # m-c's Node was deleted behind its Machine's back: it never comes back here (no agent runs).
    await add_component(client, "m-a", "1.1.0")
    await add_component(client, "m-b", "1.0.0", drifted="bin/node-exporter: sha256 differs from the artifact")
    await add_component(client, "m-c", "1.1.0")
    data = tmp_path / "local"
    for root in ("m-a", "m-b", "m-c", "leftover"):           # `leftover`: a local instance without a Machine
        (data / "machines" / root).mkdir(parents=True)
    try:
        yield Fleet(server, client, data)
    finally:
        await client.close()


async def test_consistency_report_finds_every_planted_inconsistency(fleet: Fleet) -> None:
    out = await fleet.run("report", "consistency", "-o", "json", "--data-dir", str(fleet.data_dir))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["consistent"] is False
    assert report["machinesWithoutNodes"] == [{"machine": "m-c", "node": "m-c", "phase": "Running"}]
    assert report["nodesWithoutMachines"] == [{"node": "stray"}]
    assert report["labelDrift"] == [{"machine": "m-a", "node": "m-a", "key": "tier", "want": "gold",
                                     "have": "silver"}]
    assert report["taintDrift"] == [{"machine": "m-b", "node": "m-b", "taint": "dedicated=gpu:NoSchedule",
                                     "problem": "missing on the Node"}]
    assert report["componentDrift"] == [{"machine": "m-b", "component": "node-exporter", "reason": "FilesDiffer",
                                         "message": "bin/node-exporter: sha256 differs from the artifact"}]
    assert report["instancesWithoutMachines"] == [{"provider": "local", "instance": "leftover"}]
    table = await fleet.run("report", "consistency", "--data-dir", str(fleet.data_dir))
    for needle in ("MachineWithoutNode", "machine/m-c", "NodeWithoutMachine", "node/stray",
                   "tier: Machine wants 'gold', Node has 'silver'", "TaintDrift", "ComponentDrift",
                   "InstanceWithoutMachine", "local/leftover"):
        assert needle in table.stdout, table.stdout


async def test_coverage_report_by_machineset_and_label(fleet: Fleet) -> None:
    out = await fleet.run("report", "coverage", "-o", "json")
    assert out.returncode == 0, out.stderr
    pool = json.loads(out.stdout)["groups"]
    assert [g["group"] for g in pool] == ["pool"]
    versions = {v["version"]: v["machines"] for v in pool[0]["components"][0]["versions"]}
    assert versions == {"1.1.0": 2, "1.0.0": 1}
    zones = await fleet.run("report", "coverage", "--by", "label:zone")
    assert "a   " in zones.stdout and "1/1" in zones.stdout and "100.0%" in zones.stdout
    bad = await fleet.run("report", "coverage", "--by", "zone")
    assert bad.returncode != 0 and "label:KEY" in bad.stderr


async def test_slo_report_from_objects(fleet: Fleet) -> None:
    out = await fleet.run("report", "slo", "--window", "1h", "-o", "json")
    assert out.returncode == 0, out.stderr
    a = json.loads(out.stdout)["nodeAvailability"]
    assert (a["machines"], a["nodeReadyNow"]) == (3, 3)
    unreachable = await fleet.run("report", "slo", "--prometheus", "http://127.0.0.1:1")
    assert unreachable.returncode != 0 and "did not answer" in unreachable.stderr


async def test_diagnose_shows_conditions_components_and_why_logs_are_unavailable(fleet: Fleet) -> None:
    out = await fleet.run("diagnose", "node", "m-b", "-o", "json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["machine"]["name"] == "m-b" and d["nodeObject"]["name"] == "m-b"
    assert {x["type"] for x in d["nodeObject"]["conditions"]} == {"Ready", "KernelDeadlock"}
    assert d["components"][0]["drifted"] is True
    assert d["agentLogs"]["available"] is False and "metricsEndpoint" in d["agentLogs"]["reason"]
    text = await fleet.run("diagnose", "node", "m-c")
    assert "(no Node object)" in text.stdout and "agent logs unavailable:" in text.stdout
    missing = await fleet.run("diagnose", "node", "nope")
    assert missing.returncode != 0 and "no Machine and no Node" in missing.stderr


async def test_state_metrics_follow_the_objects_and_sd_lists_no_agent_without_endpoint(fleet: Fleet) -> None:
    manager = Manager(fleet.client, health_port=0)
    manager.add_exposition(watch_state(manager.informers).parts)
    manager.add_route("/sd/agents", sd_handler(manager.informers.informer(MACHINES).cache.list))
    await manager.start()
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{manager.health_port}"

            async def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
                async with http.get(f"{base}/metrics") as resp:
                    # Streamed a segment at a time (the length is not known before the last one is joined).
                    assert resp.headers.get("Transfer-Encoding") == "chunked" and resp.content_length is None
                    text = await resp.text()
                return {(s.name, frozenset(s.labels.items())): s.value
                        for fam in text_string_to_metric_families(text) for s in fam.samples}

            series = await scrape()
            assert series[("kubenode_machine_status_phase", frozenset({("machine", "m-a"), ("phase", "Running")}))] == 1
            assert series[("kubenode_machinecomponent_status_condition", frozenset(
                {("machine", "m-b"), ("component", "node-exporter"), ("condition", "Drifted"),
                 ("status", "true")}))] == 1
            await fleet.client.patch_status(MACHINES, "m-a", {"status": {"phase": "Failed"}})
            failed = ("kubenode_machine_status_phase", frozenset({("machine", "m-a"), ("phase", "Failed")}))

            async def is_failed() -> bool:
                return (await scrape()).get(failed) == 1

            await eventually(is_failed, 20, "m-a Failed in the exposition")
            await fleet.client.delete(MACHINES, "m-c")

            async def c_gone() -> bool:
                return not any(("machine", "m-c") in labels for (name, labels) in await scrape()
                               if name.startswith("kubenode_machine_"))

            await eventually(c_gone, 20, "m-c's series to go")
            async with http.get(f"{base}/sd/agents") as resp:
                assert resp.status == 200 and resp.content_type == "application/json"
                assert await resp.json() == []
    finally:
        await manager.stop()
