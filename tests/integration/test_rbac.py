"""RBAC on the embedded server: objects created through the API decide what a token may do."""

from __future__ import annotations

from typing import Any

from kubenode.api.rbac import AGENT, OPERATOR, SYSTEM_NAMESPACE, all_objects
from kubenode.apiserver.server import RunningServer

from .kube import Kube

RBAC = "/apis/rbac.authorization.k8s.io/v1"
G = "rbac.authorization.k8s.io"


async def _sa_token(kube: Kube, ns: str, name: str) -> str:
    if (await kube.get(f"/api/v1/namespaces/{ns}")).status == 404:
        assert (await kube.post("/api/v1/namespaces", {"metadata": {"name": ns}})).status == 201
    r = await kube.post(f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": name}})
    assert r.status in (201, 409), r
    r = await kube.post(f"/api/v1/namespaces/{ns}/serviceaccounts/{name}/token", {"spec": {}})
    assert r.status == 201, r
    return str(r.json["status"]["token"])


def _cluster_role(name: str, rules: list[Any]) -> dict[str, Any]:
    return {"apiVersion": f"{G}/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules}


def _crb(name: str, role: str, subjects: list[Any]) -> dict[str, Any]:
    return {"apiVersion": f"{G}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": role}, "subjects": subjects}


READ_CM = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]


