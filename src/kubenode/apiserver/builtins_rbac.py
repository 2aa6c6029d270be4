"""The `rbac.authorization.k8s.io/v1` kinds as built-in resources, and SubjectAccessReview.

Schemas follow kube's OpenAPI (field names, required fields, list types;
descriptions shortened), printer columns what kubectl shows (roles: NAME,
CREATED AT; bindings: NAME, ROLE, AGE and, with `-o wide`, USERS, GROUPS,
SERVICEACCOUNTS). `validate` is kube's pkg/apis/rbac/validation: rules need
verbs and either resources with apiGroups or nonResourceURLs (cluster-wide
only), subjects need a known kind, and a binding's roleRef is immutable.
Self-contained (no import of builtins.py, which registers these with one line).
"""

from __future__ import annotations

import re
from typing import Any

from .builtin_columns import CRD_COLUMNS, age_cell
from .errors import Cause, field_cause
from .resources import DEFAULT_VERBS, PrinterColumn, ResourceInfo
from .tables import CREATION_TIMESTAMP_DESCRIPTION

Obj = dict[str, Any]
GROUP = "rbac.authorization.k8s.io"
_META_HINTS: dict[str, tuple[str, str]] = {"metadata.finalizers": ("merge", ""),
                                           "metadata.ownerReferences": ("merge", "uid")}


def _s(description: str) -> Obj:
    return {"type": "string", "description": description, "nullable": True}


def _strs(description: str) -> Obj:
    return {"type": "array", "description": description, "items": {"type": "string"}, "nullable": True,
            "x-kubernetes-list-type": "atomic"}


def _o(description: str, props: dict[str, Obj], required: tuple[str, ...] = ()) -> Obj:
    out: Obj = {"type": "object", "description": description, "properties": props, "nullable": True}
    if required:
        out["required"] = list(required)
    return out


def _root(description: str, props: dict[str, Obj], required: tuple[str, ...] = ()) -> Obj:
    root = _o(description, {
        "apiVersion": _s("APIVersion defines the versioned schema of this representation of an object."),
        "kind": _s("Kind is a string value representing the REST resource this object represents."),
        "metadata": {"type": "object", "description": "Standard object's metadata.", "nullable": True,
                     "x-kubernetes-preserve-unknown-fields": True},
        **props}, required)
    root.pop("nullable")
    return root


_POLICY_RULE = _o(
    "PolicyRule holds information that describes a policy rule, but does not contain information about who the "
    "rule applies to or which namespace the rule applies to.", {
        "apiGroups": _strs("APIGroups is the name of the APIGroup that contains the resources. If multiple API "
                           "groups are specified, any action requested against one of the enumerated resources "
                           "in any API group will be allowed. \"\" represents the core API group and \"*\" "
                           "represents all API groups."),
        "resources": _strs("Resources is a list of resources this rule applies to. '*' represents all "
                           "resources."),
        "resourceNames": _strs("ResourceNames is an optional white list of names that the rule applies to.  An "
                               "empty set means that everything is allowed."),
        "nonResourceURLs": _strs("NonResourceURLs is a set of partial urls that a user should have access to.  "
                                 "*s are allowed, but only as the full, final step in the path. Rules can either "
                                 "apply to API resources (such as \"pods\" or \"secrets\") or non-resource URL "
                                 "paths (such as \"/api\"),  but not both."),
        "verbs": _strs("Verbs is a list of Verbs that apply to ALL the ResourceKinds contained in this rule. '*' "
                       "represents all verbs."),
    }, ("verbs",))
_RULES = {"type": "array", "description": "Rules holds all the PolicyRules for this Role", "items": _POLICY_RULE,
          "nullable": True, "x-kubernetes-list-type": "atomic"}
