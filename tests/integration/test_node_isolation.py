"""The shipped node-isolation policy on the in-process server, with agent identities in both trust-model forms.

Authorization is the shipped RBAC (`api/rbac.py`, installed as `kubenode up` does): the `kubenode-agent`
ClusterRole lets agents write these kinds at all. Everything these tests reject beyond that is rejected by
the ValidatingAdmissionPolicy (or a CRD rule), by content. The DaemonSet identity is a real TokenRequest
bound to the agent's pod on n-a (its node-name extra).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubenode.api.crds import all_crds
from kubenode.api.policies import all_policies
from kubenode.apiserver.security import User
from kubenode.apiserver.server import RunningServer
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.controlplane.rbac_install import install_rbac
from kubenode.machine.bootstrap import ensure_system_namespace

from ..api_examples import TEMPLATE
from .kube import Kube
from .polling import eventually

KN = "/apis/kubenode.io/v1alpha1"
NODES = "/api/v1/nodes"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
SA = "system:serviceaccount:kubenode-system:kubenode-agent"


async def _ok(r: Any, code: int = 201) -> Any:
    assert r.status == code, r
    return r.json


@pytest.fixture
async def fleet(kube: Kube, server: RunningServer) -> AsyncIterator[dict[str, Kube]]:
    """CRDs, the shipped policy, machines m-a and m-b (nodes n-a and n-b) and their components."""
    # Authorization is the shipped RBAC alone (as `kubenode up` installs it); the policy decides by content.
    async with KubeClient(load_config(server.kubeconfig)) as admin:
        await ensure_system_namespace(admin)
        await install_rbac(admin)
    for crd in all_crds():
        await _ok(await kube.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd))
    for crd in all_crds():
        name = crd["metadata"]["name"]

        async def established(name: str = name) -> bool:
            r = await kube.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            return any(c["type"] == "Established" and c["status"] == "True"
                       for c in r.json.get("status", {}).get("conditions", []))
        await eventually(established, what=f"{name} established")
    for obj in all_policies():
        plural = "validatingadmissionpolicies" if obj["kind"] == "ValidatingAdmissionPolicy" else \
            "validatingadmissionpolicybindings"
        await _ok(await kube.post(f"/apis/admissionregistration.k8s.io/v1/{plural}", obj))
    for ns in ("kube-node-lease", "kubenode-system"):
        r = await kube.post("/api/v1/namespaces", {"metadata": {"name": ns}})
        assert r.status in (201, 409), r
    mcs = await _ok(await kube.post(f"{KN}/machinecomponentsets", {
        "apiVersion": "kubenode.io/v1alpha1", "kind": "MachineComponentSet", "metadata": {"name": "x"},
        "spec": {"component": "x", "selector": {}, "template": TEMPLATE}}))
    for m in ("a", "b"):
        await _ok(await kube.post(f"{KN}/machines", {
            "apiVersion": "kubenode.io/v1alpha1", "kind": "Machine", "metadata": {"name": f"m-{m}"},
            "spec": {"providerRef": {"name": "local"}, "nodeName": f"n-{m}"}}))
        await _ok(await kube.post(f"{KN}/machinecomponents", {
            "apiVersion": "kubenode.io/v1alpha1", "kind": "MachineComponent",
            "metadata": {"name": f"x-m-{m}", "labels": {"kubenode.io/machine": f"m-{m}"},
                         "ownerReferences": [{"apiVersion": "kubenode.io/v1alpha1", "kind": "MachineComponentSet",
                                              "name": "x", "uid": mcs["metadata"]["uid"], "controller": True}]},
            "spec": {"machineName": f"m-{m}", "nodeName": f"n-{m}", "component": "x", "revision": "r1",
                     **copy.deepcopy(TEMPLATE)}}))
        await _ok(await kube.post(f"{KN}/remedyoperationjobs", {
            "apiVersion": "kubenode.io/v1alpha1", "kind": "RemedyOperationJob", "metadata": {"name": f"j-{m}"},
            "spec": {"nodeName": f"n-{m}", "machineName": f"m-{m}", "remedier": "r", "rule": "hung",
                     "action": {"type": "Reboot"}}}))
    agents = {}
    for node in ("n-a", "n-b"):
        # The identity of the node's client certificate (CN=kubenode:agent:<node>, O=kubenode:agents).
        token = server.api.tokens.issue(User(f"kubenode:agent:{node}",  # type: ignore[union-attr]
                                             ("kubenode:agents", "system:authenticated")), None)
        agents[node] = Kube(server, token=token)
    token_path = "/api/v1/namespaces/kubenode-system/serviceaccounts/kubenode-agent/token"
    unbound = await _ok(await kube.post(token_path, {"kind": "TokenRequest", "spec": {}}))
    agents["ds-unbound"] = Kube(server, token=unbound["status"]["token"])
    # The DaemonSet's pod on n-a: its token is bound to the pod, and so names the node (kube >= 1.30).
    pod = await _ok(await kube.post("/api/v1/namespaces/kubenode-system/pods", {
        "metadata": {"name": "kubenode-agent-n-a"},
        "spec": {"nodeName": "n-a", "serviceAccountName": "kubenode-agent",
                 "containers": [{"name": "agent", "image": "kubenode"}]}}))
    bound = await _ok(await kube.post(token_path, {"kind": "TokenRequest", "spec": {"boundObjectRef": {
        "kind": "Pod", "apiVersion": "v1", "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}}}))
    agents["ds-a"] = Kube(server, token=bound["status"]["token"])
    try:
        yield agents
    finally:
        for k in agents.values():
            await k.close()


def node(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}}}


KUBELET_LABELS = {"kubernetes.io/hostname": "n-a", "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
                  "kubenode.io/machine": "m-a"}


def forbidden(r: Any, policy_message: str) -> None:
    assert r.status == 403, r
    assert r.json["reason"] == "Forbidden"
    assert "ValidatingAdmissionPolicy 'kubenode-node-isolation' with binding 'kubenode-node-isolation' denied " \
           "request: " in r.json["message"], r
    assert policy_message in r.json["message"], r


def rbac_forbidden(r: Any, verb: str, resource: str) -> None:
    assert r.status == 403, r
    assert f'cannot {verb} resource "{resource}"' in r.json["message"], r


async def test_relabel_attack_is_refused(fleet: dict[str, Kube], kube: Kube) -> None:
    a = fleet["n-a"]
    mc = f"{KN}/machinecomponents/x-m-a"
    forbidden(await a.patch(mc, {"metadata": {"labels": {"kubenode.io/machine": "m-b"}}}),
              "may not change the spec, labels or owner references")
    forbidden(await a.patch(mc, {"spec": {"run": {"command": ["bin/evil"]}}}),
              "may not change the spec, labels or owner references")
    forbidden(await a.patch(mc, {"metadata": {"ownerReferences": None}}),
              "may not change the spec, labels or owner references")
    # spec.machineName / spec.nodeName are immutable for everyone (CRD rules, 422 before any policy)
    for field in ("machineName", "nodeName"):
        r = await a.patch(mc, {"spec": {field: "m-b" if field == "machineName" else "n-b"}})
        assert r.status == 422 and f"{field} is immutable" in r.raw.decode(), r
    got = (await kube.get(mc)).json
    assert got["metadata"]["labels"]["kubenode.io/machine"] == "m-a" and got["spec"]["machineName"] == "m-a"
    assert got["spec"]["run"] == TEMPLATE["run"]


async def test_other_nodes_components_and_jobs_are_out_of_reach(fleet: dict[str, Kube]) -> None:
    a = fleet["n-a"]
    forbidden(await a.patch(f"{KN}/machinecomponents/x-m-b/status", {"status": {"phase": "Running"}}),
              "only MachineComponents of its own node")
    forbidden(await a.patch(f"{KN}/remedyoperationjobs/j-b/status", {"status": {"phase": "Succeeded"}}),
              "only RemedyOperationJobs of its own node")
    rbac_forbidden(await a.post(f"{KN}/remedyoperationjobs", {
        "apiVersion": "kubenode.io/v1alpha1", "kind": "RemedyOperationJob", "metadata": {"name": "j-evil"},
        "spec": {"nodeName": "n-b", "remedier": "r", "rule": "hung", "action": {"type": "Reboot"}}}),
        "create", "remedyoperationjobs")
    mc = {"apiVersion": "kubenode.io/v1alpha1", "kind": "MachineComponent", "metadata": {"name": "x-evil"},
          "spec": {"machineName": "m-b", "nodeName": "n-b", "component": "x", **copy.deepcopy(TEMPLATE)}}
    # Creating and deleting these kinds is not in the agents' ClusterRole: RBAC refuses before the policy
    # (which refuses them too, for a role that would grant them: test_admission_policy_e2e.py).
    rbac_forbidden(await a.post(f"{KN}/machinecomponents", mc), "create", "machinecomponents")
    rbac_forbidden(await a.delete(f"{KN}/machinecomponents/x-m-a"), "delete", "machinecomponents")


async def test_legit_agent_writes_pass(fleet: dict[str, Kube]) -> None:
    a = fleet["n-a"]
    await _ok(await a.post(NODES, node("n-a", KUBELET_LABELS)))
    await _ok(await a.patch(f"{NODES}/n-a/status", {"status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ok"}]}}), 200)
    await _ok(await a.post(LEASES, {"metadata": {"name": "n-a"}, "spec": {"holderIdentity": "n-a"}}))
    await _ok(await a.patch(f"{LEASES}/n-a", {"spec": {"leaseDurationSeconds": 40}}), 200)
    await _ok(await a.patch(f"{KN}/machines/m-a/status", {"status": {"phase": "Running"}}), 200)
    mc = f"{KN}/machinecomponents/x-m-a"
    await _ok(await a.patch(mc, {"metadata": {"finalizers": ["kubenode.io/machinecomponent"]}}), 200)
    await _ok(await a.patch(f"{mc}/status", {"status": {"phase": "Running", "healthy": True}}), 200)
    await _ok(await a.patch(mc, {"metadata": {"finalizers": None}}), 200)
    await _ok(await a.patch(f"{KN}/remedyoperationjobs/j-a/status", {"status": {"phase": "Running"}}), 200)


async def test_only_the_agents_own_finalizer(fleet: dict[str, Kube]) -> None:
    forbidden(await fleet["n-a"].patch(f"{KN}/machinecomponents/x-m-a",
                                       {"metadata": {"finalizers": ["example.com/keep-forever"]}}),
              "only kubenode.io/machinecomponent")


async def test_node_restriction_labels(fleet: dict[str, Kube], kube: Kube) -> None:
    a = fleet["n-a"]
    await _ok(await a.post(NODES, node("n-a", KUBELET_LABELS)))
    forbidden(await a.patch(f"{NODES}/n-a", {"metadata": {"labels": {
        "node-role.kubernetes.io/control-plane": ""}}}), "node-role.kubernetes.io/control-plane")
    forbidden(await a.patch(f"{NODES}/n-a", {"metadata": {"labels": {
        "node-restriction.kubernetes.io/pool": "secure"}}}), "node-restriction.kubernetes.io/pool")
    forbidden(await a.patch(f"{NODES}/n-a", {"metadata": {"labels": {"tier": "gold"}}}),
              "only the Node labels it owns, not: tier")
    forbidden(await a.patch(f"{NODES}/n-a", {"metadata": {"labels": {"kubenode.io/machine": "m-b"}}}),
              "not: kubenode.io/machine")
    await _ok(await a.patch(f"{NODES}/n-a", {"metadata": {"labels": {"topology.kubernetes.io/zone": "z1"}}}), 200)
    # the operator (here: the admin) still manages its labels
    await _ok(await kube.patch(f"{NODES}/n-a", {"metadata": {"labels": {"tier": "gold"}}}), 200)
    labels = (await kube.get(f"{NODES}/n-a")).json["metadata"]["labels"]
    assert "node-role.kubernetes.io/control-plane" not in labels and labels["tier"] == "gold"


async def test_other_nodes_node_lease_and_machine(fleet: dict[str, Kube], kube: Kube) -> None:
    a = fleet["n-a"]
    forbidden(await a.post(NODES, node("n-b")), "only its own Node (n-a)")
    await _ok(await kube.post(NODES, node("n-b")))
    forbidden(await a.patch(f"{NODES}/n-b/status", {"status": {"phase": "Running"}}), "only its own Node")
    forbidden(await a.post(LEASES, {"metadata": {"name": "n-b"}, "spec": {}}), "only its own Lease")
    # Leases elsewhere: the agents' Role is only in kube-node-lease (and the policy says the same).
    rbac_forbidden(await a.post("/apis/coordination.k8s.io/v1/namespaces/default/leases",
                                {"metadata": {"name": "n-a"}, "spec": {}}), "create", "leases")
    forbidden(await a.patch(f"{KN}/machines/m-b/status", {"status": {"phase": "Failed"}}),
              "only the status of its own Machine")
    rbac_forbidden(await a.patch(f"{KN}/machines/m-a", {"spec": {"nodeLabels": {"x": "y"}}}), "patch", "machines")


async def test_agent_cannot_forge_its_machines_bootstrap_token_annotation(fleet: dict[str, Kube], kube: Kube) -> None:
    # The CSR approver trusts kubenode.io/bootstrap-token-id on the Machine: an agent that could write it
    # through its Machine's status could make another token (e.g. one it stole) count as its Machine's.
    a = fleet["n-a"]
    status = f"{KN}/machines/m-a/status"
    r = await a.patch(status, {"metadata": {"annotations": {"kubenode.io/bootstrap-token-id": "abcdef"}},
                               "status": {"phase": "Running"}})
    if r.status != 200:  # the policy refuses the write as a whole
        forbidden(r, "may not change the annotations of a Machine")
    got = (await kube.get(f"{KN}/machines/m-a")).json
    assert "kubenode.io/bootstrap-token-id" not in (got["metadata"].get("annotations") or {})


async def test_daemonset_identity_by_bound_node_name(fleet: dict[str, Kube]) -> None:
    ds = fleet["ds-a"]
    await _ok(await ds.patch(f"{KN}/machinecomponents/x-m-a/status", {"status": {"phase": "Running"}}), 200)
    forbidden(await ds.patch(f"{KN}/machinecomponents/x-m-b/status", {"status": {"phase": "Running"}}),
              "only MachineComponents of its own node")
    forbidden(await fleet["ds-unbound"].patch(f"{KN}/machinecomponents/x-m-a/status",
                                              {"status": {"phase": "Running"}}), "names no node")


async def test_server_side_apply_is_judged_too(fleet: dict[str, Kube]) -> None:
    body = {"apiVersion": "kubenode.io/v1alpha1", "kind": "MachineComponent",
            "metadata": {"name": "x-m-a", "labels": {"kubenode.io/machine": "m-b"}}}
    r = await fleet["n-a"].patch(f"{KN}/machinecomponents/x-m-a", body, content_type="application/apply-patch+yaml",
                                 params={"fieldManager": "evil", "force": "true"})
    forbidden(r, "may not change the spec, labels or owner references")
