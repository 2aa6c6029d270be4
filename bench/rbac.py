"""Per-request cost of RBAC authorization, in-process (no HTTP, so the figure does not depend on load much).

Prints microseconds per `Authorizer.allowed` call for an agent-like identity
(group-bound ClusterRole, as `kubenode-agent`) among `--bindings` unrelated
bindings, for a cached decision and right after an RBAC write (incremental index update).

    python bench/rbac.py [--bindings 1000] [--calls 100000]
"""

from __future__ import annotations

import argparse
import time

from kubenode.api.rbac import rbac_objects
from kubenode.apiserver.authz import Attributes, Authorizer
from kubenode.apiserver.rbac import GROUP, RBACIndex
from kubenode.apiserver.rbac_defaults import default_cluster_role_bindings, default_cluster_roles
from kubenode.apiserver.security import User
from kubenode.apiserver.storage import Change


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bindings", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=100_000)
    args = ap.parse_args()
    noise = []
    for i in range(args.bindings):
        noise.append({"kind": "ClusterRole", "metadata": {"name": f"r{i}"}, "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": [f"c{i}"]}]})
        noise.append({"kind": "ClusterRoleBinding", "metadata": {"name": f"b{i}"},
                      "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": f"r{i}"},
                      "subjects": [{"kind": "User", "name": f"user-{i}"}]})
    index = RBACIndex(objects=[*default_cluster_roles(), *default_cluster_role_bindings(), *rbac_objects(), *noise])
    authz = Authorizer()
    authz.add(index.rule, listable=True)
    agent = User("kubenode:agent:n1", ("kubenode:agents", "system:authenticated"))
    allowed = Attributes(agent, "patch", "", "nodes", "status", "", "n1")
    denied = Attributes(agent, "get", "", "secrets", "", "kubenode-system", "x")
    for label, attrs in (("allowed (patch nodes/status)", allowed), ("denied (get secrets)", denied)):
        authz.allowed(attrs)
        t0 = time.perf_counter()
        for _ in range(args.calls):
            authz.allowed(attrs)
        per = (time.perf_counter() - t0) / args.calls * 1e6
        print(f"{label}: {per:.2f} µs per request ({args.bindings} other bindings, cached)")
    writes = 1000
    t0 = time.perf_counter()
    for i in range(writes):  # an RBAC write as the store reports it, then the next request
        role = {"kind": "ClusterRole", "metadata": {"name": "r0"}, "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": [f"c{i}"]}]}
        index._on_commit([Change(i, "MODIFIED", f"{GROUP}/clusterroles//r0", role, None)])
        authz.allowed(allowed)
    per = (time.perf_counter() - t0) / writes * 1e6
    print(f"an RBAC write and the next request ({len(index)} roles and bindings): {per:.1f} µs")

if __name__ == "__main__":
    main()
