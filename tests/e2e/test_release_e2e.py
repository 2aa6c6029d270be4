"""End to end: `kubenode up --clusters test,pre,prod` and ComponentReleases through the three member clusters.

Real processes (one `kubenode up` with a management control plane and three
embedded member clusters of one local machine each, their agents), the
real kubectl against the management and member API servers, and the demo
node-exporter archives (1.2.0's health check fails). Soaks are kept at one
second: the order of stages is proven by the status times, not by waiting.
"""

from __future__ import annotations

import base64
import itertools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubenode.apiserver.server import free_port

from .fleet import Kubectl, Process, kill_agents, kubenode, wait_for

pytestmark = pytest.mark.e2e

NAME = "node-exporter"
STAGES = ["test", "pre", "prod"]


class Fleet:
    def __init__(self, data: Path, proc: Process, cache: Path) -> None:
        self.data, self.proc = data, proc
        self.k = Kubectl(data / "kubeconfig", cache / "mgmt")
        self.members = {s: Kubectl(data / "clusters" / s / "kubeconfig", cache / s) for s in STAGES}

    def release(self) -> dict[str, Any]:
        obj: dict[str, Any] = self.k.json("get", "componentrelease", NAME)
        return obj

    def status(self) -> dict[str, Any]:
        return self.release().get("status") or {}

    def member_set(self, stage: str) -> dict[str, Any] | None:
        r = self.members[stage].run("get", "mcs", NAME, "-o", "json", check=False)
        if r.returncode != 0:
            assert "NotFound" in r.stderr, r.stderr
            return None
        return yaml.safe_load(r.stdout)  # type: ignore[no-any-return]

    def member_version(self, stage: str) -> str | None:
        mcs = self.member_set(stage)
        return None if mcs is None else str(mcs["spec"]["template"]["version"])

    def manifest(self, version: str, soak: int = 1, approve_prod: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = yaml.safe_load(
            (self.data / "artifacts" / f"release-{NAME}-{version}.yaml").read_text())
        doc["spec"]["paused"] = False
        doc["spec"]["updateStrategy"]["rollingUpdate"]["batchSoakSeconds"] = soak
        for s in doc["spec"]["stages"]:
            s["soakSeconds"] = 1
            s["requireApproval"] = approve_prod and s["name"] == "prod"
        return doc

    def apply(self, doc: dict[str, Any]) -> None:
        self.k.run("apply", "-f", "-", stdin=yaml.safe_dump(doc))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kubenode.cli.main", "release", *args, "--kubeconfig",
                               str(self.k.kubeconfig)], capture_output=True, text=True, timeout=120, check=False)

    def completed(self, version: str) -> bool:
        st = self.status()
        return st.get("phase") == "Completed" and st.get("version") == version and \
            self.release()["metadata"]["generation"] == st.get("observedGeneration")


def condition(st: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in st.get("conditions") or [] if c["type"] == type_), {})


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    base = tmp_path_factory.mktemp("release")
    data = base / "data"
    proc = Process(kubenode("up", "--data-dir", str(data), "--port", str(free_port()), "--clusters",
                            ",".join(STAGES), "--machines", "1", "--node-grace-seconds", "8",
                            "--probe-seconds", "1"), base / "up.log")
    f = Fleet(data, proc, base / "kubectl-cache")
    try:
        wait_for(lambda: "Ctrl-C stops everything" in proc.output() or not proc.alive(), 120,
                 "kubenode up --clusters to start")
        assert proc.alive(), proc.output()
        wait_for(lambda: all(c.get("status", {}).get("reachable") and c["status"].get("nodes", {}).get("ready") == 1
                             for c in f.k.json("get", "clusters")["items"]), 120, "three reachable, ready members")
        yield f
    finally:
        proc.stop()
        for s in STAGES:
            kill_agents(data / "clusters" / s)


def test_clusters_are_registered_with_their_stage(fleet: Fleet) -> None:
    items = fleet.k.json("get", "clusters")["items"]
    assert sorted((c["metadata"]["name"], c["metadata"]["labels"]["kubenode.io/stage"]) for c in items) == sorted(
        (s, s) for s in STAGES)
    for c in items:
        st = c["status"]
        assert st["serverVersion"] and st["machines"]["total"] == 1
        assert condition(st, "Reachable")["status"] == "True"
    table = fleet.k.run("get", "kc").stdout
    assert "STAGE" in table and "REACHABLE" in table


def test_an_unknown_release_is_named_with_how_to_list_them(fleet: Fleet) -> None:
    for verb in ("status", "pause", "resume", "approve", "undo"):
        out = fleet.cli(verb, "nope")
        assert out.returncode != 0, out
        assert 'componentrelease "nope" not found (list them with `kubectl get componentreleases`)' in out.stderr, out
        assert "Traceback" not in out.stderr, out


