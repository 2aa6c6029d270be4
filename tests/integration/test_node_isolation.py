"""The shipped node-isolation policy on the in-process server, with agent identities in both trust-model forms.

Authorization is not under test here: a rule lets group `kubenode:agents` (and the kubenode-agent
ServiceAccount) pass the authorizer, as the `kubenode-agent` ClusterRole does with RBAC. Everything
these tests reject is rejected by the ValidatingAdmissionPolicy (or a CRD rule), by content.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubenode.api.crds import all_crds
from kubenode.api.policies import all_policies
from kubenode.apiserver.authz import Attributes
from kubenode.apiserver.security import User
from kubenode.apiserver.server import RunningServer

from ..api_examples import TEMPLATE
from .kube import Kube
from .polling import eventually

KN = "/apis/kubenode.io/v1alpha1"
NODES = "/api/v1/nodes"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
SA = "system:serviceaccount:kubenode-system:kubenode-agent"


def _agents_pass_authorization(a: Attributes) -> bool | None:
    return True if "kubenode:agents" in a.user.groups or a.user.name == SA else None


async def _ok(r: Any, code: int = 201) -> Any:
    assert r.status == code, r
    return r.json


@pytest.fixture
async def fleet(kube: Kube, server: RunningServer) -> AsyncIterator[dict[str, Kube]]:
    """CRDs, the shipped policy, machines m-a and m-b (nodes n-a and n-b) and their components."""
    server.api.authorizer.add(_agents_pass_authorization)
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
    await _ok(await kube.post("/api/v1/namespaces/kubenode-system/serviceaccounts",
                              {"metadata": {"name": "kubenode-agent"}}))
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
        token = server.api.tokens.issue(User(f"kubenode:agent:{node}",  # type: ignore[union-attr]
                                             ("kubenode:agents", "system:authenticated")), None)
        agents[node] = Kube(server, token=token)
    unbound = server.api.tokens.issue(User(SA, ("system:serviceaccounts", "system:authenticated")),  # type: ignore[union-attr]
                                      None)
    agents["ds-unbound"] = Kube(server, token=unbound)
    # Issued last: the token file does not keep `extra` yet (bound tokens are issue 9c's), only memory does.
    ds_token = server.api.tokens.issue(User(SA, ("system:serviceaccounts", "system:authenticated"),  # type: ignore[union-attr]
                                            extra={"authentication.kubernetes.io/node-name": ["n-a"]}), None)
    agents["ds-a"] = Kube(server, token=ds_token)
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
    forbidden(await a.post(f"{KN}/remedyoperationjobs", {
        "apiVersion": "kubenode.io/v1alpha1", "kind": "RemedyOperationJob", "metadata": {"name": "j-evil"},
        "spec": {"nodeName": "n-b", "remedier": "r", "rule": "hung", "action": {"type": "Reboot"}}}),
        "may not create or delete")
    mc = {"apiVersion": "kubenode.io/v1alpha1", "kind": "MachineComponent", "metadata": {"name": "x-evil"},
          "spec": {"machineName": "m-b", "nodeName": "n-b", "component": "x", **copy.deepcopy(TEMPLATE)}}
    forbidden(await a.post(f"{KN}/machinecomponents", mc), "may not create or delete")
    forbidden(await a.delete(f"{KN}/machinecomponents/x-m-a"), "may not create or delete")


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
    forbidden(await a.post("/apis/coordination.k8s.io/v1/namespaces/default/leases",
                           {"metadata": {"name": "n-a"}, "spec": {}}), "only its own Lease")
    forbidden(await a.patch(f"{KN}/machines/m-b/status", {"status": {"phase": "Failed"}}),
              "only the status of its own Machine")
    forbidden(await a.patch(f"{KN}/machines/m-a", {"spec": {"nodeLabels": {"x": "y"}}}),
              "only the status of its own Machine")


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