_SUBJECT = _o(
    "Subject contains a reference to the object or user identities a role binding applies to.  This can either "
    "hold a direct API object reference, or a value for non-objects such as user and group names.", {
        "apiGroup": _s("APIGroup holds the API group of the referenced subject. Defaults to \"\" for "
                       "ServiceAccount subjects. Defaults to \"rbac.authorization.k8s.io\" for User and Group "
                       "subjects."),
        "kind": _s("Kind of object being referenced. Values defined by this API group are \"User\", \"Group\", "
                   "and \"ServiceAccount\"."),
        "name": _s("Name of the object being referenced."),
        "namespace": _s("Namespace of the referenced object.  If the object kind is non-namespace, such as "
                        "\"User\" or \"Group\", and this value is not empty the Authorizer should report an "
                        "error."),
    }, ("kind", "name"))
_ROLE_REF = _o("RoleRef contains information that points to the role being used", {
    "apiGroup": _s("APIGroup is the group for the resource being referenced"),
    "kind": _s("Kind is the type of resource being referenced"),
    "name": _s("Name is the name of resource being referenced"),
}, ("apiGroup", "kind", "name"))
_SUBJECTS = {"type": "array", "description": "Subjects holds references to the objects the role applies to.",
             "items": _SUBJECT, "nullable": True, "x-kubernetes-list-type": "atomic"}

ROLE_SCHEMA = _root("Role is a namespaced, logical grouping of PolicyRules that can be referenced as a unit by a "
                    "RoleBinding.", {"rules": _RULES})
CLUSTER_ROLE_SCHEMA = _root(
    "ClusterRole is a cluster level, logical grouping of PolicyRules that can be referenced as a unit by a "
    "RoleBinding or ClusterRoleBinding.", {
        "rules": _RULES,
        "aggregationRule": {"type": "object", "nullable": True, "x-kubernetes-preserve-unknown-fields": True,
                            "description": "AggregationRule is an optional field that describes how to build "
                                           "the Rules for this ClusterRole (not evaluated by KubeNode's server)."},
    })
ROLE_BINDING_SCHEMA = _root(
    "RoleBinding references a role, but does not contain it.  It can reference a Role in the same namespace or a "
    "ClusterRole in the global namespace.", {"subjects": _SUBJECTS, "roleRef": _ROLE_REF}, ("roleRef",))
CLUSTER_ROLE_BINDING_SCHEMA = _root(
    "ClusterRoleBinding references a ClusterRole, but not contain it.  It can reference a ClusterRole in the "
    "global namespace, and adds who information via Subject.", {"subjects": _SUBJECTS, "roleRef": _ROLE_REF},
    ("roleRef",))


# --------------------------------------------------------------------------- columns


def _subjects(kind: str) -> Any:
    def cell(obj: Obj, _now: float) -> str:
        out = []
        for s in obj.get("subjects") or []:
            if isinstance(s, dict) and s.get("kind") == kind:
                ns = s.get("namespace") or ""
                out.append(f"{ns}/{s.get('name')}" if kind == "ServiceAccount" else str(s.get("name")))
        return ", ".join(out)

    return cell


