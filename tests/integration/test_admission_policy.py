"""ValidatingAdmissionPolicy + Binding served and enforced by the in-process server (generic, no KubeNode kind)."""

from __future__ import annotations

from typing import Any

import pytest

from kubenode.apiserver.server import RunningServer

from .kube import Kube

VAP = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies"
VAPB = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"
CM = "/api/v1/namespaces/default/configmaps"


def policy(name: str, validations: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    spec.setdefault("matchConstraints", {"resourceRules": [{
        "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE", "DELETE"],
        "resources": ["configmaps"]}]})
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name}, "spec": {"validations": validations, **spec}}


def binding(name: str, policy_name: str, actions: list[str], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name}, "spec": {"policyName": policy_name, "validationActions": actions, **spec}}


def cm(name: str, labels: dict[str, str] | None = None, data: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}},
            "data": data or {}}


async def install(kube: Kube, p: dict[str, Any], b: dict[str, Any]) -> None:
    r = await kube.post(VAP, p)
    assert r.status == 201, r
    r = await kube.post(VAPB, b)
    assert r.status == 201, r


NO_SECRETS = [{"expression": "!has(object.data) || !object.data.exists(k, k.startsWith('secret'))",
               "message": "no secret keys in configmaps", "reason": "Forbidden"}]


async def test_deny_create_with_kube_message_and_reason(kube: Kube) -> None:
    await install(kube, policy("no-secrets", NO_SECRETS), binding("no-secrets-b", "no-secrets", ["Deny"]))
    r = await kube.post(CM, cm("a", data={"secretToken": "x"}))
    assert r.status == 403, r
    assert r.json["reason"] == "Forbidden"
    assert r.json["message"] == ('configmaps "a" is forbidden: ValidatingAdmissionPolicy \'no-secrets\' with binding '
                                 '\'no-secrets-b\' denied request: no secret keys in configmaps')
    assert (await kube.post(CM, cm("b", data={"plain": "x"}))).status == 201
    # update and merge patch are judged on the object after the write
    r = await kube.patch(f"{CM}/b", {"data": {"secretX": "1"}})
    assert r.status == 403, r
    assert (await kube.get(f"{CM}/b")).json["data"] == {"plain": "x"}


@pytest.mark.parametrize(("reason", "code"), [(None, 422), ("Invalid", 422), ("Forbidden", 403),
                                              ("Unauthorized", 401), ("RequestEntityTooLarge", 413)])
async def test_reason_maps_to_http_code(kube: Kube, reason: str | None, code: int) -> None:
    v: dict[str, Any] = {"expression": "false", "message": "never"}
    if reason:
        v["reason"] = reason
    await install(kube, policy("p", [v]), binding("b", "p", ["Deny"]))
    r = await kube.post(CM, cm("x"))
    assert r.status == code, r
    assert r.json["reason"] == (reason or "Invalid")


async def test_message_expression_variables_and_default_message(kube: Kube) -> None:
    p = policy("limits", [
        {"expression": "variables.n <= 2", "messageExpression": "'too many keys: ' + string(variables.n)"},
        {"expression": "object.metadata.name != 'forbidden-name'"},
    ], variables=[{"name": "n", "expression": "has(object.data) ? size(object.data) : 0"}])
    await install(kube, p, binding("limits", "limits", ["Deny"]))
    r = await kube.post(CM, cm("many", data={"a": "1", "b": "2", "c": "3"}))
    assert r.status == 422 and r.json["message"].endswith("denied request: too many keys: 3"), r
    r = await kube.post(CM, cm("forbidden-name"))
    assert r.status == 422 and r.json["message"].endswith(
        "denied request: failed expression: object.metadata.name != 'forbidden-name'"), r
    assert (await kube.post(CM, cm("fine", data={"a": "1"}))).status == 201


async def test_warn_action_is_a_warning_header_and_audit_lets_through(kube: Kube) -> None:
    await install(kube, policy("no-secrets", NO_SECRETS), binding("warn", "no-secrets", ["Warn", "Audit"]))
    r = await kube.post(CM, cm("w", data={"secretKey": "1"}))
    assert r.status == 201, r
    assert "Validation failed for ValidatingAdmissionPolicy 'no-secrets' with binding 'warn': " \
           "no secret keys in configmaps" in r.headers["Warning"]


