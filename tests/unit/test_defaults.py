"""Server-side defaults of the built-ins and the default admission mutations, table-driven.

Expected values are what a kube-apiserver 1.32 with its default admission
plugins stores for the same input (`kubectl get -o yaml` of the object).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.apiserver import defaults
from kubenode.apiserver.serviceaccounts import missing_default_accounts

Obj = dict[str, Any]

NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
               "tolerationSeconds": 300}


def created_pod(spec: Obj) -> Obj:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": copy.deepcopy(spec)}
    defaults.apply("/pods", pod, None)
    return pod


def test_a_minimal_pod_is_stored_as_kube_stores_it() -> None:
    pod = created_pod({"containers": [{"name": "web", "image": "nginx"}]})
    assert pod["spec"] == {
        "containers": [{
            "name": "web", "image": "nginx", "imagePullPolicy": "Always", "resources": {},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        }],
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "serviceAccount": "default",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "tolerations": [NOT_READY, UNREACHABLE],
    }


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("docker.io/library/nginx", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("nginx:Latest", "IfNotPresent"),  # tags are case-sensitive
        ("localhost:5000/team/app", "Always"),  # a registry port is not a tag
        ("localhost:5000/team/app:v2", "IfNotPresent"),
        ("registry.example.com/app@sha256:" + "a" * 64, "IfNotPresent"),  # a digest without a tag
        ("registry.example.com/app:latest@sha256:" + "a" * 64, "Always"),
        ("[::1]:5000/app", "Always"),
        ("NGINX", "IfNotPresent"),  # not a valid reference: no tag to speak of
        ("", "IfNotPresent"),
    ],
)
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    assert defaults.default_pull_policy(image) == policy
    pod = created_pod({"containers": [{"name": "c", "image": image}], "initContainers": [{"name": "i", "image": image}],
                       "ephemeralContainers": [{"name": "e", "image": image}]})
    assert [c["imagePullPolicy"] for f in ("containers", "initContainers", "ephemeralContainers")
            for c in pod["spec"][f]] == [policy] * 3


@pytest.mark.parametrize(
    ("given_spec", "path", "expected"),
    [
        # explicit values are kept
        ({"restartPolicy": "Never"}, ("restartPolicy",), "Never"),
        ({"dnsPolicy": "Default"}, ("dnsPolicy",), "Default"),
        ({"terminationGracePeriodSeconds": 0}, ("terminationGracePeriodSeconds",), 0),  # a pointer: 0 is a value
        ({"enableServiceLinks": False}, ("enableServiceLinks",), False),
        ({"schedulerName": "mine"}, ("schedulerName",), "mine"),
        ({"securityContext": {"runAsUser": 1000}}, ("securityContext",), {"runAsUser": 1000}),
        ({"serviceAccountName": "robot"}, ("serviceAccount",), "robot"),
        # the deprecated alias is converted; serviceAccountName wins when both are set
        ({"serviceAccount": "old"}, ("serviceAccountName",), "old"),
        ({"serviceAccount": "old", "serviceAccountName": "new"}, ("serviceAccount",), "new"),
        ({"priorityClassName": "system-node-critical"}, ("priority",), 2000001000),
        ({"priorityClassName": "system-cluster-critical"}, ("priority",), 2000000000),
        ({"preemptionPolicy": "Never"}, ("preemptionPolicy",), "Never"),
        # container fields
        ({"containers": [{"name": "c", "image": "x", "imagePullPolicy": "Never"}]},
         ("containers", 0, "imagePullPolicy"), "Never"),
        ({"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]},
         ("containers", 0, "ports", 0), {"containerPort": 80, "protocol": "TCP"}),
        ({"containers": [{"name": "c", "ports": [{"containerPort": 53, "protocol": "UDP"}]}]},
         ("containers", 0, "ports", 0, "protocol"), "UDP"),
        ({"hostNetwork": True, "containers": [{"name": "c", "ports": [{"containerPort": 8080}]}]},
         ("containers", 0, "ports", 0), {"containerPort": 8080, "protocol": "TCP", "hostPort": 8080}),
        ({"containers": [{"name": "c", "livenessProbe": {"httpGet": {"port": 80}}}]},
         ("containers", 0, "livenessProbe"),
         {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10,
          "successThreshold": 1, "failureThreshold": 3}),
        ({"containers": [{"name": "c", "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5,
                                                          "timeoutSeconds": 0}}]},
         ("containers", 0, "readinessProbe"),
         {"exec": {"command": ["true"]}, "timeoutSeconds": 1, "periodSeconds": 5, "successThreshold": 1,
          "failureThreshold": 3}),
        ({"containers": [{"name": "c", "lifecycle": {"preStop": {"httpGet": {"port": 80}}}}]},
         ("containers", 0, "lifecycle", "preStop", "httpGet"), {"port": 80, "path": "/", "scheme": "HTTP"}),
        ({"containers": [{"name": "c", "env": [{"name": "N", "valueFrom": {"fieldRef": {
            "fieldPath": "metadata.name"}}}]}]},
         ("containers", 0, "env", 0, "valueFrom", "fieldRef"), {"fieldPath": "metadata.name", "apiVersion": "v1"}),
        ({"containers": [{"name": "c", "env": [{"name": "N", "valueFrom": {"resourceFieldRef": {
            "resource": "limits.cpu"}}}]}]},
         ("containers", 0, "env", 0, "valueFrom", "resourceFieldRef"), {"resource": "limits.cpu", "divisor": "0"}),
        ({"containers": [{"name": "c", "resources": {"limits": {"cpu": "1", "memory": "1Gi"},
                                                     "requests": {"cpu": "500m"}}}]},
         ("containers", 0, "resources", "requests"), {"cpu": "500m", "memory": "1Gi"}),
        # volumes
        ({"volumes": [{"name": "scratch"}]}, ("volumes", 0), {"name": "scratch", "emptyDir": {}}),
        ({"volumes": [{"name": "s", "secret": {"secretName": "x"}}]}, ("volumes", 0, "secret"),
         {"secretName": "x", "defaultMode": 420}),
        ({"volumes": [{"name": "s", "configMap": {"name": "x", "defaultMode": 256}}]}, ("volumes", 0, "configMap"),
         {"name": "x", "defaultMode": 256}),
        ({"volumes": [{"name": "d", "downwardAPI": {"items": [{"path": "n", "fieldRef": {
            "fieldPath": "metadata.name"}}]}}]}, ("volumes", 0, "downwardAPI"),
         {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"}}],
          "defaultMode": 420}),
        ({"volumes": [{"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]},
         ("volumes", 0, "projected"),
         {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}], "defaultMode": 420}),
        ({"volumes": [{"name": "h", "hostPath": {"path": "/var/log"}}]}, ("volumes", 0, "hostPath"),
         {"path": "/var/log", "type": ""}),
        ({"volumes": [{"name": "e", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["RWO"]}}}}]},
         ("volumes", 0, "ephemeral", "volumeClaimTemplate", "spec", "volumeMode"), "Filesystem"),
    ],
)
def test_pod_defaults(given_spec: Obj, path: tuple[str | int, ...], expected: Any) -> None:
    spec = {"containers": [{"name": "c", "image": "x:1"}], **given_spec}
    value: Any = created_pod(spec)["spec"]
    for step in path:
        value = value[step]
    assert value == expected


@pytest.mark.parametrize(
    ("tolerations", "expected"),
    [
        (None, [NOT_READY, UNREACHABLE]),
        ([{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
         [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}, NOT_READY, UNREACHABLE]),
        # a pod that already tolerates one of them keeps its own toleration and gets only the other
        ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}],
         [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5},
          UNREACHABLE]),
        ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}],  # no effect: every effect
         [{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}, NOT_READY]),
        ([{"operator": "Exists"}], [{"operator": "Exists"}]),  # tolerates everything
        ([{"operator": "Exists", "effect": "NoSchedule"}],
         [{"operator": "Exists", "effect": "NoSchedule"}, NOT_READY, UNREACHABLE]),
    ],
)
def test_default_toleration_seconds(tolerations: list[Obj] | None, expected: list[Obj]) -> None:
    spec: Obj = {"containers": [{"name": "c", "image": "x"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    assert created_pod(spec)["spec"]["tolerations"] == expected


def test_admission_on_update_only_adds_tolerations() -> None:
    """An update keeps what the client sent for serviceAccountName and priority (kube validation guards them)."""
    old = created_pod({"containers": [{"name": "c", "image": "x"}]})
    new = copy.deepcopy(old)
    del new["spec"]["tolerations"], new["spec"]["priority"]
    defaults.apply("/pods", new, old)
    assert new["spec"]["tolerations"] == [NOT_READY, UNREACHABLE]
    assert "priority" not in new["spec"]


def test_pod_defaulting_is_idempotent() -> None:
    once = created_pod({"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}],
                                        "readinessProbe": {"httpGet": {"port": 80}}}],
                        "volumes": [{"name": "v"}]})
    twice = copy.deepcopy(once)
    defaults.apply("/pods", twice, once)
    assert twice == once


@pytest.mark.parametrize(
    ("containers", "init", "qos"),
    [
        ([{"name": "a"}], [], "BestEffort"),
        ([{"name": "a", "resources": {"requests": {"cpu": "0"}}}], [], "BestEffort"),  # zero counts as unset
        ([{"name": "a", "resources": {"requests": {"cpu": "100m"}}}], [], "Burstable"),
        ([{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}], [], "Guaranteed"),
        ([{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"},
                                      "requests": {"cpu": "1000m", "memory": "1024Mi"}}}], [], "Guaranteed"),
        ([{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "0.5"}}}], [],
         "Burstable"),
        ([{"name": "a", "resources": {"limits": {"cpu": "1"}}}], [], "Burstable"),  # memory limit missing
        ([{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}], [{"name": "i"}], "Burstable"),
        ([{"name": "a", "resources": {"limits": {"nvidia.com/gpu": "1"}}}], [], "BestEffort"),  # only cpu/memory
    ],
)
def test_qos_class(containers: list[Obj], init: list[Obj], qos: str) -> None:
    pod = created_pod({"containers": containers, "initContainers": init})
    assert defaults.pod_qos_class(pod) == qos


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", "1"), ("500m", "0.5"), ("1Ki", "1024"), ("1Gi", "1073741824"), ("1G", "1000000000"),
     ("1e3", "1000"), ("2.5", "2.5"), (".5", "0.5"), (2, "2"), (0.5, "0.5"), ("12x", None), (True, None), ("", None),
     ("1e999999999", None)],
)
def test_parse_quantity(text: Any, value: str | None) -> None:
    parsed = defaults.parse_quantity(text)
    assert (None if parsed is None else parsed.normalize()) == (None if value is None else
                                                                 defaults.Decimal(value).normalize())


@pytest.mark.parametrize(
    ("resource", "obj", "expected"),
    [
        ("/secrets", {"data": {}}, {"data": {}, "type": "Opaque"}),
        ("/secrets", {"type": "kubernetes.io/tls"}, {"type": "kubernetes.io/tls"}),
        ("/namespaces", {}, {"status": {"phase": "Active"}}),
        ("/namespaces", {"status": {"phase": "Terminating"}}, {"status": {"phase": "Terminating"}}),
        ("/nodes", {"status": {"capacity": {"cpu": "4"}}}, {"status": {"capacity": {"cpu": "4"},
                                                                       "allocatable": {"cpu": "4"}}}),
        ("/nodes", {"status": {"capacity": {"cpu": "4"}, "allocatable": {"cpu": "3"}}},
         {"status": {"capacity": {"cpu": "4"}, "allocatable": {"cpu": "3"}}}),
        ("apiextensions.k8s.io/customresourcedefinitions", {"spec": {"group": "g"}},
         {"spec": {"group": "g", "conversion": {"strategy": "None"}}}),
        ("apiextensions.k8s.io/customresourcedefinitions",
         {"spec": {"conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {"service": {"name": "s"}}}}}},
         {"spec": {"conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {"service": {"name": "s",
                                                                                                 "port": 443}}}}}}),
        # kinds kube does not default at all
        ("/configmaps", {"data": {"a": "b"}}, {"data": {"a": "b"}}),
        ("/serviceaccounts", {}, {}),
        ("coordination.k8s.io/leases", {"spec": {}}, {"spec": {}}),
        ("/events", {"reason": "R"}, {"reason": "R"}),
    ],
)
def test_other_builtin_defaults(resource: str, obj: Obj, expected: Obj) -> None:
    obj = copy.deepcopy(obj)
    defaults.apply(resource, obj, None)
    assert obj == expected


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["containers", "volumes", "ports", "tolerations", "resources", "limits",
                                         "requests", "cpu", "memory", "name", "image", "spec", "env", "valueFrom",
                                         "fieldRef", "httpGet", "priorityClassName", "serviceAccount",
                                         "initContainers", "hostNetwork", "projected", "sources"]),
                        inner, max_size=4), max_leaves=20))
def test_defaulting_never_crashes_on_malformed_pods(spec: Any) -> None:
    """Bad shapes are left to validation, which reports them with field paths."""
    pod = {"metadata": {"name": "p"}, "spec": spec}
    defaults.apply("/pods", pod, None)
    defaults.pod_qos_class(pod)


def ns(name: str, *, terminating: bool = False) -> Obj:
    obj: Obj = {"metadata": {"name": name}, "status": {"phase": "Active"}}
    if terminating:
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        obj["status"]["phase"] = "Terminating"
    return obj


@pytest.mark.parametrize(
    ("namespaces", "have", "missing"),
    [
        ([ns("a"), ns("b")], set(), ["a", "b"]),
        ([ns("a"), ns("b")], {"a"}, ["b"]),
        ([ns("a"), ns("b", terminating=True)], set(), ["a"]),
        ([], set(), []),
    ],
)
def test_missing_default_accounts(namespaces: list[Obj], have: set[str], missing: list[str]) -> None:
    assert missing_default_accounts(namespaces, lambda name: name in have) == missing
