"""End to end on `kubenode up --prometheus`: a real Prometheus (Debian's package) scraping the real fleet.

It loads deploy/monitoring's rules, scrapes the operator and every agent
that `/sd/agents` lists; the test asks it what a human would: are all
agents up, which phases are the machines in, which share runs which
component version, and does a hung node fire its alert. The reports and the
diagnosis are then read through the real CLI against the same Prometheus.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from .fleet import Kubectl, Process, kill_agents, kubenode, start_up, wait_for

pytestmark = pytest.mark.e2e

MACHINES = 3
GRACE = 6.0
HUNG = "INFO: task java:4242 blocked for more than 120 seconds.\n"


@dataclass
class Env:
    data: Path
    proc: Process
    k: Kubectl
    prometheus: str
    operator: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.load(resp)
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def values(self, expr: str, label: str) -> dict[str, float]:
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in self.query(expr)}

    def machines(self) -> list[str]:
        return sorted(m["metadata"]["name"] for m in self.k.json("get", "machines")["items"])

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(kubenode(*args, "--kubeconfig", str(self.data / "kubeconfig")), capture_output=True,
                              text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("prometheus")
    data = base / "data"
    proc, _ = start_up(data, MACHINES, GRACE, base / "up.log", "--prometheus")
    try:
        out = wait_for(lambda: re.search(r"prometheus: (http://127\.0\.0\.1:\d+)", proc.output()) or
                       (not proc.alive() and proc.output()), 90, "the Prometheus URL")
        assert isinstance(out, re.Match), out
        op = re.search(r"operator metrics: (http://127\.0\.0\.1:\d+)/metrics", proc.output())
        assert op is not None
        e = Env(data, proc, Kubectl(data / "kubeconfig", base / "kubectl-cache"), out.group(1), op.group(1))
        wait_for(lambda: e.values('sum by (phase) (kubenode_machine_status_phase)', "phase").get("Running")
                 == MACHINES, 120, f"{MACHINES} Running machines in Prometheus")
        yield e
    finally:
        code = proc.stop()
        kill_agents(data)
        assert code == 0, proc.output()[-3000:]
    # Prometheus ran under DIR/prometheus and stopped with `kubenode up`.
    assert (data / "prometheus" / "prometheus.yml").exists() and (data / "prometheus" / "data").is_dir()
    config = f"--config.file={data / 'prometheus' / 'prometheus.yml'}"
    assert not [p.pid for p in psutil.process_iter(["cmdline"]) if config in (p.info["cmdline"] or [])]


def test_prometheus_loads_our_rules_and_scrapes_the_operator(env: Env) -> None:
    with urllib.request.urlopen(f"{env.prometheus}/api/v1/rules", timeout=10) as resp:
        groups = json.load(resp)["data"]["groups"]
    names = {r["name"] for g in groups for r in g["rules"]}
    assert {"KubenodeNodeKernelDeadlock", "KubenodeAgentDown", "kubenode:node_ready:ratio"} <= names
    assert all(r["health"] != "err" for g in groups for r in g["rules"]), groups
    assert env.values('up{job="kubenode-operator"}', "job") == {"kubenode-operator": 1.0}


def test_machine_phases_and_component_coverage(env: Env) -> None:
    machines = env.machines()
    running = env.values('kubenode_machine_status_phase{phase="Running"} == 1', "machine")
    assert sorted(running) == machines
    # Until the agents installed it, the component's version is "" (not installed yet).
    wait_for(lambda: env.values('kubenode:component_version_coverage:ratio{component="node-exporter"}', "version")
             == {"1.0.0": 1.0}, 90, "the component-coverage recording rule to show 1.0.0 on every machine")
    share = env.values('kubenode:component_machines:ratio', "component")
    assert share == {"node-exporter": 1.0}
    report = env.cli("report", "coverage", "-o", "json")
    assert report.returncode == 0, report.stderr
    versions = json.loads(report.stdout)["groups"][0]["components"][0]["versions"]
    assert versions == [{"version": "1.0.0", "machines": MACHINES, "share": 1.0}]


def test_every_agent_is_discovered_and_up(env: Env) -> None:
    """Needs the agents' /metrics (Machine.status.agent.metricsEndpoint)."""
    machines = env.machines()
    with urllib.request.urlopen(f"{env.operator}/sd/agents", timeout=10) as resp:
        groups = json.load(resp)
    assert sorted(g["labels"]["machine"] for g in groups) == machines
    up = wait_for(lambda: (lambda v: v if sorted(v) == machines and all(x == 1.0 for x in v.values()) else None)(
        env.values('up{job="kubenode-agents"}', "machine")), 90, "every agent up")
    assert set(up) == set(machines)
    labels = env.query('up{job="kubenode-agents"}')[0]["metric"]
    assert {"machine", "node", "machineset"} <= set(labels) and labels["machineset"] == "local"
    util = wait_for(lambda: (lambda r: r if r.returncode == 0 and all(
        g["cpu"]["machines"] == MACHINES for g in json.loads(r.stdout)["groups"]) else None)(
        env.cli("report", "utilization", "--prometheus", env.prometheus, "--window", "1m", "-o", "json")),
        90, "utilization of every machine")
    group = json.loads(util.stdout)["groups"][0]
    assert group["group"] == "local" and 0.0 <= group["memory"]["p50"] <= 1.0
    logs = json.loads(env.cli("diagnose", "node", machines[0], "-o", "json").stdout)["agentLogs"]
    assert logs["available"] is True and logs["lines"], logs


def test_a_hung_node_fires_its_alert_and_shows_in_slo_and_diagnose(env: Env) -> None:
    machine = env.machines()[-1]
    with (env.data / "machines" / machine / "dev" / "kmsg").open("a") as f:
        f.write(HUNG)
    alert = 'ALERTS{alertname="KubenodeNodeKernelDeadlock",alertstate="firing"}'
    firing = wait_for(lambda: env.values(alert, "node") or None, 90, "KubenodeNodeKernelDeadlock to fire")
    assert firing == {machine: 1.0}
    slo = env.cli("report", "slo", "--window", "5m", "--prometheus", env.prometheus, "-o", "json")
    assert slo.returncode == 0, slo.stderr
    p = json.loads(slo.stdout)["prometheus"]
    assert p["nodeAvailabilityAvg"] is not None and 0 < p["nodeAvailabilityAvg"] <= 1
    diag = env.cli("diagnose", "node", machine, "--prometheus", env.prometheus, "-o", "json")
    assert diag.returncode == 0, diag.stderr
    d = json.loads(diag.stdout)
    deadlock = next(x for x in d["nodeObject"]["conditions"] if x["type"] == "KernelDeadlock")
    assert deadlock["status"] == "True"
    alerts = [h for h in d["metrics"]["highlights"] if h["metric"] == "firing alerts"]
    assert any(h["labels"].get("alertname") == "KubenodeNodeKernelDeadlock" for h in alerts), d["metrics"]
