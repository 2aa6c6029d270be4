"""Valid manifests of every KubeNode kind, shared by the schema unit tests and the CRD integration test."""

from __future__ import annotations

from typing import Any

from kubenode import api

Obj = dict[str, Any]
SHA = "a" * 64


def manifest(kind: str, name: str, spec: Obj, status: Obj | None = None) -> Obj:
    """A KubeNode object."""
    o: Obj = {"apiVersion": api.API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}
    if status is not None:
        o["status"] = status
    return o


TEMPLATE: Obj = {
    "version": "1.1.0",
    "source": {"url": "https://example.com/x-1.1.0.tar.gz", "sha256": SHA},
    "run": {"command": ["bin/x", "--flag", "--config=/etc/x.conf"], "env": [{"name": "K", "value": "V"}]},
    "healthCheck": {"exec": {"command": ["bin/check"]}},
    "files": [{"path": "etc/x.conf", "content": "a = 1\n"}],
    "disruption": "None",
}

GOOD: list[tuple[str, Obj]] = [
    ("InfraProvider", manifest("InfraProvider", "local", {"type": "local"})),
    ("InfraProvider", manifest("InfraProvider", "cloud", {
        "type": "libcloud", "parameters": {"driver": "ec2", "region": "eu-west-1", "nested": {"a": [1]}},
        "credentialsSecretRef": {"name": "aws", "namespace": "kubenode-system"}})),
    ("Machine", manifest("Machine", "m1", {"providerRef": {"name": "local"}})),
    ("Machine", manifest("Machine", "m2", {
        "import": {"address": "10.0.0.5", "sshSecretRef": {"name": "ssh", "namespace": "kubenode-system"}},
        "nodeName": "node-2.example", "nodeLabels": {"gpu": "true"},
        "nodeTaints": [{"key": "kubenode.io/gpu", "effect": "NoSchedule"}], "unschedulable": True,
    }, status={
        "phase": "Running", "nodeRef": {"apiVersion": "v1", "kind": "Node", "name": "node-2.example", "uid": "u"},
        "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}],
        "agent": {"version": "0.1.0", "lastHeartbeatTime": "2026-01-01T00:00:00Z", "bootID": "b"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}],
    })),
    ("MachineSet", manifest("MachineSet", "pool", {
        "replicas": 3, "selector": {"matchLabels": {"pool": "a"}},
        "template": {"metadata": {"labels": {"pool": "a"}}, "spec": {"providerRef": {"name": "local"}}},
        "deletePolicy": "Oldest"})),
    ("MachineComponentSet", manifest("MachineComponentSet", "x", {
        "component": "x", "selector": {}, "template": TEMPLATE,
        "updateStrategy": {"rollingUpdate": {"batches": [1, 5, "10%", "100%"], "maxUnavailable": "25%",
                                             "maxFailures": "5%", "pauseAfterBatches": [1, 2],
                                             "batchSoakSeconds": 60, "rollbackOnFailure": True}}})),
    ("MachineComponentSet", manifest("MachineComponentSet", "containerd", {
        "component": "containerd", "selector": {"matchExpressions": [{"key": "os", "operator": "Exists"}]},
        "template": {"version": "1.7.2", "source": {"package": {"name": "containerd", "version": "1.7.*"}},
                     "healthCheck": {"tcp": {"port": 10250}}, "disruption": "Drain"}})),
    ("MachineComponent", manifest("MachineComponent", "m1-x", {
        "machineName": "m1", "component": "x", "revision": "abc", **TEMPLATE},
        status={"phase": "Running", "installedVersion": "1.1.0", "healthy": True})),
    ("NodeRemedier", manifest("NodeRemedier", "default", {
        "selector": {}, "rules": [{
            "name": "hung", "conditions": [{"type": "KernelDeadlock", "status": "True", "forSeconds": 0},
                                           {"type": "Ready", "status": "Unknown"}],
            "actions": [{"type": "RestartComponent", "component": "kubelet", "timeoutSeconds": 60},
                        {"type": "RunScript", "script": "flush-caches.sh"},
                        {"type": "Reboot"}, {"type": "Replace"}],
        }]})),
    ("RemedyOperationJob", manifest("RemedyOperationJob", "j1", {
        "nodeName": "node-1", "remedier": "default", "rule": "hung", "action": {"type": "Reboot"}},
        status={"phase": "Denied", "defender": {"decision": "Denied", "policy": "default", "rule": "reboots",
                                                "reason": "BudgetExhausted"}})),
    ("DefenderPolicy", manifest("DefenderPolicy", "default", {
        "rules": [
            {"name": "reboots", "operations": ["Remediation"], "actions": ["Reboot", "Replace"],
             "budgets": [{"window": "1m", "limit": 1}, {"window": "1h", "limit": 10}, {"window": "24h", "limit": 50}],
             "maxConcurrent": 3},
            {"name": "storm", "operations": ["Remediation"], "maxUnhealthy": "30%", "selector": {},
             "topologyKey": "topology.kubernetes.io/zone"},
            {"name": "storm-count", "operations": ["Remediation"], "maxUnhealthy": 5},
            {"name": "change-freeze", "operations": ["Remediation", "ComponentUpgrade"],
             "freezeWindows": [{"schedule": "0 20 * * 5", "durationSeconds": 216000}]},
            {"name": "deletions-need-approval", "operations": ["MachineDeletion"], "requireApproval": True},
        ],
        "circuitBreaker": {"cooldownSeconds": 300}},
        status={"circuit": {"state": "Open"},
                "rules": [{"name": "reboots", "budgets": [{"window": "1m", "limit": 1, "used": 1, "remaining": 0}]}]})),
    ("Cluster", manifest("Cluster", "prod-eu-1", {
        "kubeconfigSecretRef": {"name": "cluster-prod-eu-1", "namespace": "kubenode-system"}},
        status={"reachable": True, "serverVersion": "v1.32.0", "lastProbeTime": "2026-01-01T00:00:00Z",
                "nodes": {"total": 3, "ready": 2, "notReady": 1},
                "machines": {"total": 3, "byPhase": [{"phase": "Running", "count": 2},
                                                     {"phase": "Failed", "count": 1}]},
                "components": [{"component": "x", "version": "1.1.0", "count": 3}], "openRemediations": 1,
                "defenderCircuits": [{"policy": "default", "state": "Closed"}],
                "conditions": [{"type": "Reachable", "status": "True", "reason": "ProbeSucceeded", "message": "",
                                "lastTransitionTime": "2026-01-01T00:00:00Z"}]})),
    ("ComponentRelease", manifest("ComponentRelease", "x-1-1-0", {
        "component": "x", "selector": {}, "template": TEMPLATE,
        "updateStrategy": {"rollingUpdate": {"batches": [1, "50%"], "batchSoakSeconds": 5}},
        "stages": [
            {"name": "test", "clusterSelector": {"matchLabels": {"kubenode.io/stage": "test"}}},
            {"name": "pre", "clusterSelector": {"matchLabels": {"kubenode.io/stage": "pre"}},
             "clusterBatches": [1, "25%"], "soakSeconds": 60, "maxFailedClusters": 1},
            {"name": "prod", "clusterSelector": {"matchLabels": {"kubenode.io/stage": "prod"}},
             "clusterBatches": ["10%"], "soakSeconds": 600, "requireApproval": True},
        ]},
        status={"phase": "Progressing", "revision": "abc", "version": "1.1.0", "currentStage": "pre",
                "stages": [{"name": "test", "phase": "Succeeded", "startedAt": "2026-01-01T00:00:00Z",
                            "completedAt": "2026-01-01T00:01:00Z", "currentBatch": 1, "totalBatches": 1,
                            "clusters": [{"name": "test-1", "phase": "Succeeded", "batch": 1,
                                          "previousVersion": "1.0.0"}]},
                           {"name": "pre", "phase": "Rolling", "clusters": [{"name": "pre-1", "phase": "Rolling"}]}]})),
]