def _role(obj: Obj, _now: float) -> str:
    ref = obj.get("roleRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


BINDING_COLUMNS: tuple[PrinterColumn, ...] = (
    PrinterColumn(name="Role", description="RoleRef to the role being bound", cell=_role),
    PrinterColumn(name="Age", description=CREATION_TIMESTAMP_DESCRIPTION, cell=age_cell),
    PrinterColumn(name="Users", description="Users in the roleBinding", priority=1, cell=_subjects("User")),
    PrinterColumn(name="Groups", description="Groups in the roleBinding", priority=1, cell=_subjects("Group")),
    PrinterColumn(name="ServiceAccounts", description="ServiceAccounts in the roleBinding", priority=1,
                  cell=_subjects("ServiceAccount")),
)


# --------------------------------------------------------------------------- validation

_SEGMENT_BAD = re.compile(r"[/%]")


def _path_segment(value: str) -> str:
    """kube's path segment name check: "" if `value` may be a role name, else why not."""
    if value in (".", ".."):
        return f'may not be "{value}"'
    if _SEGMENT_BAD.search(value):
        return "may not contain '/' or '%'"
    return ""


def _validate_rules(obj: Obj, namespaced: bool) -> list[Cause]:
    causes: list[Cause] = []
    rules = obj.get("rules")
    for i, rule in enumerate(rules if isinstance(rules, list) else []):  # other types: the schema's error
        path = f"rules[{i}]"
        if not isinstance(rule, dict):
            continue
        if not rule.get("verbs"):
            causes.append(field_cause("FieldValueRequired", f"{path}.verbs",
                                      "Required value: verbs must contain at least one value"))
        if rule.get("nonResourceURLs"):
            urls = rule["nonResourceURLs"]
            if namespaced:
                causes.append(field_cause("FieldValueInvalid", f"{path}.nonResourceURLs",
                                          f"Invalid value: {urls}: namespaced rules cannot apply to non-resource "
                                          "URLs"))
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                causes.append(field_cause("FieldValueInvalid", f"{path}.nonResourceURLs",
                                          f"Invalid value: {urls}: rules cannot apply to both regular resources "
                                          "and non-resource URLs"))
            continue
        if not rule.get("apiGroups"):
            causes.append(field_cause("FieldValueRequired", f"{path}.apiGroups",
                                      "Required value: resource rules must supply at least one api group"))
        if not rule.get("resources"):
            causes.append(field_cause("FieldValueRequired", f"{path}.resources",
                                      "Required value: resource rules must supply at least one resource"))
    return causes


def _validate_binding(obj: Obj, namespaced: bool) -> list[Cause]:
    causes: list[Cause] = []
    ref = obj.get("roleRef")
    ref = ref if isinstance(ref, dict) else {}
    if ref.get("apiGroup") != GROUP:
        causes.append(field_cause("FieldValueNotSupported", "roleRef.apiGroup",
                                  f'Unsupported value: "{ref.get("apiGroup", "")}": supported values: "{GROUP}"'))
    kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if ref.get("kind") not in kinds:
        causes.append(field_cause("FieldValueNotSupported", "roleRef.kind",
                                  f'Unsupported value: "{ref.get("kind", "")}": supported values: '
                                  + ", ".join(f'"{k}"' for k in kinds)))
    name = ref.get("name")
    if not name:
        causes.append(field_cause("FieldValueRequired", "roleRef.name", "Required value"))
    elif isinstance(name, str) and (why := _path_segment(name)):
        causes.append(field_cause("FieldValueInvalid", "roleRef.name", f'Invalid value: "{name}": {why}'))
    subjects = obj.get("subjects")
    for i, s in enumerate(subjects if isinstance(subjects, list) else []):
        if not isinstance(s, dict):
            continue
        path, kind, group = f"subjects[{i}]", s.get("kind"), s.get("apiGroup", "")
        if not s.get("name"):
            causes.append(field_cause("FieldValueRequired", f"{path}.name", "Required value"))
        if kind == "ServiceAccount":
            if group:
                causes.append(field_cause("FieldValueNotSupported", f"{path}.apiGroup",
                                          f'Unsupported value: "{group}": supported values: ""'))
            if not s.get("namespace") and not namespaced:
                causes.append(field_cause("FieldValueRequired", f"{path}.namespace", "Required value"))
        elif kind in ("User", "Group"):
            if group != GROUP:
                causes.append(field_cause("FieldValueNotSupported", f"{path}.apiGroup",
                                          f'Unsupported value: "{group}": supported values: "{GROUP}"'))
        else:
            causes.append(field_cause("FieldValueNotSupported", f"{path}.kind",
                                      f'Unsupported value: "{kind}": supported values: "ServiceAccount", "User", '
                                      '"Group"'))
    return causes


def default_subjects(obj: Obj) -> None:
    """kube's defaulting: User and Group subjects get apiGroup rbac.authorization.k8s.io."""
    subjects = obj.get("subjects")
    for s in subjects if isinstance(subjects, list) else []:
        if isinstance(s, dict) and s.get("kind") in ("User", "Group") and "apiGroup" not in s:
            s["apiGroup"] = GROUP


def validate(plural: str, obj: Obj, old: Obj | None) -> list[Cause]:
    """Field errors of a role or binding write (`old` None on create)."""
    if plural in ("roles", "clusterroles"):
        return _validate_rules(obj, plural == "roles")
    causes = _validate_binding(obj, plural == "rolebindings")
    if old is not None and (old.get("roleRef") or {}) != (obj.get("roleRef") or {}):
        causes.append(field_cause("FieldValueInvalid", "roleRef",
                                  f"Invalid value: {obj.get('roleRef')}: cannot change roleRef"))
    return causes


# --------------------------------------------------------------------------- resources

_ATTRS_DOC = "Authorization attributes"
SUBJECT_ACCESS_REVIEW_SCHEMA = _root(
    "SubjectAccessReview checks whether or not a user or group can perform an action. Answered, never stored.", {
        "spec": _o("SubjectAccessReviewSpec is a description of the access request.  Exactly one of "
                   "ResourceAuthorizationAttributes and NonResourceAuthorizationAttributes must be set", {
            "resourceAttributes": _o("ResourceAttributes describes information for a resource access request", {
                k: _s(k) for k in ("namespace", "verb", "group", "version", "resource", "subresource", "name")}),
            "nonResourceAttributes": _o("NonResourceAttributes describes information for a non-resource access "
                                        "request", {"path": _s("Path is the URL path of the request"),
                                                    "verb": _s("Verb is the standard HTTP verb")}),
            "user": _s("User is the user you're testing for."),
            "groups": _strs("Groups is the groups you're testing for."),
            "uid": _s("UID information about the requesting user."),
            "extra": {"type": "object", "nullable": True, "description": "Extra corresponds to the user.Info."
                      "GetExtra() method from the authenticator.", "additionalProperties": {
                          "type": "array", "items": {"type": "string"}}},
        }),
        "status": _o("SubjectAccessReviewStatus", {
            "allowed": {"type": "boolean", "nullable": True, "description": "Allowed is required. True if the "
                        "action would be allowed, false otherwise."},
            "denied": {"type": "boolean", "nullable": True, "description": "Denied is optional. True if the "
                       "action would be denied, otherwise false."},
            "reason": _s("Reason is optional.  It indicates why a request was allowed or denied."),
            "evaluationError": _s("EvaluationError is an indication that some error occurred during the "
                                  "authorization check."),
        }),
    }, ("spec",))


def _rbac(kind: str, plural: str, namespaced: bool, schema: Obj, columns: tuple[PrinterColumn, ...]) -> ResourceInfo:
    return ResourceInfo(group=GROUP, version="v1", kind=kind, plural=plural, singular=kind.lower(),
                        namespaced=namespaced, verbs=DEFAULT_VERBS, schema=schema, printer_columns=columns,
                        builtin=True, track_generation=False, smp_hints=dict(_META_HINTS))


RBAC_KINDS: tuple[ResourceInfo, ...] = (
    _rbac("Role", "roles", True, ROLE_SCHEMA, CRD_COLUMNS),
    _rbac("ClusterRole", "clusterroles", False, CLUSTER_ROLE_SCHEMA, CRD_COLUMNS),
    _rbac("RoleBinding", "rolebindings", True, ROLE_BINDING_SCHEMA, BINDING_COLUMNS),
    _rbac("ClusterRoleBinding", "clusterrolebindings", False, CLUSTER_ROLE_BINDING_SCHEMA, BINDING_COLUMNS),
    ResourceInfo(group="authorization.k8s.io", version="v1", kind="SubjectAccessReview",
                 plural="subjectaccessreviews", singular="subjectaccessreview", namespaced=False, verbs=("create",),
                 schema=SUBJECT_ACCESS_REVIEW_SCHEMA, builtin=True, track_generation=False,
                 smp_hints=dict(_META_HINTS)),
)
