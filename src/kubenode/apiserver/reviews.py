"""Self reviews: `kubectl auth can-i` and `kubectl auth whoami` against the embedded server.

Three create-only resources, computed and never stored, as in kube-apiserver:

* `authorization.k8s.io/v1` **SelfSubjectAccessReview** — may I do this? The
  answer comes from the same `Authorizer` that guards every request, so it
  never disagrees with what the server then does.
* `authorization.k8s.io/v1` **SelfSubjectRulesReview** — what may I do
  (`kubectl auth can-i --list`)? Exact for `system:masters`; for everyone
  else the rules are code, not RBAC objects, so the answer lists what is
  certain (discovery) and says it is `incomplete`, as kube does for
  authorizers that cannot enumerate.
* `authentication.k8s.io/v1` **SelfSubjectReview** — who am I?

Everyone authenticated may ask about themselves (kube grants this to
`system:authenticated` through `system:basic-user`).
"""

from __future__ import annotations

from typing import Any

from . import errors
from .authz import MASTERS, Attributes, Authorizer
from .errors import field_cause
from .objects import now_rfc3339
from .security import User

Obj = dict[str, Any]

AUTHORIZATION = "authorization.k8s.io"
AUTHENTICATION = "authentication.k8s.io"
#: (group, plural) of the review resources: POST only, answered here.
REVIEW_RESOURCES = frozenset({
    (AUTHORIZATION, "selfsubjectaccessreviews"), (AUTHORIZATION, "selfsubjectrulesreviews"),
    (AUTHENTICATION, "selfsubjectreviews"),
})
#: Non-resource URLs any authenticated user may GET: discovery, OpenAPI, version and health.
DISCOVERY_PATHS = ("/api", "/api/*", "/apis", "/apis/*", "/openapi/*", "/version", "/healthz", "/livez",
                   "/readyz")
INCOMPLETE = ("KubeNode's authorization rules are code, not RBAC objects, and cannot be listed: ask about one "
              "action with `kubectl auth can-i VERB RESOURCE [NAME]`")


def review(group: str, plural: str, body: Any, user: User, authorizer: Authorizer) -> Obj:
    """The answered review object for a POST of `body` to `group`/`plural`."""
    kind = {"selfsubjectaccessreviews": "SelfSubjectAccessReview", "selfsubjectrulesreviews": "SelfSubjectRulesReview",
            "selfsubjectreviews": "SelfSubjectReview"}[plural]
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
        out["status"] = {"userInfo": {"username": user.name, "groups": list(user.groups)}}
    elif plural == "selfsubjectaccessreviews":
        out["spec"] = spec
        out["status"] = access_review(spec, user, authorizer)
    else:
        out["spec"] = spec
        out["status"] = rules_review(user)
    return out


def access_review(spec: Obj, user: User, authorizer: Authorizer) -> Obj:
    """`status` of a SelfSubjectAccessReview with `spec`."""
    res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if (res is None) == (non is None):
        raise errors.invalid("SelfSubjectAccessReview", AUTHORIZATION, "", [field_cause(
            "FieldValueInvalid", "spec.resourceAttributes",
            "Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified")])
    which = "resourceAttributes" if res is not None else "nonResourceAttributes"
    attrs = res if res is not None else non
    if not isinstance(attrs, dict):
        raise errors.invalid("SelfSubjectAccessReview", AUTHORIZATION, "", [field_cause(
            "FieldValueInvalid", f"spec.{which}", "Invalid value: must be an object")])
    verb = str(attrs.get("verb") or "")
    if res is not None:
        ok, why = authorizer.allowed(Attributes(
            user, verb, str(attrs.get("group") or ""), str(attrs.get("resource") or ""),
            str(attrs.get("subresource") or ""), str(attrs.get("namespace") or ""), str(attrs.get("name") or "")))
    else:
        ok, why = _non_resource_allowed(user, verb, str(attrs.get("path") or ""))
    if ok:
        return {"allowed": True, "reason": "member of system:masters" if MASTERS in user.groups
                else "allowed by KubeNode's authorization rules"}
    return {"allowed": False, "reason": why}


def _non_resource_allowed(user: User, verb: str, path: str) -> tuple[bool, str]:
    if MASTERS in user.groups:
        return True, ""
    if verb == "get" and any(path == p or (p.endswith("/*") and path.startswith(p[:-1])) for p in DISCOVERY_PATHS):
        return True, ""
    return False, "only discovery, OpenAPI, version and health paths are open to every user"


def rules_review(user: User) -> Obj:
    """`status` of a SelfSubjectRulesReview for `user`."""
    if MASTERS in user.groups:
        return {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": False}
    return {"resourceRules": [
                {"verbs": ["create"], "apiGroups": [AUTHORIZATION],
                 "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
                {"verbs": ["create"], "apiGroups": [AUTHENTICATION], "resources": ["selfsubjectreviews"]}],
            "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": list(DISCOVERY_PATHS)}],
            "incomplete": True, "evaluationError": INCOMPLETE}
