"""End to end: `kubenode up` packages, serves and rolls out the demo exporter; agents install, upgrade and
roll back locally — real processes, the real kubectl."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from .fleet import Kubectl, Process, kill_agents, start_up, wait_for

pytestmark = pytest.mark.e2e


class Up:
    def __init__(self, data: Path, proc: Process, k: Kubectl) -> None:
        self.data, self.proc, self.k = data, proc, k

    def components(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.k.json("get", "machinecomponents")["items"]
        return items

    def wait_versions(self, phases: dict[str, int], version: str, within: float = 90) -> list[dict[str, Any]]:
        """Wait until `phases` (phase → count) hold for components whose installed version is `version`."""
        def check() -> list[dict[str, Any]] | None:
            mcs = self.components()
            seen: dict[str, int] = {}
            for mc in mcs:
                st = mc.get("status") or {}
                if st.get("installedVersion") == version:
                    seen[st.get("phase", "")] = seen.get(st.get("phase", ""), 0) + 1
            return mcs if seen == phases else None

        result: list[dict[str, Any]] = wait_for(check, within, f"components {phases} at {version}")
        return result


def exporters(data: Path) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(data) in cmd and "bin/node-exporter" in cmd and p.info["status"] != psutil.STATUS_ZOMBIE:
            out.append(p)
    return out


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    base = tmp_path_factory.mktemp("demo")
    data = base / "data"
    proc, _ = start_up(data, 2, 8.0, base / "up.log")
    try:
        yield Up(data, proc, Kubectl(data / "kubeconfig", base / "kubectl-cache"))
    finally:
        proc.stop()
        kill_agents(data)
        for p in exporters(data):
            p.kill()


def test_demo_rollout_upgrade_and_local_rollback(up: Up) -> None:
    banner = up.proc.output()
    assert "kubectl patch mcs node-exporter --type=merge" in banner
    assert f"kubectl apply -f {up.data / 'artifacts' / 'node-exporter-1.2.0.yaml'}" in banner

    mcs = up.wait_versions({"Running": 2}, "1.0.0")
    assert all(mc["status"]["healthy"] for mc in mcs)

    # Every machine's exporter has its own port on this one host, and serves its version there.
    ports = []
    for mc in mcs:
        state = up.data / "machines" / mc["spec"]["machineName"] / "var/lib/kubenode/components/node-exporter"
        ports.append(json.loads((state / "state.json").read_text())["port"])
    assert len(set(ports)) == 2

    up.k.run("apply", "-f", str(up.data / "artifacts" / "node-exporter-1.1.0.yaml"))
    up.wait_versions({"Running": 2}, "1.1.0")
    for port in ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            assert 'node_exporter_build_info{version="1.1.0"}' in resp.read().decode()

    up.k.run("apply", "-f", str(up.data / "artifacts" / "node-exporter-1.2.0.yaml"))

    def rolled_back() -> dict[str, Any] | None:
        for mc in up.components():
            st = mc.get("status") or {}
            if st.get("phase") == "Failed" and st.get("installedVersion") == "1.1.0" \
                    and "rolled back to 1.1.0" in st.get("message", ""):
                return mc
        return None

    failed = wait_for(rolled_back, 90, "the first 1.2.0 machine to roll back to 1.1.0")
    assert "regression in 1.2.0" in failed["status"]["message"]
    machine_root = up.data / "machines" / failed["spec"]["machineName"]
    current = machine_root / "opt/kubenode/components/node-exporter/current"
    assert current.resolve().name == "1.1.0"
    # The other machine was never touched: the rollout stops at the failed batch (maxFailures 0).
    others = [mc for mc in up.components() if mc["metadata"]["name"] != failed["metadata"]["name"]]
    assert all(mc["status"]["installedVersion"] == "1.1.0" and mc["status"]["phase"] == "Running" for mc in others)


def test_stopping_up_stops_the_components(up: Up) -> None:
    assert len(exporters(up.data)) == 2
    assert up.proc.stop() == 0
    wait_for(lambda: not exporters(up.data), 30, "every exporter to stop with its machine")