def test_a_healthy_release_goes_stage_by_stage(fleet: Fleet) -> None:
    fleet.apply(fleet.manifest("1.0.0"))
    wait_for(lambda: fleet.completed("1.0.0"), 300, "release 1.0.0 Completed", every=1.0)
    st = fleet.status()
    stages = st["stages"]
    assert [s["name"] for s in stages] == STAGES and all(s["phase"] == "Succeeded" for s in stages)
    # Every stage finished before the next one started (second resolution: equal is allowed).
    for earlier, later in itertools.pairwise(stages):
        assert earlier["completedAt"] <= later["startedAt"], stages
        assert max(c["startedAt"] for c in earlier["clusters"]) <= later["startedAt"]
    for s in STAGES:
        mcs = fleet.member_set(s)
        assert mcs is not None
        assert mcs["metadata"]["labels"]["kubenode.io/release"] == NAME
        assert mcs["metadata"]["annotations"]["kubenode.io/release-revision"] == st["revision"]
        assert mcs["status"]["phase"] == "Completed"
    out = fleet.cli("status", NAME)
    assert out.returncode == 0 and "Completed" in out.stdout, out


def test_a_broken_version_stops_in_test(fleet: Fleet) -> None:
    fleet.apply(fleet.manifest("1.2.0"))

    def stopped() -> bool:
        st = fleet.status()
        return st.get("version") == "1.2.0" and (st.get("stages") or [{}])[0].get("phase") == "Failed"

    wait_for(stopped, 300, "release 1.2.0 stopped in stage test", every=1.0)
    st = fleet.status()
    assert st["phase"] == "Paused" and st["currentStage"] == "test"
    assert condition(st, "Degraded")["status"] == "True" and condition(st, "Degraded")["reason"] == "ClustersFailed"
    assert [s["phase"] for s in st["stages"]] == ["Failed", "Pending", "Pending"]
    assert fleet.member_version("test") == "1.2.0"
    assert fleet.member_version("pre") == fleet.member_version("prod") == "1.0.0"
    out = fleet.cli("resume", NAME)
    assert out.returncode == 1 and "clusters failed" in out.stderr, out
    # undo: the release pauses and the touched cluster (test only) goes back to 1.0.0.
    out = fleet.cli("undo", NAME)
    assert out.returncode == 0 and "test:" in out.stdout and "pre:" not in out.stdout, out
    assert fleet.release()["spec"]["paused"] is True
    wait_for(lambda: fleet.member_version("test") == "1.0.0", 30, "test rolled back to 1.0.0")
    assert fleet.member_version("pre") == fleet.member_version("prod") == "1.0.0"


def test_approval_gates_production(fleet: Fleet) -> None:
    fleet.apply(fleet.manifest("1.1.0", approve_prod=True))

    def waiting() -> bool:
        st = fleet.status()
        return st.get("version") == "1.1.0" and [s.get("phase") for s in st.get("stages") or []] == [
            "Succeeded", "Succeeded", "Paused"]

    wait_for(waiting, 300, "release 1.1.0 waiting for approval of prod", every=1.0)
    st = fleet.status()
    assert st["phase"] == "Paused" and condition(st, "Progressing")["reason"] == "WaitingForApproval"
    assert fleet.member_version("prod") == "1.0.0"
    out = fleet.cli("approve", NAME)
    assert out.returncode == 0 and "stage prod" in out.stdout, out
    wait_for(lambda: fleet.completed("1.1.0"), 300, "release 1.1.0 Completed after approval", every=1.0)
    assert fleet.member_version("prod") == "1.1.0"


def test_an_unreachable_member_is_waited_for_and_named(fleet: Fleet) -> None:
    # A fourth production cluster whose API server is gone: its kubeconfig points at a closed port.
    kc = yaml.safe_load((fleet.data / "clusters" / "prod" / "kubeconfig").read_text())
    kc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "cluster-lost", "namespace": "kubenode-system"},
              "data": {"kubeconfig": base64.b64encode(yaml.safe_dump(kc).encode()).decode()}}
    cluster = {"apiVersion": "kubenode.io/v1alpha1", "kind": "Cluster",
               "metadata": {"name": "lost", "labels": {"kubenode.io/stage": "prod"}},
               "spec": {"kubeconfigSecretRef": {"name": "cluster-lost", "namespace": "kubenode-system"}}}
    fleet.k.run("apply", "-f", "-", stdin=yaml.safe_dump_all([secret, cluster]))
    wait_for(lambda: condition(fleet.k.json("get", "cluster", "lost").get("status") or {}, "Reachable").get(
        "status") == "False", 60, "cluster lost probed unreachable")
    fleet.apply(fleet.manifest("1.1.0", soak=2))  # a new revision: the release starts over

    def waiting() -> dict[str, Any] | None:
        st = fleet.status()
        cond = condition(st, "Progressing")
        return st if st.get("currentStage") == "prod" and cond.get("reason") == "ClustersUnreachable" else None

    st = wait_for(waiting, 300, "the release waiting for cluster lost", every=1.0)
    assert "lost" in condition(st, "Progressing")["message"]
    assert st["phase"] == "Progressing"
    prod = st["stages"][2]
    assert [c["name"] for c in prod["clusters"]] == ["lost", "prod"]
    assert prod["phase"] == "Rolling" and prod["clusters"][0]["phase"] == "Pending"
    assert prod["clusters"][0]["message"].startswith("unreachable")
    # The lost member never counts as done; once it is removed the release completes.
    fleet.k.run("delete", "cluster", "lost")
    wait_for(lambda: fleet.completed("1.1.0") and fleet.status()["revision"] == st["revision"], 300,
             "release Completed without the lost cluster", every=1.0)