async def test_delete_sees_old_object_and_null_object(kube: Kube) -> None:
    assert (await kube.post(CM, cm("keep", labels={"protected": "yes"}))).status == 201
    p = policy("protect", [{"expression": "request.operation != 'DELETE' || object == null && "
                                          "oldObject.metadata.?labels[?'protected'].orValue('') != 'yes'",
                            "message": "protected", "reason": "Forbidden"}])
    await install(kube, p, binding("protect", "protect", ["Deny"]))
    assert (await kube.delete(f"{CM}/keep")).status == 403
    assert (await kube.post(CM, cm("go"))).status == 201
    assert (await kube.delete(f"{CM}/go")).status == 200


async def test_match_conditions_user_info_and_selectors(kube: Kube, server: RunningServer) -> None:
    from kubenode.apiserver.security import User

    p = policy("users", [{"expression": "false", "message": "not for you", "reason": "Forbidden"}],
               matchConditions=[{"name": "only-bob", "expression": "request.userInfo.username == 'bob' && "
                                 "request.userInfo.extra['team'][0] == 'red'"}])
    b = binding("users", "users", ["Deny"], matchResources={"objectSelector": {
        "matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]}})
    await install(kube, p, b)
    token = server.api.tokens.issue(User("bob", ("system:authenticated", "system:masters"),  # type: ignore[union-attr]
                                         extra={"team": ["red"]}), None)
    bob = Kube(server, token=token)
    try:
        assert (await bob.post(CM, cm("one"))).status == 403
        assert (await bob.post(CM, cm("two", labels={"skip": "1"}))).status == 201  # objectSelector
        assert (await kube.post(CM, cm("three"))).status == 201  # matchCondition: not bob
    finally:
        await bob.close()


async def test_status_subresource_and_exclude_rules(kube: Kube) -> None:
    p = policy("nodes", [{"expression": "false", "message": "no node status", "reason": "Forbidden"}],
               matchConstraints={"resourceRules": [{"apiGroups": [""], "apiVersions": ["*"], "operations": ["*"],
                                                    "resources": ["nodes/status"]}]})
    await install(kube, p, binding("nodes", "nodes", ["Deny"]))
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    assert (await kube.post("/api/v1/nodes", node)).status == 201  # nodes itself is not matched
    r = await kube.patch("/api/v1/nodes/n1/status", {"status": {"phase": "Running"}})
    assert r.status == 403 and "no node status" in r.json["message"], r
    assert (await kube.patch("/api/v1/nodes/n1", {"metadata": {"labels": {"a": "b"}}})).status == 200


async def test_failure_policy_on_runtime_errors(kube: Kube) -> None:
    broken = [{"expression": "object.data.missing == 'x'"}]  # no such key at runtime
    await install(kube, policy("strict", broken), binding("strict", "strict", ["Deny"]))
    r = await kube.post(CM, cm("e", data={"a": "1"}))
    assert r.status == 422 and "resulted in error" in r.json["message"], r
    assert (await kube.delete(f"{VAPB}/strict")).status == 200
    await install(kube, policy("lenient", broken, failurePolicy="Ignore"), binding("lenient", "lenient", ["Deny"]))
    assert (await kube.post(CM, cm("f", data={"a": "1"}))).status == 201


async def test_invalid_policies_are_422_with_field_paths(kube: Kube) -> None:
    r = await kube.post(VAP, policy("bad", [{"expression": "object.metadata.name =="}]))
    assert r.status == 422, r
    causes = r.json["details"]["causes"]
    assert causes[0]["field"] == "spec.validations[0].expression" and "compilation failed" in causes[0]["message"]
    r = await kube.post(VAPB, binding("bad", "p", ["Deny", "Warn", "Nope"]))
    assert r.status == 422
    assert {c["field"] for c in r.json["details"]["causes"]} == {"spec.validationActions[2]",
                                                                  "spec.validationActions"}


async def test_params_by_name(kube: Kube) -> None:
    assert (await kube.post(CM, cm("limits", data={"max": "1"}))).status == 201
    p = policy("maxkeys", [{"expression": "!has(object.data) || size(object.data) <= int(params.data.max)",
                            "messageExpression": "'at most ' + params.data.max + ' keys'"}],
               paramKind={"apiVersion": "v1", "kind": "ConfigMap"},
               matchConstraints={"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                    "operations": ["CREATE"], "resources": ["configmaps"]}]})
    await install(kube, p, binding("maxkeys", "maxkeys", ["Deny"],
                                   paramRef={"name": "limits", "namespace": "default",
                                             "parameterNotFoundAction": "Deny"}))
    r = await kube.post(CM, cm("two", data={"a": "1", "b": "2"}))
    assert r.status == 422 and r.json["message"].endswith("at most 1 keys"), r
    assert (await kube.post(CM, cm("one", data={"a": "1"}))).status == 201


async def test_printer_columns_and_status_subresource(kube: Kube) -> None:
    await install(kube, policy("p", NO_SECRETS), binding("b", "p", ["Deny"]))
    r = await kube.get(VAP, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert [c["name"] for c in r.json["columnDefinitions"]] == ["Name", "Validations", "ParamKind", "Age"]
    assert r.json["rows"][0]["cells"][:3] == ["p", 1, "<unset>"]
    r = await kube.get(VAPB, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert [c["name"] for c in r.json["columnDefinitions"]] == ["Name", "PolicyName", "ParamRef", "Age"]
    r = await kube.patch(f"{VAP}/p/status", {"status": {"observedGeneration": 1}})
    assert r.status == 200 and r.json["status"]["observedGeneration"] == 1


async def test_namespace_selector(kube: Kube) -> None:
    for ns, labels in (("prod", {"env": "prod"}), ("dev", {"env": "dev"})):
        assert (await kube.post("/api/v1/namespaces", {"metadata": {"name": ns, "labels": labels}})).status == 201
    p = policy("prod-only", [{"expression": "false", "message": "frozen", "reason": "Forbidden"}])
    await install(kube, p, binding("prod-only", "prod-only", ["Deny"], matchResources={
        "namespaceSelector": {"matchLabels": {"env": "prod"}}}))
    assert (await kube.post("/api/v1/namespaces/prod/configmaps", cm("x"))).status == 403
    assert (await kube.post("/api/v1/namespaces/dev/configmaps", cm("x"))).status == 201


async def test_up_installs_the_shipped_policies_idempotently(server: RunningServer) -> None:
    from kubenode.client.client import KubeClient
    from kubenode.client.config import load_config
    from kubenode.controlplane.admission_install import install_admission_policies

    async with KubeClient(load_config(server.kubeconfig)) as client:
        assert await install_admission_policies(client) == [
            "validatingadmissionpolicies/kubenode-node-isolation",
            "validatingadmissionpolicybindings/kubenode-node-isolation"]
        assert await install_admission_policies(client) == []


async def test_policies_see_the_fields_they_read(kube: Kube) -> None:
    """Objects are handed over without the top-level fields a policy cannot select: those it reads are there."""
    p = policy("status-reader", [{"expression": "!has(object.status) || object.status.phase != 'Bad'",
                                  "message": "bad phase", "reason": "Forbidden"},
                                 {"expression": "object == oldObject || request.subResource != 'status' || "
                                                "!has(oldObject.status) || oldObject.status.phase != 'Frozen'",
                                  "message": "frozen"}],
               matchConstraints={"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["*"],
                                                    "resources": ["nodes", "nodes/status"]}]})
    await install(kube, p, binding("status-reader", "status-reader", ["Deny"]))
    assert (await kube.post("/api/v1/nodes", {"metadata": {"name": "n1"}})).status == 201
    r = await kube.patch("/api/v1/nodes/n1/status", {"status": {"phase": "Bad"}})
    assert r.status == 403 and "bad phase" in r.json["message"], r
    assert (await kube.patch("/api/v1/nodes/n1/status", {"status": {"phase": "Frozen"}})).status == 200
    r = await kube.patch("/api/v1/nodes/n1/status", {"status": {"phase": "Running"}})
    assert r.status == 422 and "frozen" in r.json["message"], r
