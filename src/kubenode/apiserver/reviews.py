"""Self reviews: `kubectl auth can-i` and `kubectl auth whoami` against the embedded server.

Three create-only resources, computed and never stored, as in kube-apiserver:

* `authorization.k8s.io/v1` **SelfSubjectAccessReview** — may I do this? The
  answer comes from the same `Authorizer` that guards every request, so it
  never disagrees with what the server then does.
* `authorization.k8s.io/v1` **SelfSubjectRulesReview** — what may I do
  (`kubectl auth can-i --list`)? The RBAC rules bound to the caller in the
  namespace (cluster-wide ones included), complete; `incomplete` only when a
  rule that is code (the legacy agent rule chained before RBAC) may decide
  for the caller, as kube says for authorizers that cannot enumerate.
* `authorization.k8s.io/v1` **SubjectAccessReview** — may *they* do this?
  For whoever RBAC lets create subjectaccessreviews (admins).
* `authentication.k8s.io/v1` **SelfSubjectReview** — who am I?

Everyone authenticated may ask about themselves: RBAC's bootstrap role
`system:basic-user` is bound to `system:authenticated` (rbac_defaults.py).
"""

from __future__ import annotations

from typing import Any

from . import errors
from .authz import MASTERS, Attributes, Authorizer
from .errors import field_cause
from .objects import now_rfc3339
from .rbac import PolicyRule, RBACIndex
from .security import User

Obj = dict[str, Any]

AUTHORIZATION = "authorization.k8s.io"
AUTHENTICATION = "authentication.k8s.io"
#: (group, plural) of the review resources: POST only, answered here.
REVIEW_RESOURCES = frozenset({
    (AUTHORIZATION, "selfsubjectaccessreviews"), (AUTHORIZATION, "selfsubjectrulesreviews"),
    (AUTHENTICATION, "selfsubjectreviews"), (AUTHORIZATION, "subjectaccessreviews"),
})
INCOMPLETE = ("some of this user's rights come from a rule that is code, not RBAC objects, and cannot be listed: "
              "ask about one action with `kubectl auth can-i VERB RESOURCE [NAME]`")


def review(group: str, plural: str, body: Any, user: User, authorizer: Authorizer,
           rbac: RBACIndex | None = None) -> Obj:
    """The answered review object for a POST of `body` to `group`/`plural` (rules from `rbac`)."""
    kind = {"selfsubjectaccessreviews": "SelfSubjectAccessReview", "selfsubjectrulesreviews": "SelfSubjectRulesReview",
            "selfsubjectreviews": "SelfSubjectReview", "subjectaccessreviews": "SubjectAccessReview"}[plural]
    if not isinstance(body, dict):
        raise errors.bad_request(f"the body must be an object of kind {kind} ({group}/v1)")
    if body.get("kind", kind) != kind:
        raise errors.bad_request(f"the body must be an object of kind {kind} ({group}/v1), not {body.get('kind')!r}")
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise errors.invalid(kind, group, "", [field_cause("FieldValueInvalid", "spec", "Invalid value: must be an "
                                                                                       "object")])
    out: Obj = {"kind": kind, "apiVersion": f"{group}/v1",
                "metadata": {"creationTimestamp": now_rfc3339()}}
    if plural == "selfsubjectreviews":
        info: Obj = {"username": user.name, "groups": list(user.groups)}
        if user.uid:
            info["uid"] = user.uid
        if user.extra:
            info["extra"] = user.extra_dict()
        out["status"] = {"userInfo": info}
    elif plural == "selfsubjectaccessreviews":
        out["spec"] = spec
        out["status"] = access_review(spec, user, authorizer)
    elif plural == "subjectaccessreviews":
        out["spec"] = spec
        out["status"] = access_review(spec, subject_of(spec), authorizer, kind)
    else:
        out["spec"] = spec
        namespace = spec.get("namespace") or ""
        if not isinstance(namespace, str):
            raise errors.invalid(kind, group, "", [field_cause("FieldValueInvalid", "spec.namespace",
                                                               "Invalid value: must be a string")])
        out["status"] = rules_review(user, namespace, rbac, authorizer)
    return out


