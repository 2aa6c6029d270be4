"""`kubenode rollout status` in a real terminal of 80 columns (tmux): no line is wider than the terminal,
and every row starts where it should (the first version wrapped its header and misplaced the rows)."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import uuid

import pytest

from .conftest import Cluster, wait_until

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (.ci/run installs it)")]

WIDTH, HEIGHT = 80, 40


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True, timeout=30).stdout


def test_rollout_status_fits_80_columns(cluster: Cluster) -> None:
    crds = subprocess.run([sys.executable, "-m", "kubenode.cli.main", "crds"], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    cluster.kubectl("apply", "-f", "-", stdin=crds)
    name = "a-component-set-with-a-rather-long-name"
    cluster.apply_docs({
        "apiVersion": "kubenode.io/v1alpha1", "kind": "MachineComponentSet", "metadata": {"name": name},
        "spec": {"component": "node-problem-detector-with-extras", "selector": {},
                 "template": {"version": "1.22.333-rc.1+build.4455", "source": {
                     "url": "https://example.com/x.tar.gz", "sha256": "a" * 64}}}})
    generation = cluster.get_json("mcs", name)["metadata"]["generation"]
    long = "machine-" + "x" * 40
    status = {"status": {
        "observedGeneration": generation, "phase": "Progressing", "updateRevision": "0123456789",
        "desired": 1200, "ready": 480, "updated": 500, "failed": 1, "unavailable": 20,
        "currentBatch": 7, "totalBatches": 14,
        "failedMachines": [{"name": long, "message": "health check failed after upgrade: " + "y" * 120}],
        "message": "batch 7 of 14 in progress: 20 machine(s) updating; " + "z" * 150,
        "conditions": [{"type": "Degraded", "status": "True", "reason": "MachinesFailed",
                        "message": "1 machine(s) failed at revision 0123456789: " + long,
                        "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}
    cluster.kubectl("patch", "mcs", name, "--subresource=status", "--type=merge", "-p", json.dumps(status))

    session = f"kn-{uuid.uuid4().hex[:8]}"
    command = " ".join(shlex.quote(a) for a in [
        sys.executable, "-m", "kubenode.cli.main", "rollout", "status", name,
        "--kubeconfig", str(cluster.kubeconfig)]) + "; echo DONE-$?; sleep 60"
    tmux("new-session", "-d", "-s", session, "-x", str(WIDTH), "-y", str(HEIGHT),
         "env", "TERM=xterm-256color", "COLUMNS=", "sh", "-c", command)
    try:
        screen = wait_until(lambda: (lambda s: s if "DONE-" in s else None)(
            tmux("capture-pane", "-p", "-J", "-t", session)), 60, "rollout status to finish")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False, timeout=30)
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
    assert "DONE-0" in lines[-1]
    shown = lines[:-1]
    too_wide = [line for line in shown if len(line) > WIDTH]
    assert not too_wide, "lines wider than the terminal (they wrapped):\n" + "\n".join(too_wide)
    assert shown[0].startswith(name) and "Progressing" in shown[0]
    assert shown[1].startswith("component node-problem-detector-with-extras")
    assert "480/1200 ready" in shown[2]
    labels = [line.split()[0] for line in shown[3:] if not line.startswith(" ")]
    assert labels[:3] == ["batch", "updated", "moving"]
    assert {"failed", "Degraded", "message"} <= set(labels)
