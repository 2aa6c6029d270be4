"""The operator with exactly the rights `deploy/` grants: a token of the deployed ServiceAccount, minted with
`kubectl create token kubenode-operator -n kubenode-system`, runs `kubenode operator` (local machines for
the hosts) against a real `kubenode apiserver` and drives a MachineSet, a component rollout, a remediation
and an SSH import whose kubelet joins (a real sshd on loopback) to completion. A permission the manifests
lack shows as a 403 in its log (checked after every test) and the fleet would not converge."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubenode.demo.artifacts import COMPONENT, build_all

from ..sshd import SSHD, Sshd
from .fleet import (
    Kubectl,
    Process,
    apiserver_fleet,
    check_kubelet_bootstrap,
    import_machine,
    machineset_fleet,
    running_machines,
    token_kubeconfig,
    wait_for,
    wait_for_crds,
)

pytestmark = pytest.mark.e2e

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
OPERATOR_USER = "system:serviceaccount:kubenode-system:kubenode-operator"
HUNG = "INFO: task java:4242 blocked for more than 120 seconds.\n"
#: A remediation budget the Defender checks every job against (no storm guard: the fleet has two machines).
POLICY = {
    "apiVersion": "kubenode.io/v1alpha1", "kind": "DefenderPolicy", "metadata": {"name": "least-privilege"},
    "spec": {"rules": [{"name": "remediation-budget", "operations": ["Remediation"],
                        "budgets": [{"window": "1h", "limit": 10}], "maxConcurrent": 2}]},
}
REMEDIER = {
    "apiVersion": "kubenode.io/v1alpha1", "kind": "NodeRemedier", "metadata": {"name": "kernel"},
    "spec": {"selector": {}, "rules": [{
        "name": "hung", "conditions": [{"type": "KernelDeadlock", "status": "True", "forSeconds": 0}],
        "actions": [{"type": "RestartComponent", "component": "node-problem-detector", "timeoutSeconds": 20},
                    {"type": "Reboot", "timeoutSeconds": 60}],
        "cooldownSeconds": 4, "maxAttempts": 1}]},
}


# A 403 as the client reports it ("403 Forbidden: ...", "status 403"), not the digits inside a log line's
# timestamp ("11:19:47,403 INFO"), a port, a pid or a temporary path, which made this check fail at random.
HTTP_403 = re.compile(r"(?<![\w,.:/-])403(?![\w,.:/-])")


@dataclass
class Deployed:
    data: Path
    k: Kubectl  # the admin (the installer)
    operator: Process
    tmp: Path

    def operator_clean(self) -> None:
        log = self.operator.output()
        denied = [line for line in log.splitlines() if HTTP_403.search(line) or "forbidden" in line.lower()]
        assert not denied, "\n".join(denied[:20])
        assert self.operator.alive(), log[-4000:]

    def condition(self, node: str, type_: str) -> dict[str, Any]:
        n = self.k.json("get", "node", node)
        return next((c for c in n["status"].get("conditions") or [] if c["type"] == type_), {})


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    tmp = tmp_path_factory.mktemp("least-privilege")
    with apiserver_fleet(tmp) as fleet:
        data, k = fleet.data, fleet.k
        k.run("apply", "-k", str(DEPLOY / "overlays" / "embedded"))
        wait_for_crds(k)
        token = k.run("create", "token", "kubenode-operator", "-n", "kubenode-system").stdout.strip()
        kubeconfig = token_kubeconfig(data / "kubeconfig", token, tmp / "operator.kubeconfig", "kubenode-operator")
        as_operator = Kubectl(kubeconfig, tmp / "op-cache")
        whoami = as_operator.run("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
        assert whoami == OPERATOR_USER
        denied = as_operator.run("get", "secrets", "-n", "default", check=False)
        assert denied.returncode != 0 and "forbidden" in denied.stderr.lower(), denied.stderr

        k.run("apply", "-f", "-", stdin=machineset_fleet(2))
        # Imported hosts: the agent from this interpreter, its files and the kubelet's under tmp (not /etc).
        op = fleet.operator("op-sa", 4, kubeconfig, "--import-python", sys.executable,
                            "--import-dir", str(tmp / "host" / "kubenode"), "--import-host-root",
                            str(tmp / "host" / "root"))
        wait_for(lambda: running_machines(k, 2), 120, "2 running machines as the ServiceAccount")
        yield Deployed(data, k, op, tmp)


def test_the_deployed_service_account_runs_a_machineset(deployed: Deployed) -> None:
    k = deployed.k
    lease = k.json("get", "lease", "kubenode-operator", "-n", "kube-system")
    assert lease["spec"]["holderIdentity"] == "op-sa"
    k.run("scale", "machineset", "pool", "--replicas=3")
    wait_for(lambda: running_machines(k, 3), 120, "the MachineSet to scale up")
    k.run("scale", "machineset", "pool", "--replicas=2")
    wait_for(lambda: running_machines(k, 2), 120, "the MachineSet to scale down (drain and delete)")
    assert len(k.json("get", "nodes")["items"]) == 2
    deployed.operator_clean()


def test_the_deployed_service_account_rolls_a_component_out(deployed: Deployed) -> None:
    """The demo archives as `file://` sources from the local machines' trusted artifact directory."""
    k = deployed.k
    artifacts = {a.version: a for a in build_all(deployed.data / "artifacts")}

    def mcs(version: str) -> str:
        a = artifacts[version]
        return yaml.safe_dump({
            "apiVersion": "kubenode.io/v1alpha1", "kind": "MachineComponentSet", "metadata": {"name": COMPONENT},
            "spec": {"component": COMPONENT, "selector": {"matchLabels": {"pool": "a"}},
                     "template": {"version": a.version,
                                  "source": {"url": (deployed.data / "artifacts" / a.filename).as_uri(),
                                             "sha256": a.sha256},
                                  "run": {"command": ["bin/node-exporter"]},
                                  "healthCheck": {"exec": {"command": ["bin/check"]}, "initialDelaySeconds": 1,
                                                  "periodSeconds": 2, "timeoutSeconds": 3, "failureThreshold": 3},
                                  "disruption": "Restart"},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {
                         "batches": [1, 1], "batchSoakSeconds": 1, "maxFailures": 0}}}})

    def rolled_out(version: str) -> bool:
        items = k.json("get", "machinecomponents")["items"]
        done = len(items) == 2 and all(
            (m.get("status") or {}).get("installedVersion") == version and (m.get("status") or {}).get("healthy")
            for m in items)
        return done and (k.json("get", "mcs", COMPONENT).get("status") or {}).get("phase") == "Completed"

    k.run("apply", "-f", "-", stdin=mcs("1.0.0"))
    wait_for(lambda: rolled_out("1.0.0"), 180, "1.0.0 installed on both machines")
    k.run("apply", "-f", "-", stdin=mcs("1.1.0"))
    wait_for(lambda: rolled_out("1.1.0"), 180, "the rollout to 1.1.0 to complete")
    status = k.json("get", "mcs", COMPONENT)["status"]
    assert status["updated"] == 2 and status["currentRevision"] == status["updateRevision"], status
    deployed.operator_clean()


