"""RBAC semantics as kube's: rule matching, bindings, coverage (escalation) and validation, table-driven."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.apiserver.authz import Attributes, Authorizer
from kubenode.apiserver.builtins_rbac import validate
from kubenode.apiserver.errors import StatusError
from kubenode.apiserver.rbac import GROUP, PolicyRule, RBACIndex, check_escalation, covers, rule_allows
from kubenode.apiserver.rbac_defaults import default_cluster_role_bindings, default_cluster_roles
from kubenode.apiserver.security import User

JANE = User("jane", ("devs", "system:authenticated"))
SA = User("system:serviceaccount:ops:robot", ("system:serviceaccounts", "system:serviceaccounts:ops",
                                              "system:authenticated"))


def req(verb: str, resource: str = "", *, group: str = "", sub: str = "", ns: str = "", name: str = "",
        path: str = "", user: User = JANE) -> Attributes:
    return Attributes(user, verb, group, resource, sub, ns, name, path=path)


def rule(**kw: Any) -> PolicyRule:
    return PolicyRule.from_obj(kw)


@pytest.mark.parametrize(("r", "a", "allowed"), [
    (rule(verbs=["get"], apiGroups=[""], resources=["pods"]), req("get", "pods"), True),
    (rule(verbs=["get"], apiGroups=[""], resources=["pods"]), req("list", "pods"), False),
    (rule(verbs=["*"], apiGroups=[""], resources=["pods"]), req("deletecollection", "pods"), True),
    (rule(verbs=["get"], apiGroups=["apps"], resources=["pods"]), req("get", "pods"), False),
    (rule(verbs=["get"], apiGroups=["*"], resources=["pods"]), req("get", "pods", group="x.io"), True),
    # subresources: "pods" does not reach pods/status; "*" does; "*/scale" reaches every scale
    (rule(verbs=["get"], apiGroups=[""], resources=["pods"]), req("get", "pods", sub="status"), False),
    (rule(verbs=["get"], apiGroups=[""], resources=["pods/status"]), req("get", "pods", sub="status"), True),
    (rule(verbs=["get"], apiGroups=[""], resources=["pods/status"]), req("get", "pods"), False),
    (rule(verbs=["get"], apiGroups=[""], resources=["*"]), req("get", "pods", sub="status"), True),
    (rule(verbs=["patch"], apiGroups=["*"], resources=["*/scale"]),
     req("patch", "machinesets", group="kubenode.io", sub="scale"), True),
    (rule(verbs=["patch"], apiGroups=["*"], resources=["*/scale"]), req("patch", "machinesets", group="k.io"),
     False),
    # resourceNames: only named requests; never a create (its name is in the body, not the URL)
    (rule(verbs=["get"], apiGroups=[""], resources=["nodes"], resourceNames=["n1"]), req("get", "nodes", name="n1"),
     True),
    (rule(verbs=["get"], apiGroups=[""], resources=["nodes"], resourceNames=["n1"]), req("get", "nodes", name="n2"),
     False),
    (rule(verbs=["list"], apiGroups=[""], resources=["nodes"], resourceNames=["n1"]), req("list", "nodes"), False),
    (rule(verbs=["create"], apiGroups=[""], resources=["nodes"], resourceNames=["n1"]),
     req("create", "nodes", name="n1"), False),
    (rule(verbs=["create"], apiGroups=[""], resources=["serviceaccounts/token"], resourceNames=["a"]),
     req("create", "serviceaccounts", sub="token", name="a", ns="x"), True),
    # non-resource URLs: exact, *, prefix*; never for resource requests and vice versa
    (rule(verbs=["get"], nonResourceURLs=["/version"]), req("get", path="/version"), True),
    (rule(verbs=["get"], nonResourceURLs=["/version"]), req("get", path="/version/x"), False),
    (rule(verbs=["get"], nonResourceURLs=["/apis/*"]), req("get", path="/apis/kubenode.io/v1alpha1"), True),
    (rule(verbs=["get"], nonResourceURLs=["/apis/*"]), req("get", path="/apis"), False),
    (rule(verbs=["get"], nonResourceURLs=["*"]), req("get", path="/metrics"), True),
    (rule(verbs=["get"], nonResourceURLs=["*"]), req("get", "pods"), False),
    (rule(verbs=["get"], apiGroups=["*"], resources=["*"]), req("get", path="/metrics"), False),
    (rule(verbs=["get"], nonResourceURLs=["/healthz"]), req("post", path="/healthz"), False),
])
def test_rule_matching(r: PolicyRule, a: Attributes, allowed: bool) -> None:
    assert rule_allows(r, a) is allowed


def _role(kind: str, name: str, rules: list[Any], ns: str = "") -> dict[str, Any]:
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"kind": kind, "metadata": meta, "rules": rules}


def _binding(kind: str, name: str, ref_kind: str, ref: str, subjects: list[Any], ns: str = "") -> dict[str, Any]:
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"kind": kind, "metadata": meta, "roleRef": {"apiGroup": GROUP, "kind": ref_kind, "name": ref},
            "subjects": subjects}


READ_PODS = [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]
INDEX = RBACIndex(objects=[
    *default_cluster_roles(), *default_cluster_role_bindings(),
    _role("ClusterRole", "pod-reader", READ_PODS),
    _role("Role", "cm-writer", [{"verbs": ["create", "update"], "apiGroups": [""], "resources": ["configmaps"]}],
          "team"),
    _binding("ClusterRoleBinding", "devs-read", "ClusterRole", "pod-reader", [{"kind": "Group", "name": "devs"}]),
    _binding("RoleBinding", "robot-cm", "Role", "cm-writer",
             [{"kind": "ServiceAccount", "name": "robot", "namespace": "ops"}], "team"),
    _binding("RoleBinding", "robot-pods", "ClusterRole", "pod-reader",
             [{"kind": "ServiceAccount", "name": "robot"}], "ops"),  # SA namespace defaults to the binding's
    _binding("RoleBinding", "dangling", "Role", "missing", [{"kind": "User", "name": "jane"}], "team"),
])


@pytest.mark.parametrize(("a", "allowed"), [
    (req("list", "pods"), True),  # group binding, cluster-wide
    (req("list", "pods", ns="any"), True),
    (req("delete", "pods", ns="any", name="p"), False),
    (req("create", "configmaps", ns="team"), False),  # jane's binding there names a missing role
    (req("create", "configmaps", ns="team", user=SA), True),  # RoleBinding to a Role, SA subject
    (req("create", "configmaps", ns="other", user=SA), False),  # only in the binding's namespace
    (req("list", "pods", ns="ops", user=SA), True),  # RoleBinding to a ClusterRole grants in its namespace
    (req("list", "pods", ns="team", user=SA), False),
    (req("list", "pods", user=SA), False),  # cluster-wide list needs a cluster-wide grant
    (req("get", path="/apis", user=SA), True),  # system:discovery via system:authenticated
    (req("get", path="/version", user=User("system:anonymous", ("system:unauthenticated",))), True),
    (req("get", path="/apis", user=User("system:anonymous", ("system:unauthenticated",))), False),
    (req("create", "selfsubjectaccessreviews", group="authorization.k8s.io", user=SA), True),
    (req("get", "secrets", ns="x", user=User("nobody", ())), False),
])
def test_bindings_grant_where_kube_grants(a: Attributes, allowed: bool) -> None:
    assert (INDEX.rule(a) is True) is allowed


@pytest.mark.parametrize(("owner", "wanted", "missing"), [
    (READ_PODS, [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}], []),
    (READ_PODS, [{"verbs": ["get", "delete"], "apiGroups": [""], "resources": ["pods"]}],
     [PolicyRule(("delete",), ("",), ("pods",))]),
    (READ_PODS, [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]}], []),
    ([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]}], READ_PODS[:1],
     [PolicyRule(("get",), ("",), ("pods",)), PolicyRule(("list",), ("",), ("pods",))]),
    ([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*/status"]}],
     [{"verbs": ["patch"], "apiGroups": ["kubenode.io"], "resources": ["machines/status"]}], []),
    ([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*/status"]}],
     [{"verbs": ["patch"], "apiGroups": ["kubenode.io"], "resources": ["machines"]}],
     [PolicyRule(("patch",), ("kubenode.io",), ("machines",))]),
    ([{"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}], [{"verbs": ["get"], "nonResourceURLs": ["/apis/x"]}], []),
    ([{"verbs": ["get"], "nonResourceURLs": ["/apis/x"]}], [{"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}],
     [PolicyRule(("get",), non_resource_urls=("/apis/*",))]),
])
def test_coverage_is_kubes(owner: list[Any], wanted: list[Any], missing: list[PolicyRule]) -> None:
    assert covers([PolicyRule.from_obj(r) for r in owner], [PolicyRule.from_obj(r) for r in wanted]) == missing


_VERBS = st.lists(st.sampled_from(["get", "list", "watch", "create", "delete", "*"]), min_size=1, max_size=3)
_RESOURCES = st.lists(st.sampled_from(["pods", "pods/status", "nodes", "*", "*/status"]), min_size=1, max_size=3)


@given(verbs=_VERBS, resources=_RESOURCES, groups=st.lists(st.sampled_from(["", "apps", "*"]), min_size=1,
                                                            max_size=2))
def test_a_rule_covers_itself_and_what_it_allows(verbs: list[str], resources: list[str], groups: list[str]) -> None:
    r = PolicyRule(tuple(verbs), tuple(groups), tuple(resources))
    assert covers([r], [r]) == []
    for part in covers([], [r]):  # every single-verb part the rule grants is a request it allows
        res, _, sub = part.resources[0].partition("/")
        if "*" not in (part.verbs[0], part.api_groups[0], res, sub):
            assert rule_allows(r, req(part.verbs[0], res, group=part.api_groups[0], sub=sub, ns="n"))


def _allowed(index: RBACIndex) -> Any:
    authz = Authorizer()
    authz.add(index.rule, listable=True)
    return authz.allowed


ESCALATOR = User("esc", ("system:authenticated",))
BINDER = User("binder", ("system:authenticated",))
ESC_INDEX = RBACIndex(objects=[
    _role("ClusterRole", "pod-reader", READ_PODS),
    _role("ClusterRole", "admin-ish", [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]),
    _role("ClusterRole", "role-editor", [
        {"verbs": ["create", "update"], "apiGroups": [GROUP], "resources": ["clusterroles", "clusterrolebindings",
                                                                            "roles", "rolebindings"]},
        *READ_PODS]),
    _role("ClusterRole", "escalator", [{"verbs": ["escalate"], "apiGroups": [GROUP], "resources": ["clusterroles"]}]),
    _role("ClusterRole", "binder", [{"verbs": ["bind"], "apiGroups": [GROUP], "resources": ["clusterroles"],
                                     "resourceNames": ["admin-ish"]}]),
    _binding("ClusterRoleBinding", "jane-edit", "ClusterRole", "role-editor", [{"kind": "User", "name": "jane"},
                                                                                 {"kind": "User", "name": "esc"},
                                                                                 {"kind": "User", "name": "binder"}]),
    _binding("ClusterRoleBinding", "esc", "ClusterRole", "escalator", [{"kind": "User", "name": "esc"}]),
    _binding("ClusterRoleBinding", "binder", "ClusterRole", "binder", [{"kind": "User", "name": "binder"}]),
])


@pytest.mark.parametrize(("user", "plural", "obj", "error"), [
    (JANE, "clusterroles", _role("ClusterRole", "r", READ_PODS), None),
    (JANE, "clusterroles", _role("ClusterRole", "r", [{"verbs": ["delete"], "apiGroups": [""],
                                                        "resources": ["pods"]}]),
     'is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], '
     'Verbs:["delete"]}'),
    (ESCALATOR, "clusterroles", _role("ClusterRole", "r", [{"verbs": ["*"], "apiGroups": ["*"],
                                                             "resources": ["*"]}]), None),
    (JANE, "roles", _role("Role", "r", READ_PODS, "team"), None),  # cluster-wide grants count in a namespace
    (JANE, "clusterrolebindings", _binding("ClusterRoleBinding", "b", "ClusterRole", "pod-reader", []), None),
    (JANE, "clusterrolebindings", _binding("ClusterRoleBinding", "b", "ClusterRole", "admin-ish", []),
     "not currently held"),
    (BINDER, "clusterrolebindings", _binding("ClusterRoleBinding", "b", "ClusterRole", "admin-ish", []), None),
    (BINDER, "rolebindings", _binding("RoleBinding", "b", "ClusterRole", "admin-ish", [], "team"), None),
    (JANE, "rolebindings", _binding("RoleBinding", "b", "Role", "nope", [], "team"), 'roles.' + GROUP + ' "nope"'),
    (None, "clusterrolebindings", _binding("ClusterRoleBinding", "b", "ClusterRole", "admin-ish", []), None),
    (User("root", ("system:masters",)), "clusterroles", _role("ClusterRole", "r", [{"verbs": ["*"],
                                                                                  "apiGroups": ["*"],
                                                                                  "resources": ["*"]}]), None),
])
def test_escalation_prevention(user: User | None, plural: str, obj: dict[str, Any], error: str | None) -> None:
    if error is None:
        check_escalation(ESC_INDEX, _allowed(ESC_INDEX), user, plural, obj)
        return
    with pytest.raises(StatusError) as info:
        check_escalation(ESC_INDEX, _allowed(ESC_INDEX), user, plural, obj)
    assert info.value.code in (403, 404) and error in info.value.message


@pytest.mark.parametrize(("plural", "obj", "old", "field"), [
    ("clusterroles", {"rules": [{"apiGroups": [""], "resources": ["pods"]}]}, None, "rules[0].verbs"),
    ("clusterroles", {"rules": [{"verbs": ["get"], "resources": ["pods"]}]}, None, "rules[0].apiGroups"),
    ("clusterroles", {"rules": [{"verbs": ["get"], "apiGroups": [""]}]}, None, "rules[0].resources"),
    ("roles", {"rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}]}, None, "rules[0].nonResourceURLs"),
    ("clusterroles", {"rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"], "resources": ["p"]}]}, None,
     "rules[0].nonResourceURLs"),
    ("clusterrolebindings", {"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "r"}}, None, "roleRef.kind"),
    ("rolebindings", {"roleRef": {"apiGroup": "x", "kind": "Role", "name": "r"}}, None, "roleRef.apiGroup"),
    ("rolebindings", {"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "a/b"}}, None, "roleRef.name"),
    ("clusterrolebindings", {"roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "r"},
                             "subjects": [{"kind": "ServiceAccount", "name": "s"}]}, None, "subjects[0].namespace"),
    ("rolebindings", {"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "r"},
                      "subjects": [{"kind": "Robot", "name": "s"}]}, None, "subjects[0].kind"),
    ("rolebindings", {"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "r"},
                      "subjects": [{"kind": "User", "name": "s", "apiGroup": ""}]}, None, "subjects[0].apiGroup"),
    ("rolebindings", {"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "r2"}},
     {"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "r"}}, "roleRef"),
])
def test_validation_names_the_field(plural: str, obj: dict[str, Any], old: dict[str, Any] | None, field: str) -> None:
    assert field in [c["field"] for c in validate(plural, obj, old)]


@pytest.mark.parametrize(("plural", "obj"), [
    ("clusterroles", {"rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]}),
    ("roles", {"rules": []}),
    ("rolebindings", {"roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "system:discovery"},
                      "subjects": [{"kind": "ServiceAccount", "name": "s"},
                                   {"kind": "Group", "name": "g", "apiGroup": GROUP}]}),
])
def test_valid_objects_pass(plural: str, obj: dict[str, Any]) -> None:
    assert validate(plural, obj, None) == []


def test_shipped_rbac_is_valid_and_round_trips() -> None:
    import yaml

    from kubenode.api.rbac import all_objects, rbac_yaml

    text = rbac_yaml()
    assert "&id" not in text and "*id" not in text
    docs = list(yaml.safe_load_all(text))
    assert docs[1:] == all_objects() and docs[0]["kind"] == "Namespace"
    for obj in all_objects():
        if obj["kind"] != "ServiceAccount":
            assert validate(obj["kind"].lower() + "s", obj, None) == [], obj["metadata"]["name"]


def test_rbac_command_prints_the_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    from kubenode.api.rbac import rbac_yaml
    from kubenode.cli.main import rbac

    rbac()
    assert capsys.readouterr().out == rbac_yaml()


@pytest.mark.parametrize(("new", "old", "expected"), [
    ({"metadata": {"name": "r", "finalizers": ["x"]}, "rules": []}, {"metadata": {"name": "r"}, "rules": []}, True),
    ({"metadata": {"name": "r", "ownerReferences": [{"uid": "1"}]}, "rules": []},
     {"metadata": {"name": "r"}, "rules": []}, True),
    ({"metadata": {"name": "r", "labels": {"a": "b"}}, "rules": []}, {"metadata": {"name": "r"}, "rules": []}, False),
    ({"metadata": {"name": "r"}, "rules": [{"verbs": ["get"]}]}, {"metadata": {"name": "r"}, "rules": []}, False),
    ({"metadata": {"name": "r"}, "rules": []}, None, False),
])
def test_only_gc_fields(new: dict[str, Any], old: dict[str, Any] | None, expected: bool) -> None:
    from kubenode.apiserver.rbac import only_gc_fields_change

    assert only_gc_fields_change(new, old) is expected


def test_bind_is_asked_in_the_bindings_namespace() -> None:
    """kube delegates `bind` of a ClusterRole per namespace: a RoleBinding in `team` asks in `team`."""
    binder = User("nsbinder", ("system:authenticated",))
    index = RBACIndex(objects=[
        _role("ClusterRole", "admin-ish", [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]),
        _role("Role", "bind-admin", [{"verbs": ["bind"], "apiGroups": [GROUP], "resources": ["clusterroles"],
                                      "resourceNames": ["admin-ish"]}], "team"),
        _binding("RoleBinding", "nsbinder", "Role", "bind-admin", [{"kind": "User", "name": "nsbinder"}], "team"),
    ])
    check_escalation(index, _allowed(index), binder, "rolebindings",
                     _binding("RoleBinding", "b", "ClusterRole", "admin-ish", [], "team"))
    with pytest.raises(StatusError):
        check_escalation(index, _allowed(index), binder, "rolebindings",
                         _binding("RoleBinding", "b", "ClusterRole", "admin-ish", [], "other"))


_SCALAR = st.none() | st.booleans() | st.integers() | st.sampled_from(["", "get", "pods", "*", "/x", "Role", "User"])
_VALUE = _SCALAR | st.lists(_SCALAR, max_size=3)
_ENTRY = st.dictionaries(st.sampled_from(["verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs",
                                          "kind", "name", "apiGroup", "namespace"]), _VALUE, max_size=4)


@given(plural=st.sampled_from(["roles", "clusterroles", "rolebindings", "clusterrolebindings"]),
       body=st.dictionaries(st.sampled_from(["rules", "roleRef", "subjects"]),
                            st.lists(_ENTRY, max_size=3) | _ENTRY | _SCALAR, max_size=3))
def test_validation_never_crashes_and_names_fields(plural: str, body: dict[str, Any]) -> None:
    """Arbitrary input gets field errors (or none), never an exception; the parser never raises either."""
    for cause in validate(plural, body, None):
        assert cause["field"].split("[")[0].split(".")[0] in ("rules", "roleRef", "subjects")
    rules = body.get("rules")
    for raw in rules if isinstance(rules, list) else []:
        parsed = PolicyRule.from_obj(raw)
        assert all(isinstance(v, str) for v in parsed.verbs + parsed.resources + parsed.api_groups)
        rule_allows(parsed, req("get", "pods"))
