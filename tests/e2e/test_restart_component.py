"""End to end: a RestartComponent remediation restarts a component the agent's installer supervises.

`kubenode up` installs the demo node-exporter on its machine; a NodeRemedier
whose rule fires on a condition restarts it through the agent's executor.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .fleet import Kubectl, kill_agents, start_up, wait_for

pytestmark = pytest.mark.e2e


def test_restart_component_restarts_the_installed_service(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc, _ = start_up(data, 1, 6.0, tmp_path / "up.log")
    k = Kubectl(data / "kubeconfig", tmp_path / "cache")
    try:
        def component() -> dict[str, object] | None:
            items = k.json("get", "machinecomponents")["items"]
            ok = [i for i in items if (i.get("status") or {}).get("phase") == "Running"]
            return ok[0] if ok else None

        mc = wait_for(component, 90, "the demo exporter Running")
        machine = str(mc["spec"]["machineName"])  # type: ignore[index]
        pid_file = data / "machines" / machine / "var/lib/kubenode/components/node-exporter/service.pid"
        before = wait_for(lambda: pid_file.exists() and pid_file.read_text().split()[0], 30, "the service pid")
        k.run("apply", "-f", "-", stdin=yaml.safe_dump({
            "apiVersion": "kubenode.io/v1alpha1", "kind": "NodeRemedier", "metadata": {"name": "exporter"},
            "spec": {"selector": {}, "rules": [{
                "name": "stuck", "conditions": [{"type": "ExporterStuck", "status": "True", "forSeconds": 0}],
                "actions": [{"type": "RestartComponent", "component": "node-exporter", "timeoutSeconds": 30}],
                "cooldownSeconds": 300, "maxAttempts": 1}]}}))
        k.run("patch", "node", machine, "--subresource=status", "--type=strategic", "-p", yaml.safe_dump(
            {"status": {"conditions": [{"type": "ExporterStuck", "status": "True", "reason": "Test",
                                        "message": "the test says so"}]}}))

        def succeeded() -> dict[str, object] | None:
            jobs = [j for j in k.json("get", "remedyoperationjobs")["items"]
                    if (j.get("status") or {}).get("phase") in ("Succeeded", "Failed")]
            return jobs[0] if jobs else None

        job = wait_for(succeeded, 60, "the RestartComponent job to finish")
        assert job["status"]["phase"] == "Succeeded", job["status"]  # type: ignore[index]
        assert "node-exporter" in str(job["status"]["message"])  # type: ignore[index]
        after = wait_for(lambda: pid_file.exists() and pid_file.read_text().split()[0], 30, "the new pid")
        assert after != before  # a new process serves now
    finally:
        proc.stop()
        kill_agents(data)
