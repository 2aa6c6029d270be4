"""RBAC with the real kubectl against a real `kubenode apiserver`: bindings change what a token may do."""

from __future__ import annotations

import json

import pytest
import yaml

from kubenode.api import crds_yaml
from kubenode.api.rbac import all_objects

from .conftest import Cluster

pytestmark = pytest.mark.e2e


def test_a_token_is_denied_until_a_binding_allows_it(cluster: Cluster) -> None:
    c = cluster
    c.kubectl("create", "namespace", "rbac-e2e")
    c.kubectl("create", "serviceaccount", "robot", "-n", "rbac-e2e")
    token = c.kubectl("create", "token", "robot", "-n", "rbac-e2e").stdout.strip()
    as_robot = ("--token", token)
    r = c._run([*as_robot, "get", "configmaps", "-n", "rbac-e2e"])
    assert r.returncode != 0 and "forbidden" in r.stderr.lower(), r
    assert c._run([*as_robot, "auth", "can-i", "list", "configmaps", "-n", "rbac-e2e"]).returncode == 1

    c.kubectl("create", "clusterrole", "cm-reader", "--verb=get,list,watch", "--resource=configmaps")
    c.kubectl("create", "rolebinding", "robot-cm", "-n", "rbac-e2e", "--clusterrole=cm-reader",
              "--serviceaccount=rbac-e2e:robot")
    assert c.kubectl(*as_robot, "get", "configmaps", "-n", "rbac-e2e").returncode == 0
    assert c.kubectl(*as_robot, "auth", "can-i", "list", "configmaps", "-n", "rbac-e2e").stdout.strip() == "yes"
    r = c._run([*as_robot, "get", "configmaps", "-n", "default"])  # only where it is bound
    assert r.returncode != 0 and "forbidden" in r.stderr.lower(), r

    c.kubectl("create", "clusterrolebinding", "robot-cm-everywhere", "--clusterrole=cm-reader",
              "--serviceaccount=rbac-e2e:robot")
    assert c.kubectl(*as_robot, "get", "configmaps", "-A").returncode == 0
    r = c.kubectl("get", "clusterrolebinding", "robot-cm-everywhere", "-o", "wide")
    assert r.table()[0] == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert r.table()[1][1] == "ClusterRole/cm-reader" and r.table()[1][-1] == "rbac-e2e/robot"
    assert c.kubectl("get", "clusterrole", "cm-reader").table()[0] == ["NAME", "CREATED", "AT"]

    # can-i --list shows the rule, from RBAC, with nothing incomplete
    listed = c.kubectl(*as_robot, "auth", "can-i", "--list", "-n", "rbac-e2e")
    assert any(line.split()[0] == "configmaps" and line.endswith("[get list watch]") for line in listed.lines()), \
        listed
    assert "incomplete" not in (listed.stdout + listed.stderr).lower()

    # escalation: it cannot write RBAC, and with the right to write roles still cannot grant what it lacks
    r = c._run([*as_robot, "create", "clusterrolebinding", "grab", "--clusterrole=cluster-admin",
                "--serviceaccount=rbac-e2e:robot"])
    assert r.returncode != 0 and "forbidden" in r.stderr.lower(), r
    c.kubectl("create", "clusterrole", "rbac-writer", "--verb=create", "--resource=clusterroles,clusterrolebindings")
    c.kubectl("create", "clusterrolebinding", "robot-rbac", "--clusterrole=rbac-writer",
              "--serviceaccount=rbac-e2e:robot")
    r = c._run([*as_robot, "create", "clusterrolebinding", "grab", "--clusterrole=cluster-admin",
                "--serviceaccount=rbac-e2e:robot"])
    assert r.returncode != 0 and "attempting to grant RBAC permissions not currently held" in r.stderr, r
    r = c._run([*as_robot, "create", "clusterrole", "secrets", "--verb=get", "--resource=secrets"])
    assert r.returncode != 0 and "attempting to grant RBAC permissions not currently held" in r.stderr, r
    assert c.kubectl(*as_robot, "create", "clusterrole", "mine", "--verb=get", "--resource=configmaps").returncode == 0

    # roleRef is immutable, as in kube
    doc = c.get_json("rolebinding", "robot-cm", "-n", "rbac-e2e")
    doc["roleRef"]["name"] = "mine"
    r = c._run(["replace", "-f", "-"], stdin=json.dumps(doc))
    assert r.returncode != 0 and "cannot change roleRef" in r.stderr, r

    # deleting the binding takes the right away
    c.kubectl("delete", "clusterrolebinding", "robot-cm-everywhere")
    c.kubectl("delete", "rolebinding", "robot-cm", "-n", "rbac-e2e")
    r = c._run([*as_robot, "get", "configmaps", "-n", "rbac-e2e"])
    assert r.returncode != 0 and "forbidden" in r.stderr.lower(), r


def test_kubectl_applies_the_shipped_rbac_and_can_i_as_each_identity(cluster: Cluster) -> None:
    c = cluster
    c.kubectl("create", "namespace", "kubenode-system")
    c.kubectl("apply", "-f", "-", stdin=crds_yaml())  # `kubenode crds | kubectl apply -f -`
    c.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(all_objects()))
    op = "system:serviceaccount:kubenode-system:kubenode-operator"
    agent = ("--as", "kubenode:agent:n1", "--as-group", "kubenode:agents")
    assert c.kubectl("auth", "can-i", "patch", "machines.kubenode.io", "--subresource=status",
                     "--as", op).stdout.strip() == "yes"
    assert c._run(["auth", "can-i", "get", "secrets", "-n", "default", "--as", op]).returncode == 1
    assert c.kubectl("auth", "can-i", "get", "secrets", "-n", "kubenode-system", "--as", op).stdout.strip() == "yes"
    assert c._run(["auth", "can-i", "create", "clusterrolebindings", "--as", op]).returncode == 1
    assert c.kubectl("auth", "can-i", "patch", "nodes/n1", "--subresource=status", *agent).stdout.strip() == "yes"
    assert c._run(["auth", "can-i", "get", "secrets", "-A", *agent]).returncode == 1
    listed = c.kubectl("auth", "can-i", "--list", "--as", op, "-n", "kubenode-system")
    assert any(cells[0] == "secrets" for cells in listed.table()), listed
    # applying the same objects again changes nothing
    again = c.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(all_objects()))
    assert "configured" not in again.stdout, again
