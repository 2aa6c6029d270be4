"""The shipped node-isolation policy, applied with the real kubectl to a real `kubenode apiserver` process.

kubectl applies exactly what `kubenode rbac` and `kubenode policies` print (what a real cluster gets),
then acts as an agent with `--as kubenode:agent:<node> --as-group kubenode:agents`: the `kubenode-agent`
ClusterRole lets the request through authorization, and what is refused below is refused by the
ValidatingAdmissionPolicy, by content — the same standard objects, nothing else.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from ..api_examples import TEMPLATE
from .conftest import Cluster, wait_until

pytestmark = pytest.mark.e2e

AGENT_A = ("--as", "kubenode:agent:n-a", "--as-group", "kubenode:agents")


def kubenode(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "kubenode.cli.main", *args], capture_output=True, text=True,
                          check=True, timeout=60).stdout


@pytest.fixture(scope="module")
def policed(cluster: Cluster) -> Cluster:
    cluster.kubectl("apply", "-f", "-", stdin=kubenode("crds"))
    wait_until(lambda: cluster.jsonpath(
        "crd", "machinecomponents.kubenode.io",
        path='{.status.conditions[?(@.type=="Established")].status}') == "True", 10, "CRD Established")
    cluster.kubectl("apply", "-f", "-", stdin=kubenode("rbac"))
    r = cluster.kubectl("apply", "-f", "-", stdin=kubenode("policies"))
    assert r.lines() == [
        "validatingadmissionpolicy.admissionregistration.k8s.io/kubenode-node-isolation created",
        "validatingadmissionpolicybinding.admissionregistration.k8s.io/kubenode-node-isolation created",
    ], r
    for name in ("n-a", "n-b"):
        cluster.apply_docs({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
        m = name[-1]
        cluster.apply_docs({"apiVersion": "kubenode.io/v1alpha1", "kind": "MachineComponent",
                            "metadata": {"name": f"x-m-{m}", "labels": {"kubenode.io/machine": f"m-{m}"}},
                            "spec": {"machineName": f"m-{m}", "nodeName": name, "component": "x", **TEMPLATE}})
    return cluster


def test_apply_is_idempotent_and_printed_like_kubectl(policed: Cluster) -> None:
    r = policed.kubectl("apply", "-f", "-", stdin=kubenode("policies"))
    assert all(line.endswith(" unchanged") for line in r.lines()), r
    r = policed.kubectl("get", "validatingadmissionpolicies")
    header, row = r.table()[0], r.table()[1]
    assert header == ["NAME", "VALIDATIONS", "PARAMKIND", "AGE"]
    assert row[:3] == ["kubenode-node-isolation", str(len(yaml.safe_load(kubenode("policies").split("---")[0])
                                                          ["spec"]["validations"])), "<unset>"]
    r = policed.kubectl("get", "validatingadmissionpolicybindings")
    assert r.table()[1][:3] == ["kubenode-node-isolation", "kubenode-node-isolation", "<unset>"]


def test_agent_relabel_attack_is_forbidden(policed: Cluster) -> None:
    r = policed._run(["label", "machinecomponent", "x-m-a", "kubenode.io/machine=m-b", "--overwrite", *AGENT_A])
    assert r.returncode != 0
    assert 'Error from server (Forbidden): machinecomponents.kubenode.io "x-m-a" is forbidden: ' \
           "ValidatingAdmissionPolicy 'kubenode-node-isolation' with binding 'kubenode-node-isolation' denied " \
           "request: an agent may not change the spec, labels or owner references" in r.stderr, r
    assert policed.jsonpath("machinecomponent", "x-m-a", path="{.metadata.labels.kubenode\\.io/machine}") == "m-a"


def test_node_restriction_labels_and_other_nodes(policed: Cluster) -> None:
    r = policed._run(["label", "node", "n-a", "node-role.kubernetes.io/control-plane=", *AGENT_A])
    assert r.returncode != 0 and "node-role.kubernetes.io/control-plane" in r.stderr and "Forbidden" in r.stderr, r
    r = policed._run(["patch", "node", "n-b", "--subresource=status", "--type=merge", "-p",
                      json.dumps({"status": {"phase": "Running"}}), *AGENT_A])
    assert r.returncode != 0 and "an agent may write only its own Node (n-a)" in r.stderr, r


def test_agent_still_does_its_job(policed: Cluster) -> None:
    policed.kubectl("patch", "node", "n-a", "--subresource=status", "--type=merge", "-p", json.dumps(
        {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                    "message": "ok"}]}}), *AGENT_A)
    policed.kubectl("patch", "machinecomponent", "x-m-a", "--type=merge", "-p",
                    json.dumps({"metadata": {"finalizers": ["kubenode.io/machinecomponent"]}}), *AGENT_A)
    policed.kubectl("patch", "machinecomponent", "x-m-a", "--subresource=status", "--type=merge", "-p",
                    json.dumps({"status": {"phase": "Running", "healthy": True}}), *AGENT_A)
    assert policed.jsonpath("machinecomponent", "x-m-a", path="{.status.phase}") == "Running"
    policed.kubectl("patch", "machinecomponent", "x-m-a", "--type=merge", "-p",
                    json.dumps({"metadata": {"finalizers": None}}), *AGENT_A)


def test_warn_binding_prints_a_kubectl_warning(policed: Cluster) -> None:
    policed.apply_docs(
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": "labels-wanted"},
         "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                          "operations": ["CREATE"], "resources": ["configmaps"]}]},
                  "validations": [{"expression": "has(object.metadata.labels)", "message": "please label it"}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {"name": "labels-wanted"}, "spec": {"policyName": "labels-wanted", "validationActions": ["Warn"]}})
    r = policed.kubectl("create", "configmap", "unlabelled")
    assert "Warning: Validation failed for ValidatingAdmissionPolicy 'labels-wanted' with binding 'labels-wanted': " \
           "please label it" in r.stderr, r