def test_the_deployed_service_account_remediates_a_node(deployed: Deployed) -> None:
    """NodeRemedier -> RemedyOperationJobs the Defender allows -> executed by the agent -> node healthy."""
    k = deployed.k
    machine = wait_for(lambda: running_machines(k, 2), 60, "2 running machines")[0]
    root = deployed.data / "machines" / machine
    boot_before = (root / "run" / "boot_id").read_text().strip()
    wait_for(lambda: deployed.condition(machine, "KernelDeadlock").get("status") == "False", 60,
             "the healthy default KernelDeadlock=False")
    k.run("apply", "-f", "-", stdin=yaml.safe_dump_all([POLICY, REMEDIER]))
    with (root / "dev" / "kmsg").open("a") as f:
        f.write(HUNG)

    def healed() -> list[dict[str, Any]] | None:
        if deployed.condition(machine, "KernelDeadlock").get("status") != "False":
            return None
        jobs = k.json("get", "remedyoperationjobs", "-l", f"kubenode.io/node={machine}")["items"]
        jobs.sort(key=lambda j: (j["spec"]["attempt"], j["spec"]["step"]))
        phases = [(j["spec"]["action"]["type"], (j.get("status") or {}).get("phase")) for j in jobs]
        return jobs if phases[:2] == [("RestartComponent", "Succeeded"), ("Reboot", "Succeeded")] else None

    jobs = wait_for(healed, 180, "the ladder to heal the node")
    for job in jobs[:2]:
        verdict = job["status"]["defender"]
        assert verdict["decision"] == "Allowed" and verdict.get("policy") == "least-privilege", verdict
    assert (root / "run" / "boot_id").read_text().strip() != boot_before  # the agent rebooted the machine
    wait_for(lambda: deployed.condition(machine, "Ready").get("status") == "True", 60, "the node Ready again")
    deployed.operator_clean()


@pytest.mark.skipif(not SSHD.exists(), reason="openssh-server is not installed (.ci/run installs it)")
def test_the_deployed_service_account_imports_a_host_whose_kubelet_joins(deployed: Deployed) -> None:
    """SSH import (the Secret read in kubenode-system, the agent's and the kubelet's bootstrap tokens minted in
    kube-system, the Machine annotated) and the approval of the kubelet's CSR, with the deployed rights."""
    k = deployed.k
    sshd = Sshd(deployed.tmp / "sshd")
    sshd.start()
    try:
        import_machine(k, sshd, "imported")
        wait_for(lambda: (k.json("get", "machine", "imported").get("status") or {}).get("phase") == "Running", 120,
                 "the imported machine to be Running")
        check_kubelet_bootstrap(k, deployed.tmp / "host" / "root", k.json("get", "machine", "imported"),
                                deployed.tmp)
        k.run("delete", "machine", "imported", "--timeout=90s")
        assert not (deployed.tmp / "host" / "root" / "etc/kubernetes/bootstrap-kubelet.conf").exists()
        deployed.operator_clean()
    finally:
        sshd.stop()
