"""Self reviews (kubectl auth can-i / whoami): answers come from the same Authorizer as every request."""

from __future__ import annotations

from typing import Any

import pytest

from kubenode.apiserver.authz import Attributes, Authorizer
from kubenode.apiserver.errors import StatusError
from kubenode.apiserver.rbac import RBACIndex
from kubenode.apiserver.rbac_defaults import default_cluster_role_bindings, default_cluster_roles
from kubenode.apiserver.reviews import review
from kubenode.apiserver.security import User

ADMIN = User("kubenode:admin", ("system:masters",))
AGENT = User("system:node:m1", ("system:nodes",))
NOBODY = User("system:serviceaccount:a:b", ("system:serviceaccounts", "system:authenticated"))


def own_node_only(a: Attributes) -> bool | None:
    """A rule like the agents': nodes/m1 only."""
    if a.user.name.startswith("system:node:") and a.resource == "nodes":
        return a.name == a.user.name.removeprefix("system:node:")
    return None


# The server's chain: a rule that is code, then RBAC with kube's bootstrap policy (discovery for everyone).
RBAC = RBACIndex(objects=[*default_cluster_roles(), *default_cluster_role_bindings()])
AUTHZ = Authorizer([own_node_only])
AUTHZ.add(RBAC.rule, listable=True)


def ssar(**attrs: Any) -> dict[str, Any]:
    key = "nonResourceAttributes" if "path" in attrs else "resourceAttributes"
    return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "spec": {key: attrs}}


@pytest.mark.parametrize(("user", "body", "allowed"), [
    (ADMIN, ssar(verb="delete", resource="nodes", name="anything"), True),
    (AGENT, ssar(verb="patch", resource="nodes", name="m1"), True),
    (AGENT, ssar(verb="patch", resource="nodes", name="m2"), False),
    (AGENT, ssar(verb="get", resource="secrets", namespace="default"), False),
    (NOBODY, ssar(verb="list", resource="configmaps"), False),
    (NOBODY, ssar(verb="get", path="/apis/kubenode.io/v1alpha1"), True),
    (NOBODY, ssar(verb="get", path="/version"), True),
    (NOBODY, ssar(verb="post", path="/version"), False),
    (NOBODY, ssar(verb="get", path="/metrics"), False),
    (ADMIN, ssar(verb="get", path="/metrics"), True),
])
def test_access_review_answers_as_the_authorizer_would(user: User, body: dict[str, Any], allowed: bool) -> None:
    out = review("authorization.k8s.io", "selfsubjectaccessreviews", body, user, AUTHZ)
    assert out["status"]["allowed"] is allowed and out["status"]["reason"]
    assert out["spec"] == body["spec"] and out["kind"] == "SelfSubjectAccessReview"
    res = body["spec"].get("resourceAttributes")
    if res is not None:  # the very decision a real request gets
        attrs = Attributes(user, res["verb"], "", res["resource"], "", res.get("namespace", ""), res.get("name", ""))
        assert AUTHZ.allowed(attrs)[0] is allowed


@pytest.mark.parametrize(("body", "code", "text"), [
    ({"kind": "SelfSubjectAccessReview", "spec": {}}, 422, "spec.resourceAttributes"),
    ({"kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": {}, "nonResourceAttributes": {}}}, 422,
     "exactly one of nonResourceAttributes or resourceAttributes"),
    ({"kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": "x"}}, 422, "must be an object"),
    ({"kind": "Pod", "spec": {}}, 400, "not 'Pod'"),
    ([], 400, "must be an object of kind SelfSubjectAccessReview (authorization.k8s.io/v1)"),
])
def test_bad_reviews_are_rejected_clearly(body: Any, code: int, text: str) -> None:
    with pytest.raises(StatusError) as info:
        review("authorization.k8s.io", "selfsubjectaccessreviews", body, ADMIN, AUTHZ)
    err = info.value
    assert err.code == code
    assert text in err.message + " ".join(f"{c.get('field')} {c.get('message')}" for c in err.causes)


def test_whoami_and_rules() -> None:
    me = review("authentication.k8s.io", "selfsubjectreviews", {}, AGENT, AUTHZ)
    assert me["status"]["userInfo"] == {"username": "system:node:m1", "groups": ["system:nodes"]}
    admin = review("authorization.k8s.io", "selfsubjectrulesreviews", {"spec": {"namespace": "a"}}, ADMIN, AUTHZ)
    assert admin["status"]["incomplete"] is False and admin["status"]["resourceRules"][0]["verbs"] == ["*"]
    other = review("authorization.k8s.io", "selfsubjectrulesreviews", {"spec": {"namespace": "a"}}, NOBODY, AUTHZ)
    assert other["status"]["incomplete"] is True and "kubectl auth can-i" in other["status"]["evaluationError"]
