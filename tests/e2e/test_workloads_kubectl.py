"""Deployments, ReplicaSets, DaemonSets, PodDisruptionBudgets and Services through the real kubectl.

What a user of `kubectl create deployment`, `kubectl expose`, `kubectl scale` and `kubectl get` sees must be
what kube-apiserver answers: defaults, columns, allocated cluster IPs, status only through /status, errors
with field paths. No controller runs the pods (docs/builtins.md), so status is whatever is written to /status.
"""

from __future__ import annotations

import json

import pytest

from .conftest import Cluster

pytestmark = pytest.mark.e2e

DAEMONSET = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: wl}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {kubernetes.io/os: linux}
      containers: [{name: agent, image: "example.org/agent:1.0"}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: wl}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: web}}
"""


def test_kubectl_workloads_behave_as_on_kube(cluster: Cluster) -> None:
    c = cluster
    c.kubectl("create", "namespace", "wl")
    c.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=2", "-n", "wl")
    web = c.get_json("deployment", "web", "-n", "wl")
    spec = web["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    pod_spec = spec["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Always" and pod_spec["schedulerName"] == "default-scheduler"
    assert "enableServiceLinks" not in pod_spec  # SetDefaults_Pod only, never templates
    assert pod_spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert web["metadata"]["generation"] == 1 and web["status"] == {}

    table = c.kubectl("get", "deployment", "web", "-n", "wl", "-o", "wide").table()
    assert table[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert table[1][:4] == ["web", "0/2", "0", "0"] and table[1][5:] == ["nginx", "nginx:1.27", "app=web"]

    # scale through the /scale subresource; the generation moves, the status does not
    c.kubectl("scale", "deployment", "web", "--replicas=3", "-n", "wl")
    web = c.get_json("deployment", "web", "-n", "wl")
    assert web["spec"]["replicas"] == 3 and web["metadata"]["generation"] == 2
    scale = json.loads(c.kubectl("get", "--raw", "/apis/apps/v1/namespaces/wl/deployments/web/scale").stdout)
    assert scale["status"]["selector"] == "app=web" and scale["spec"]["replicas"] == 3

    # status is written only through /status (a controller's job here)
    c.kubectl("patch", "deployment", "web", "-n", "wl", "--type=merge", "-p", '{"status":{"readyReplicas":3}}')
    assert c.get_json("deployment", "web", "-n", "wl")["status"] == {}
    c.kubectl("patch", "deployment", "web", "-n", "wl", "--subresource=status", "--type=merge",
              "-p", '{"status":{"readyReplicas":3,"availableReplicas":3,"updatedReplicas":3,"replicas":3}}')
    assert c.kubectl("get", "deployment", "web", "-n", "wl").table()[1][:4] == ["web", "3/3", "3", "3"]

    # the selector is immutable and must match the template
    r = c.kubectl_fails("patch", "deployment", "web", "-n", "wl", "--type=merge",
                        "-p", '{"spec":{"selector":{"matchLabels":{"app":"other"}}}}')
    assert "spec.selector" in r.stderr and "field is immutable" in r.stderr, r
    assert "`selector` does not match template `labels`" in r.stderr, r

    # kubectl expose: a Service with an allocated cluster IP, targetPort defaulted
    c.kubectl("expose", "deployment", "web", "--port=80", "-n", "wl")
    svc = c.get_json("service", "web", "-n", "wl")
    ip = svc["spec"]["clusterIP"]
    assert ip.startswith("10.") and svc["spec"]["clusterIPs"] == [ip]
    assert svc["spec"]["ports"][0]["targetPort"] == 80 and svc["spec"]["ports"][0]["protocol"] == "TCP"
    assert (svc["spec"]["sessionAffinity"], svc["spec"]["internalTrafficPolicy"]) == ("None", "Cluster")
    assert svc["spec"]["ipFamilies"] == ["IPv4"] and svc["status"] == {"loadBalancer": {}}
    table = c.kubectl("get", "svc", "web", "-n", "wl", "-o", "wide").table()
    assert table[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    assert table[1][:5] == ["web", "ClusterIP", ip, "<none>", "80/TCP"] and table[1][6] == "app=web"
    # a second Service cannot take the same address; a NodePort one gets a node port
    r = c.kubectl_fails("create", "service", "clusterip", "dup", "--tcp=80", f"--clusterip={ip}", "-n", "wl")
    assert "provided IP is already allocated" in r.stderr, r
    c.kubectl("create", "service", "nodeport", "np", "--tcp=8080:80", "-n", "wl")
    node_port = c.get_json("service", "np", "-n", "wl")["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    assert c.kubectl("get", "svc", "np", "-n", "wl").table()[1][4] == f"8080:{node_port}/TCP"
    # replacing the manifest without the allocated IP keeps it
    svc.pop("status")
    svc["spec"].pop("clusterIP")
    svc["spec"].pop("clusterIPs")
    svc["metadata"].pop("resourceVersion")
    c.kubectl("replace", "-f", "-", stdin=json.dumps(svc))
    assert c.get_json("service", "web", "-n", "wl")["spec"]["clusterIP"] == ip

    c.kubectl("apply", "-f", "-", stdin=DAEMONSET)
    ds = c.get_json("daemonset", "agent", "-n", "wl")
    assert ds["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert ds["status"] == {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                            "numberReady": 0}
    table = c.kubectl("get", "ds", "-n", "wl").table()
    assert table[0] == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE", "SELECTOR", "AGE"]
    assert table[1][:7] == ["agent", "0", "0", "0", "0", "0", "kubernetes.io/os=linux"]
    table = c.kubectl("get", "pdb", "-n", "wl").table()
    assert table[0] == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE"]
    assert table[1][:4] == ["web", "N/A", "1", "0"]
    r = c.kubectl_fails("create", "pdb", "bad", "-n", "wl", "--selector=app=web", "--min-available=120%")
    assert "spec.minAvailable" in r.stderr and "must not be greater than 100%" in r.stderr, r

    # `kubectl get all` lists the workloads (category "all"); nothing runs their pods
    listed = c.kubectl("get", "all", "-n", "wl").stdout
    for name in ("deployment.apps/web", "daemonset.apps/agent", "service/web"):
        assert name in listed, listed
    assert c.kubectl("get", "pods", "-n", "wl", "-o", "name").stdout.strip() == ""
    assert c.kubectl("get", "replicasets", "-n", "wl", "-o", "name").stdout.strip() == ""
    # explain reads the served OpenAPI
    explained = c.kubectl("explain", "deployment.spec.strategy.rollingUpdate").stdout
    assert "maxSurge" in explained and "maxUnavailable" in explained