def subject_of(spec: Obj) -> User:
    """The user a SubjectAccessReview asks about (422 when it names none)."""
    name, groups, uid, extra = spec.get("user") or "", spec.get("groups") or [], spec.get("uid") or "", \
        spec.get("extra") or {}
    causes = []
    if not isinstance(name, str) or not isinstance(uid, str):
        causes.append(field_cause("FieldValueInvalid", "spec.user", "Invalid value: user and uid must be strings"))
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        causes.append(field_cause("FieldValueInvalid", "spec.groups", "Invalid value: must be a list of strings"))
    if not isinstance(extra, dict) or not all(isinstance(v, list) and all(isinstance(x, str) for x in v)
                                              for v in extra.values()):
        causes.append(field_cause("FieldValueInvalid", "spec.extra", "Invalid value: must map keys to lists of "
                                                                     "strings"))
    if not causes and not name:
        # kube also accepts groups alone; here every identity has a name (User requires one), so ask for it.
        causes.append(field_cause("FieldValueRequired", "spec.user",
                                  "Required value: the user to review (with its groups in spec.groups)"))
    if causes:
        raise errors.invalid("SubjectAccessReview", AUTHORIZATION, "", causes)
    return User(name, tuple(groups), uid=uid, extra=tuple(sorted((k, tuple(v)) for k, v in extra.items())))


def access_review(spec: Obj, user: User, authorizer: Authorizer, kind: str = "SelfSubjectAccessReview") -> Obj:
    """`status` of a SelfSubjectAccessReview with `spec`."""
    res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if (res is None) == (non is None):
        raise errors.invalid(kind, AUTHORIZATION, "", [field_cause(
            "FieldValueInvalid", "spec.resourceAttributes",
            "Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified")])
    which = "resourceAttributes" if res is not None else "nonResourceAttributes"
    attrs = res if res is not None else non
    if not isinstance(attrs, dict):
        raise errors.invalid(kind, AUTHORIZATION, "", [field_cause(
            "FieldValueInvalid", f"spec.{which}", "Invalid value: must be an object")])
    verb = str(attrs.get("verb") or "")
    if res is not None:
        ok, why = authorizer.allowed(Attributes(
            user, verb, str(attrs.get("group") or ""), str(attrs.get("resource") or ""),
            str(attrs.get("subresource") or ""), str(attrs.get("namespace") or ""), str(attrs.get("name") or "")))
    else:
        ok, why = authorizer.allowed(Attributes(user, verb, "", "", "", "", "", path=str(attrs.get("path") or "/")))
    if ok:
        return {"allowed": True, "reason": "member of system:masters" if MASTERS in user.groups
                else "allowed by RBAC or KubeNode's chained authorization rules"}
    return {"allowed": False, "reason": why}


def rules_review(user: User, namespace: str, rbac: RBACIndex | None, authorizer: Authorizer) -> Obj:
    """`status` of a SelfSubjectRulesReview for `user` in `namespace` ("" = cluster-wide rules only)."""
    if MASTERS in user.groups:
        return {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": False}
    rules: tuple[PolicyRule, ...] = rbac.rules_for(user, namespace) if rbac is not None else ()
    resource_rules = [r.to_obj() for r in rules if not r.non_resource_urls]
    # Non-resource rules only count cluster-wide (a RoleBinding to a ClusterRole grants none of them).
    cluster = rbac.rules_for(user, "") if rbac is not None else ()
    non_resource = [r.to_obj() for r in cluster if r.non_resource_urls]
    out: Obj = {"resourceRules": resource_rules, "nonResourceRules": non_resource, "incomplete": False}
    if authorizer.opaque_for(user):
        out["incomplete"] = True
        out["evaluationError"] = INCOMPLETE
    return out
