"""`deploy/` through the real kubectl (its built-in kustomize) against a real `kubenode apiserver`.

The embedded server must take the manifests unchanged, as a real cluster would: server-side dry run,
apply, a second apply that changes nothing, and the workloads listed with kubectl's columns.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from .conftest import Cluster

pytestmark = pytest.mark.e2e

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_kubectl_applies_deploy_unchanged(cluster: Cluster) -> None:
    c = cluster
    for overlay in ("", "overlays/monitoring", "overlays/embedded"):
        rendered = c.kubectl("kustomize", str(DEPLOY / overlay)).stdout
        assert "kind: Deployment" in rendered and "kind: DaemonSet" in rendered

    # a namespaced dry run needs its namespace (kube's NamespaceLifecycle answers 404 otherwise)
    c.kubectl("create", "namespace", "kubenode-system")
    dry = c.kubectl("apply", "--dry-run=server", "-k", str(DEPLOY))
    assert "deployment.apps/kubenode-operator created (server dry run)" in dry.stdout, dry
    assert c.kubectl("get", "deployments", "-n", "kubenode-system", "-o", "name").stdout.strip() == ""

    applied = c.kubectl("apply", "-k", str(DEPLOY))
    for name in ("customresourcedefinition.apiextensions.k8s.io/machines.kubenode.io",
                 "clusterrole.rbac.authorization.k8s.io/kubenode-operator",
                 "validatingadmissionpolicy.admissionregistration.k8s.io/kubenode-node-isolation",
                 "deployment.apps/kubenode-operator", "daemonset.apps/kubenode-agent",
                 "poddisruptionbudget.policy/kubenode-operator", "service/kubenode-operator-metrics"):
        assert name in applied.stdout, applied
    again = c.kubectl("apply", "-k", str(DEPLOY))
    assert "configured" not in again.stdout and "created" not in again.stdout, again
    # and the server-side dry run of an upgrade passes too
    c.kubectl("apply", "--dry-run=server", "-k", str(DEPLOY))

    table = c.kubectl("get", "deployment", "kubenode-operator", "-n", "kubenode-system").table()
    assert table[1][:4] == ["kubenode-operator", "0/2", "0", "0"]  # no kubelet runs its pods here
    table = c.kubectl("get", "pdb", "kubenode-operator", "-n", "kubenode-system").table()
    assert table[1][:4] == ["kubenode-operator", "1", "N/A", "0"]
    ds = c.get_json("daemonset", "kubenode-agent", "-n", "kubenode-system")
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/kubenode/kubenode:0.1.0"
    svc = c.get_json("service", "kubenode-operator-metrics", "-n", "kubenode-system")
    assert svc["spec"]["ports"][0]["targetPort"] == "metrics" and svc["spec"]["clusterIP"].startswith("10.")
    # the shipped RBAC is in force
    op = "system:serviceaccount:kubenode-system:kubenode-operator"
    assert c.kubectl("auth", "can-i", "update", "leases/kubenode-operator", "-n", "kube-system",
                     "--as", op).stdout.strip() == "yes"

    # uninstall as docs/deploy.md says
    c.kubectl("delete", "-k", str(DEPLOY), "--ignore-not-found", "--wait=false")  # the namespace takes its content
    assert c.kubectl("get", "clusterroles", "-o", "name", "-l", "app.kubernetes.io/part-of=kubenode").stdout == ""


def _tour_commands() -> list[list[str]]:
    """The README's "real cluster" tour, one argv per line (comments and pipes to grep/sort dropped)."""
    readme = (DEPLOY.parent / "README.md").read_text()
    block = readme.split("<!-- real-cluster-tour")[1].split("```sh\n")[1].split("```")[0]
    commands = []
    for line in block.splitlines():
        command = line.split("  #")[0].split(" | ")[0].strip()
        if command:
            commands.append(shlex.split(command))
    return commands


def test_the_readme_real_cluster_tour_runs(cluster: Cluster) -> None:
    commands = _tour_commands()
    assert [c[0] for c in commands] == ["kubectl"] * len(commands) and len(commands) == 9
    for argv in commands:
        args = [str(DEPLOY.parent / a) if a.startswith("deploy/") else a for a in argv[1:]]
        if args[:2] == ["-n", "kube-system"] and "lease" in args:
            # no operator runs in this test: the Lease does not exist yet, which kubectl reports as NotFound
            r = cluster.kubectl_fails(*args)
            assert "NotFound" in r.stderr or "not found" in r.stderr, r
            continue
        cluster.kubectl(*args)
