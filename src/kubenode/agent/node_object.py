"""The Node object an agent registers and the status it reports: pure functions of facts."""

from __future__ import annotations

from typing import Any

from .facts import AGENT_VERSION, KUBELET_VERSION, HostFacts

Obj = dict[str, Any]

MACHINE_LABEL = "kubenode.io/machine"
GPU_RESOURCE = "nvidia.com/gpu"


def node_labels(facts: HostFacts, node_name: str, machine: str) -> dict[str, str]:
    """The well-known labels a kubelet sets, plus the machine link."""
    labels = {
        "kubernetes.io/arch": facts.arch,
        "kubernetes.io/os": facts.os,
        "kubernetes.io/hostname": node_name,
        "beta.kubernetes.io/arch": facts.arch,
        "beta.kubernetes.io/os": facts.os,
        MACHINE_LABEL: machine,
    }
    if facts.gpus:
        labels["kubenode.io/gpu"] = "true"
        labels["kubenode.io/gpu-vendor"] = facts.gpu_vendor
    return labels


def capacity(facts: HostFacts) -> dict[str, str]:
    """Node capacity in Kubernetes quantities."""
    cap = {"cpu": str(facts.cpus), "memory": f"{facts.memory_bytes // 1024}Ki", "pods": "110",
           "ephemeral-storage": "0"}
    if facts.gpus:
        cap[GPU_RESOURCE] = str(facts.gpus)
    return cap


def node_info(facts: HostFacts) -> dict[str, str]:
    """status.nodeInfo."""
    return {
        "machineID": facts.machine_id, "systemUUID": facts.machine_id, "bootID": facts.boot_id,
        "kernelVersion": facts.kernel, "osImage": facts.os_image,
        "containerRuntimeVersion": f"kubenode-agent://{AGENT_VERSION}", "kubeletVersion": KUBELET_VERSION,
        "kubeProxyVersion": "", "operatingSystem": facts.os, "architecture": facts.arch,
    }


def ready_condition(now: str, previous: Obj | None) -> Obj:
    """The Ready=True condition with a fresh heartbeat, keeping the transition time when unchanged."""
    ltt = previous["lastTransitionTime"] if previous and previous.get("status") == "True" else now
    return {"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "kubenode agent is posting ready status", "lastHeartbeatTime": now,
            "lastTransitionTime": ltt}


def new_node(facts: HostFacts, node_name: str, machine: str, provider_id: str = "") -> Obj:
    """The Node object to register (status is written through /status afterwards)."""
    spec: Obj = {}
    if provider_id:
        spec["providerID"] = provider_id
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node_name, "labels": node_labels(facts, node_name, machine)},
        "spec": spec,
    }


def node_status(facts: HostFacts, now: str, previous_conditions: list[Obj] | None,
                extra_conditions: list[Obj] | None = None) -> Obj:
    """The full status the agent owns: capacity, info, addresses and conditions."""
    prev_ready = next((c for c in previous_conditions or () if c.get("type") == "Ready"), None)
    conditions = [c for c in previous_conditions or () if c.get("type") != "Ready"]
    for extra in extra_conditions or ():
        conditions = [c for c in conditions if c.get("type") != extra.get("type")] + [extra]
    conditions.append(ready_condition(now, prev_ready))
    cap = capacity(facts)
    return {
        "capacity": cap, "allocatable": dict(cap), "nodeInfo": node_info(facts),
        "addresses": facts.addresses, "conditions": conditions,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
    }
