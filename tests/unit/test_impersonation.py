"""`kubectl --as`: who a request acts as, given its Impersonate-* headers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from kubenode.apiserver.app import _impersonated
from kubenode.apiserver.authz import Attributes, Authorizer
from kubenode.apiserver.errors import StatusError
from kubenode.apiserver.rbac import RBACIndex
from kubenode.apiserver.security import User

ADMIN = User("kubenode:admin", ("system:masters",))
AGENT = User("system:serviceaccount:kubenode-system:machine-m1", ("system:serviceaccounts",))


def request(*headers: tuple[str, str]) -> web.Request:
    return make_mocked_request("GET", "/api/v1/nodes", headers=CIMultiDict(headers))


@pytest.mark.parametrize(("caller", "headers", "expected"), [
    (ADMIN, (), ADMIN),  # no headers: the caller itself
    (AGENT, (), AGENT),
    (ADMIN, (("Impersonate-User", "jane"),), User("jane", ("system:authenticated",))),
    (ADMIN, (("Impersonate-User", "jane"), ("Impersonate-Group", "sre"), ("Impersonate-Group", "oncall")),
     User("jane", ("sre", "oncall", "system:authenticated"))),
    (ADMIN, (("Impersonate-User", "system:serviceaccount:ns1:robot"),),
     User("system:serviceaccount:ns1:robot",
          ("system:serviceaccounts", "system:serviceaccounts:ns1", "system:authenticated"))),
    (ADMIN, (("Impersonate-User", "x"), ("Impersonate-Group", "system:authenticated")),
     User("x", ("system:authenticated",))),
    # kubectl --as-uid, and extra (kubeconfig as-user-extra): a DaemonSet agent's node-name, for instance
    (ADMIN, (("Impersonate-User", "system:serviceaccount:kubenode-system:kubenode-agent"),
             ("Impersonate-Uid", "u-1"),
             ("Impersonate-Extra-Authentication.kubernetes.io%2fnode-name", "n1"),
             ("Impersonate-Extra-scopes", "a"), ("Impersonate-Extra-Scopes", "b")),
     User("system:serviceaccount:kubenode-system:kubenode-agent",
          ("system:serviceaccounts", "system:serviceaccounts:kubenode-system", "system:authenticated"), "u-1",
          (("authentication.kubernetes.io/node-name", ("n1",)), ("scopes", ("a", "b"))))),
])
def test_who_the_request_acts_as(caller: User, headers: tuple[tuple[str, str], ...], expected: User) -> None:
    assert _impersonated(request(*headers), caller) == expected


@pytest.mark.parametrize(("caller", "headers", "code", "text"), [
    (AGENT, (("Impersonate-User", "kubenode:admin"),), 403, "cannot impersonate"),
    (ADMIN, (("Impersonate-Group", "system:masters"),), 400, "requires impersonating a user"),
    (ADMIN, (("Impersonate-Uid", "1234"),), 400, "requires impersonating a user"),
    (ADMIN, (("Impersonate-Extra-x", "1"),), 400, "requires impersonating a user"),
    (AGENT, (("Impersonate-User", "x"), ("Impersonate-Extra-authentication.kubernetes.io%2fnode-name", "n2")),
     403, "cannot impersonate"),
])
def test_refused_impersonation(caller: User, headers: tuple[tuple[str, str], ...], code: int, text: str) -> None:
    with pytest.raises(StatusError) as info:
        _impersonated(request(*headers), caller)
    assert info.value.code == code and text in info.value.message


def _rbac_allowed() -> Callable[[Attributes], tuple[bool, str]]:
    grant = {"kind": "ClusterRole", "metadata": {"name": "impersonator"}, "rules": [
        {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["jane"]},
        {"apiGroups": [""], "resources": ["groups"], "verbs": ["impersonate"], "resourceNames": ["sre"]},
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}]}
    binding = {"kind": "ClusterRoleBinding", "metadata": {"name": "impersonator"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "impersonator"},
               "subjects": [{"kind": "User", "name": AGENT.name}]}
    authz = Authorizer()
    authz.add(RBACIndex(objects=[grant, binding]).rule, listable=True)
    return authz.allowed


@pytest.mark.parametrize(("headers", "expected"), [
    ((("Impersonate-User", "jane"),), User("jane", ("system:authenticated",))),
    ((("Impersonate-User", "jane"), ("Impersonate-Group", "sre")), User("jane", ("sre", "system:authenticated"))),
    ((("Impersonate-User", "system:serviceaccount:ns1:robot"),),
     User("system:serviceaccount:ns1:robot",
          ("system:serviceaccounts", "system:serviceaccounts:ns1", "system:authenticated"))),
    ((("Impersonate-User", "bob"),), "users"),
    ((("Impersonate-User", "jane"), ("Impersonate-Group", "system:masters")), "groups"),
    ((("Impersonate-User", "jane"), ("Impersonate-Uid", "1")), "UIDs and extra fields"),
])
def test_rbac_grants_impersonation_per_target(headers: tuple[tuple[str, str], ...], expected: User | str) -> None:
    allowed = _rbac_allowed()
    if isinstance(expected, User):
        assert _impersonated(request(*headers), AGENT, allowed) == expected
        return
    with pytest.raises(StatusError) as info:
        _impersonated(request(*headers), AGENT, allowed)
    assert info.value.code == 403 and expected in info.value.message
