"""Two `kubenode operator` processes against one API server: one leads, the other takes over."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from .fleet import (
    Kubectl,
    apiserver_fleet,
    install_shipped,
    machineset_fleet,
    running_machines,
    wait_for,
)

pytestmark = pytest.mark.e2e

LEASE = 4.0


def holder(k: Kubectl) -> str:
    r = k.run("get", "lease", "-n", "kube-system", "kubenode-operator", "-o", "jsonpath={.spec.holderIdentity}",
              check=False)
    return r.stdout.strip() if r.returncode == 0 else ""


def test_only_the_leader_acts_and_a_kill_hands_over(tmp_path: Path) -> None:
    with apiserver_fleet(tmp_path) as fleet:
        k = fleet.k
        install_shipped(k)
        k.run("apply", "-f", "-", stdin=machineset_fleet(2))

        a = fleet.operator("op-a", LEASE)
        wait_for(lambda: holder(k) == "op-a", 30, "op-a to lead")
        b = fleet.operator("op-b", LEASE)

        wait_for(lambda: running_machines(k, 2), 60, "2 running machines")
        wait_for(lambda: "started" in b.output(), 30, "op-b to start")
        assert holder(k) == "op-a"
        assert "created machine" not in b.output()  # the follower never acted

        a.proc.send_signal(signal.SIGKILL)  # no graceful release: the Lease must expire
        a.proc.wait(10)
        wait_for(lambda: holder(k) == "op-b", LEASE * 3 + 10, "op-b to take over")
        k.run("scale", "machineset", "pool", "--replicas=3")

        wait_for(lambda: running_machines(k, 3), 60, "3 running machines after the handover")
        assert b.output().count("created machine") == 1  # exactly one, no duplicate action
        # the new leader re-adopted the machines the old one had started
        assert len(k.json("get", "nodes")["items"]) == 3
