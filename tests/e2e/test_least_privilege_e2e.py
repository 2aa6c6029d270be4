"""The operator with exactly the rights `deploy/` grants: a token of the deployed ServiceAccount, minted with
`kubectl create token kubenode-operator -n kubenode-system`, runs `kubenode operator` (local machines for
the hosts) against a real `kubenode apiserver`; a permission the manifests lack would show as a 403 in its
log and the fleet would not converge."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import yaml

from kubenode.apiserver.server import free_port

from .fleet import Kubectl, Process, kill_agents, kubenode, wait_for

pytestmark = pytest.mark.e2e

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
FLEET = """
apiVersion: kubenode.io/v1alpha1
kind: InfraProvider
metadata: {name: local}
spec: {type: local}
---
apiVersion: kubenode.io/v1alpha1
kind: MachineSet
metadata: {name: pool}
spec:
  replicas: 2
  selector: {matchLabels: {pool: a}}
  template:
    metadata: {labels: {pool: a}}
    spec: {providerRef: {name: local}}
"""


def _operator_kubeconfig(admin: Path, token: str, out: Path) -> Path:
    """The admin kubeconfig's cluster with the ServiceAccount's token as the only credential."""
    doc = yaml.safe_load(admin.read_text())
    cluster = doc["clusters"][0]
    out.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [cluster],
        "users": [{"name": "kubenode-operator", "user": {"token": token}}],
        "contexts": [{"name": "op", "context": {"cluster": cluster["name"], "user": "kubenode-operator"}}],
        "current-context": "op"}))
    out.chmod(0o600)
    return out


def test_the_deployed_service_account_runs_the_fleet(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Process(kubenode("apiserver", "--data-dir", str(data), "--port", str(free_port())),
                     tmp_path / "apiserver.log")
    op: Process | None = None
    try:
        wait_for(lambda: (data / "kubeconfig").exists() and "listening" in server.output(), 30, "the API server")
        k = Kubectl(data / "kubeconfig", tmp_path / "cache")
        k.run("apply", "-k", str(DEPLOY / "overlays" / "embedded"))
        wait_for(lambda: k.run("get", "machinesets", check=False).returncode == 0, 30, "CRDs to be served")
        token = k.run("create", "token", "kubenode-operator", "-n", "kubenode-system").stdout.strip()
        kubeconfig = _operator_kubeconfig(data / "kubeconfig", token, tmp_path / "operator.kubeconfig")
        as_operator = Kubectl(kubeconfig, tmp_path / "op-cache")
        whoami = as_operator.run("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
        assert whoami == "system:serviceaccount:kubenode-system:kubenode-operator"
        denied = as_operator.run("get", "secrets", "-n", "default", check=False)
        assert denied.returncode != 0 and "forbidden" in denied.stderr.lower(), denied.stderr

        k.run("apply", "-f", "-", stdin=FLEET)
        op = Process(kubenode("operator", "--kubeconfig", str(kubeconfig), "--data-dir", str(data),
                              "--identity", "op-sa", "--lease-duration", "4", "--health-port", str(free_port())),
                     tmp_path / "operator.log")

        def running(n: int) -> bool:
            items = k.json("get", "machines")["items"]
            return len(items) == n and all((m.get("status") or {}).get("phase") == "Running" for m in items)

        wait_for(lambda: running(2), 120, "2 running machines as the ServiceAccount")
        lease = k.json("get", "lease", "kubenode-operator", "-n", "kube-system")
        assert lease["spec"]["holderIdentity"] == "op-sa"
        k.run("scale", "machineset", "pool", "--replicas=1")
        wait_for(lambda: running(1), 120, "the MachineSet to scale down (drain and delete)")
        assert len(k.json("get", "nodes")["items"]) == 1
        log = op.output()
        assert "403" not in log and "forbidden" not in log.lower(), log[-4000:]
    finally:
        if op is not None:
            op.stop(signal.SIGTERM)
        kill_agents(data)
        server.stop(signal.SIGTERM)
