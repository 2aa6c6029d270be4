"""kube-apiserver's bootstrap RBAC policy, the part a least-privilege client needs.

As kube-apiserver does at start (plugin/pkg/auth/authorizer/rbac/bootstrappolicy),
the server creates these ClusterRoles and ClusterRoleBindings when they are
missing, as ordinary objects (`kubectl get clusterroles` lists them):

* `system:discovery` (bound to `system:authenticated`): GET of /api, /apis,
  /openapi and their sub-paths, /version and the health paths;
* `system:basic-user` (bound to `system:authenticated`): self reviews
  (`kubectl auth can-i`, `kubectl auth whoami`);
* `system:public-info-viewer` (bound to `system:authenticated` and
  `system:unauthenticated`): /version and health;
* `cluster-admin` (bound to the group `system:masters`): everything.

Objects that exist are left alone (an admin may have edited them), as kube
does for objects whose `rbac.authorization.kubernetes.io/autoupdate` is not
"true" — a simplification: kube also re-adds missing rules to objects that
keep autoupdate "true".
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
GROUP = "rbac.authorization.k8s.io"
_META = {"annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
         "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}
_HEALTH = ["/healthz", "/livez", "/readyz", "/version", "/version/"]


def _cluster_role(name: str, rules: list[Obj]) -> Obj:
    return {"apiVersion": f"{GROUP}/v1", "kind": "ClusterRole", "metadata": {"name": name, **_META},
            "rules": rules}


def _binding(name: str, *groups: str) -> Obj:
    return {"apiVersion": f"{GROUP}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name, **_META},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": g} for g in groups]}


def default_cluster_roles() -> list[Obj]:
    """The bootstrap ClusterRoles (fresh copies)."""
    return [
        _cluster_role("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                                        {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        _cluster_role("system:discovery", [{"nonResourceURLs": [
            "/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", *_HEALTH], "verbs": ["get"]}]),
        _cluster_role("system:basic-user", [
            {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews",
                                                                  "selfsubjectrulesreviews"], "verbs": ["create"]},
            {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}]),
        _cluster_role("system:public-info-viewer", [{"nonResourceURLs": list(_HEALTH), "verbs": ["get"]}]),
    ]


def default_cluster_role_bindings() -> list[Obj]:
    """The bootstrap ClusterRoleBindings (fresh copies)."""
    return [
        _binding("cluster-admin", "system:masters"),
        _binding("system:discovery", "system:authenticated"),
        _binding("system:basic-user", "system:authenticated"),
        _binding("system:public-info-viewer", "system:authenticated", "system:unauthenticated"),
    ]