async def test_an_unbound_service_account_is_denied_until_bound(server: RunningServer, kube: Kube) -> None:
    token = await _sa_token(kube, "team", "robot")
    robot = Kube(server, token)
    try:
        # discovery, version and self reviews are open to every authenticated identity (bootstrap roles)
        assert (await robot.get("/apis")).status == 200
        assert (await robot.get("/version")).status == 200
        assert (await robot.get("/api/v1")).status == 200
        r = await robot.get("/api/v1/namespaces/team/configmaps")
        assert r.status == 403 and r.json["reason"] == "Forbidden"
        assert 'User "system:serviceaccount:team:robot" cannot list resource "configmaps"' in r.json["message"]

        assert (await kube.post(f"{RBAC}/clusterroles", _cluster_role("cm-reader", READ_CM))).status == 201
        rb = {"apiVersion": f"{G}/v1", "kind": "RoleBinding", "metadata": {"name": "robot-cm", "namespace": "team"},
              "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "cm-reader"},
              "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "team"}]}
        assert (await kube.post(f"{RBAC}/namespaces/team/rolebindings", rb)).status == 201
        assert (await robot.get("/api/v1/namespaces/team/configmaps")).status == 200
        # only in the binding's namespace, only the verbs of the role
        assert (await robot.get("/api/v1/namespaces/default/configmaps")).status == 403
        assert (await robot.post("/api/v1/namespaces/team/configmaps", {"metadata": {"name": "x"}})).status == 403

        # can-i --list answers from RBAC, completely
        r = await robot.post("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", {
            "kind": "SelfSubjectRulesReview", "spec": {"namespace": "team"}})
        assert r.status == 201 and r.json["status"]["incomplete"] is False
        assert {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"]} in \
            r.json["status"]["resourceRules"]
        assert any("/apis/*" in n["nonResourceURLs"] for n in r.json["status"]["nonResourceRules"])

        # deleting the binding takes the right away again
        assert (await kube.delete(f"{RBAC}/namespaces/team/rolebindings/robot-cm")).status == 200
        assert (await robot.get("/api/v1/namespaces/team/configmaps")).status == 403
    finally:
        await robot.close()


async def test_escalation_attempts_are_forbidden(server: RunningServer, kube: Kube) -> None:
    token = await _sa_token(kube, "team", "lead")
    lead = Kube(server, token)
    subject = [{"kind": "ServiceAccount", "name": "lead", "namespace": "team"}]
    editor = _cluster_role("rbac-editor", [
        {"apiGroups": [G], "resources": ["clusterroles", "clusterrolebindings"], "verbs": ["create", "update", "get"]},
        *READ_CM])
    assert (await kube.post(f"{RBAC}/clusterroles", editor)).status == 201
    assert (await kube.post(f"{RBAC}/clusterrolebindings", _crb("lead", "rbac-editor", subject))).status == 201
    everything = _cluster_role("everything", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
    assert (await kube.post(f"{RBAC}/clusterroles", everything)).status == 201
    try:
        # a role with more than the writer holds
        r = await lead.post(f"{RBAC}/clusterroles", _cluster_role("mine", [
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]))
        assert r.status == 403, r
        assert "is attempting to grant RBAC permissions not currently held" in r.json["message"]
        assert 'Resources:["secrets"]' in r.json["message"]
        # a subset of what it holds is fine, and so is updating it within its rights
        r = await lead.post(f"{RBAC}/clusterroles", _cluster_role("mine", READ_CM[:1]))
        assert r.status == 201, r
        grown = dict(r.json, rules=[{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
        r = await lead.put(f"{RBAC}/clusterroles/mine", grown)
        assert r.status == 403 and "not currently held" in r.json["message"]
        # binding a role it does not hold, to itself or anyone
        r = await lead.post(f"{RBAC}/clusterrolebindings", _crb("grab", "everything", subject))
        assert r.status == 403 and "not currently held" in r.json["message"]
        assert (await lead.get("/api/v1/namespaces/team/secrets")).status == 403
        # ...unless RBAC gives it `bind` on exactly that role (kube's rule)
        binder = _cluster_role("bind-everything", [{"apiGroups": [G], "resources": ["clusterroles"],
                                                    "verbs": ["bind"], "resourceNames": ["everything"]}])
        assert (await kube.post(f"{RBAC}/clusterroles", binder)).status == 201
        assert (await kube.post(f"{RBAC}/clusterrolebindings", _crb("lead-bind", "bind-everything",
                                                                    subject))).status == 201
        r = await lead.post(f"{RBAC}/clusterrolebindings", _crb("grab", "everything", subject))
        assert r.status == 201, r
        assert (await lead.get("/api/v1/namespaces/team/secrets")).status == 200
    finally:
        await lead.close()


async def test_role_ref_is_immutable_and_objects_are_validated(kube: Kube) -> None:
    assert (await kube.post(f"{RBAC}/clusterroles", _cluster_role("r1", READ_CM))).status == 201
    r = await kube.post(f"{RBAC}/clusterrolebindings", _crb("b", "r1", [{"kind": "Group", "name": "devs"}]))
    assert r.status == 201 and r.json["subjects"][0]["apiGroup"] == G  # defaulted as kube does
    changed = dict(r.json, roleRef={"apiGroup": G, "kind": "ClusterRole", "name": "r2"})
    r = await kube.put(f"{RBAC}/clusterrolebindings/b", changed)
    assert r.status == 422, r
    assert [c["field"] for c in r.json["details"]["causes"]] == ["roleRef"]
    assert "cannot change roleRef" in r.json["message"]
    r = await kube.patch(f"{RBAC}/clusterrolebindings/b", {"roleRef": {"name": "r2"}})
    assert r.status == 422 and "cannot change roleRef" in r.json["message"]
    r = await kube.post(f"{RBAC}/clusterroles", _cluster_role("bad", [{"apiGroups": [""], "resources": ["pods"]}]))
    assert r.status == 422 and r.json["details"]["causes"][0]["field"] == "rules[0].verbs"
    r = await kube.post(f"{RBAC}/namespaces/default/roles", {"metadata": {"name": "nr"}, "rules": [
        {"verbs": ["get"], "nonResourceURLs": ["/metrics"]}]})
    assert r.status == 422 and "namespaced rules cannot apply to non-resource URLs" in r.json["message"]
    r = await kube.post(f"{RBAC}/clusterrolebindings", {"metadata": {"name": "x"}})
    assert r.status == 422 and "roleRef" in r.json["message"]
    r = await kube.post(f"{RBAC}/clusterroles", {"metadata": {"name": "y"}, "rules": "everything"})
    assert r.status == 422 and r.json["details"]["causes"][0]["field"] == "rules"
    r = await kube.post(f"{RBAC}/clusterrolebindings", {"metadata": {"name": "z"}, "roleRef": "admin"})
    assert r.status == 422 and r.json["details"]["causes"][0]["field"] == "roleRef"


async def test_bootstrap_roles_and_tables(kube: Kube) -> None:
    r = await kube.get(f"{RBAC}/clusterroles")
    names = {o["metadata"]["name"] for o in r.json["items"]}
    assert {"cluster-admin", "system:discovery", "system:basic-user", "system:public-info-viewer"} <= names
    r = await kube.get(f"{RBAC}/clusterrolebindings/system:discovery", headers={
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert [c["name"] for c in r.json["columnDefinitions"]] == ["Name", "Role", "Age", "Users", "Groups",
                                                                  "ServiceAccounts"]
    assert r.json["rows"][0]["cells"][1] == "ClusterRole/system:discovery"
    assert r.json["rows"][0]["cells"][4] == "system:authenticated"
    r = await kube.get(f"{RBAC}/clusterroles/cluster-admin", headers={
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert [c["name"] for c in r.json["columnDefinitions"]] == ["Name", "Created At"]


async def test_shipped_roles_give_the_operator_and_agents_least_privilege(server: RunningServer, kube: Kube) -> None:
    assert (await kube.post("/api/v1/namespaces", {"metadata": {"name": SYSTEM_NAMESPACE}})).status == 201
    plural = {"Role": "roles", "ClusterRole": "clusterroles", "RoleBinding": "rolebindings",
              "ClusterRoleBinding": "clusterrolebindings", "ServiceAccount": "serviceaccounts"}
    for obj in all_objects():
        ns = obj["metadata"].get("namespace")
        base = "/api/v1" if obj["kind"] == "ServiceAccount" else RBAC
        r = await kube.post(f"{base}/namespaces/{ns}/{plural[obj['kind']]}" if ns else f"{base}/{plural[obj['kind']]}",
                            obj)
        assert r.status == 201, r

    def sar(user: str, groups: list[str], **attrs: str) -> dict[str, Any]:
        return {"kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                "spec": {"user": user, "groups": groups, "resourceAttributes": attrs}}

    op = f"system:serviceaccount:{SYSTEM_NAMESPACE}:{OPERATOR}"
    op_groups = ["system:serviceaccounts", f"system:serviceaccounts:{SYSTEM_NAMESPACE}", "system:authenticated"]
    agent, agent_groups = "kubenode:agent:n1", ["kubenode:agents", "system:authenticated"]
    cases = [
        (op, op_groups, {"verb": "patch", "group": "kubenode.io", "resource": "machines", "subresource": "status"},
         True),
        (op, op_groups, {"verb": "create", "resource": "pods", "subresource": "eviction", "namespace": "x"}, True),
        # What the i11 drain (rollout disruption Drain, Machine deletion) and the agent-gone rule need.
        (op, op_groups, {"verb": "patch", "resource": "nodes", "name": "n1"}, True),
        (op, op_groups, {"verb": "patch", "group": "kubenode.io", "resource": "machinecomponents",
                         "subresource": "status"}, True),
        (op, op_groups, {"verb": "get", "resource": "secrets", "namespace": SYSTEM_NAMESPACE}, True),
        (op, op_groups, {"verb": "get", "resource": "secrets", "namespace": "default"}, False),
        (op, op_groups, {"verb": "create", "group": G, "resource": "clusterrolebindings"}, False),
        (op, op_groups, {"verb": "update", "group": "apiextensions.k8s.io", "resource": "customresourcedefinitions"},
         False),
        (op, op_groups, {"verb": "update", "group": "coordination.k8s.io", "resource": "leases",
                         "namespace": "kube-system", "name": OPERATOR}, True),
        (op, op_groups, {"verb": "update", "group": "coordination.k8s.io", "resource": "leases",
                         "namespace": "kube-system", "name": "kube-scheduler"}, False),
        (agent, agent_groups, {"verb": "patch", "resource": "nodes", "subresource": "status", "name": "n1"}, True),
        (agent, agent_groups, {"verb": "update", "group": "coordination.k8s.io", "resource": "leases",
                               "namespace": "kube-node-lease", "name": "n1"}, True),
        (agent, agent_groups, {"verb": "get", "resource": "secrets", "namespace": SYSTEM_NAMESPACE}, False),
        (agent, agent_groups, {"verb": "delete", "group": "kubenode.io", "resource": "machinecomponents"}, False),
        (agent, agent_groups, {"verb": "patch", "group": "kubenode.io", "resource": "machines"}, False),
        (f"system:serviceaccount:{SYSTEM_NAMESPACE}:{AGENT}", op_groups,
         {"verb": "patch", "group": "kubenode.io", "resource": "machinecomponents", "subresource": "status"}, True),
    ]
    for user, groups, attrs, allowed in cases:
        r = await kube.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", sar(user, groups, **attrs))
        assert r.status == 201, r
        assert r.json["status"]["allowed"] is allowed, (user, attrs)


async def test_only_admins_may_ask_about_others(server: RunningServer, kube: Kube) -> None:
    robot = Kube(server, await _sa_token(kube, "team", "robot"))
    try:
        r = await robot.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", {
            "kind": "SubjectAccessReview", "spec": {"user": "x", "resourceAttributes": {"verb": "get"}}})
        assert r.status == 403
        r = await kube.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", {
            "kind": "SubjectAccessReview", "spec": {"resourceAttributes": {"verb": "get"}}})
        assert r.status == 422 and r.json["details"]["causes"][0]["field"] == "spec.user"
    finally:
        await robot.close()


async def test_the_index_has_a_write_before_the_write_is_answered(server: RunningServer, kube: Kube) -> None:
    before = server.api.rbac.generation
    assert (await kube.post(f"{RBAC}/clusterroles", _cluster_role("gen", READ_CM))).status == 201
    assert server.api.rbac.generation > before


async def test_role_and_binding_updates_take_effect_at_once(server: RunningServer, kube: Kube) -> None:
    a, b = Kube(server, await _sa_token(kube, "team", "a")), Kube(server, await _sa_token(kube, "team", "b"))
    try:
        assert (await kube.post(f"{RBAC}/clusterroles", _cluster_role("r", READ_CM))).status == 201
        crb = (await kube.post(f"{RBAC}/clusterrolebindings", _crb("ab", "r", [
            {"kind": "ServiceAccount", "name": "a", "namespace": "team"}]))).json
        assert (await a.get("/api/v1/configmaps")).status == 200 and (await b.get("/api/v1/configmaps")).status == 403
        # the binding now names b instead of a
        crb["subjects"] = [{"kind": "ServiceAccount", "name": "b", "namespace": "team"}]
        assert (await kube.put(f"{RBAC}/clusterrolebindings/ab", crb)).status == 200
        assert (await a.get("/api/v1/configmaps")).status == 403 and (await b.get("/api/v1/configmaps")).status == 200
        # the role loses list: the binding's subject loses it with it
        assert (await kube.patch(f"{RBAC}/clusterroles/r", {"rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]})).status == 200
        assert (await b.get("/api/v1/configmaps")).status == 403
        assert (await b.get("/api/v1/namespaces/default/configmaps/kube-root-ca.crt")).status in (200, 404)
        # deleting the role leaves the binding dangling: nothing granted
        assert (await kube.delete(f"{RBAC}/clusterroles/r")).status == 200
        assert (await b.get("/api/v1/namespaces/default/configmaps/x")).status == 403
    finally:
        await a.close()
        await b.close()
