"""The shape of a simulated fleet: what each hollow node registers, as pure functions of its index.

A realistic fleet is mixed: three zones, mostly amd64 with some arm64, a
tenth with GPUs, a few instance sizes. Every choice is a deterministic
function of (seed, index), so a restarted simulator registers the same
fleet and two runs with one seed are comparable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from kubenode.agent.facts import AGENT_VERSION, KUBELET_VERSION
from kubenode.api import constants as c

Obj = dict[str, Any]

#: Label on every simulated Node and Machine (select them with kubectl -l kubenode.io/simulated=true).
LABEL_SIMULATED = "kubenode.io/simulated"
#: The pool label the simulated Machines carry (a MachineComponentSet selects them with it).
LABEL_POOL = "kubenode.io/pool"
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
GPU_RESOURCE = "nvidia.com/gpu"

#: (name, cpus, memory GiB, GPUs) and how many in 20 nodes get it.
INSTANCE_TYPES: tuple[tuple[str, int, int, int, int], ...] = (
    ("general.8x", 8, 32, 0, 9),
    ("general.32x", 32, 128, 0, 6),
    ("memory.16x", 16, 128, 0, 3),
    ("gpu.8x-a100", 96, 1024, 8, 2),
)

#: The conditions a healthy node reports besides Ready (kubelet's pressures, node-problem-detector's defaults).
HEALTHY_CONDITIONS: tuple[tuple[str, str, str], ...] = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("KernelDeadlock", "KernelHasNoDeadlock", "kernel has no deadlock"),
    ("ReadonlyFilesystem", "FilesystemIsNotReadOnly", "Filesystem is not read-only"),
)


@dataclass(frozen=True)
class FleetShape:
    """How the simulated fleet is laid out."""

    prefix: str = "sim"
    region: str = "sim-region-1"
    zones: tuple[str, ...] = ("sim-a", "sim-b", "sim-c")
    arm64_percent: int = 20
    pool: str = "simulated"
    seed: int = 0


@dataclass(frozen=True, slots=True)
class HollowNode:
    """One simulated node's identity (its Machine and Node share the name)."""

    index: int
    name: str
    zone: str
    arch: str
    instance_type: str
    cpus: int
    memory_gib: int
    gpus: int


def _draw(seed: int, index: int, what: str) -> int:
    """A stable pseudo-random integer for (seed, index, what)."""
    return int.from_bytes(hashlib.blake2b(f"{seed}/{index}/{what}".encode(), digest_size=8).digest(), "big")


def node_name(shape: FleetShape, index: int) -> str:
    """The name of simulated node `index` (sorting by name sorts by index)."""
    return f"{shape.prefix}-{index:06d}"


def hollow_node(shape: FleetShape, index: int) -> HollowNode:
    """Simulated node `index` of the fleet."""
    pick = _draw(shape.seed, index, "type") % sum(t[4] for t in INSTANCE_TYPES)
    chosen = INSTANCE_TYPES[-1]
    for entry in INSTANCE_TYPES:
        if pick < entry[4]:
            chosen = entry
            break
        pick -= entry[4]
    type_name, cpus, mem, gpus, _weight = chosen
    arch = "amd64" if gpus or _draw(shape.seed, index, "arch") % 100 >= shape.arm64_percent else "arm64"
    return HollowNode(index=index, name=node_name(shape, index), zone=shape.zones[index % len(shape.zones)],
                      arch=arch, instance_type=type_name, cpus=cpus, memory_gib=mem, gpus=gpus)


def node_labels(shape: FleetShape, node: HollowNode) -> dict[str, str]:
    """The labels a kubelet and a cloud provider would set, plus ours."""
    labels = {
        "kubernetes.io/arch": node.arch, "kubernetes.io/os": "linux", "kubernetes.io/hostname": node.name,
        "beta.kubernetes.io/arch": node.arch, "beta.kubernetes.io/os": "linux",
        ZONE_LABEL: node.zone, REGION_LABEL: shape.region, INSTANCE_TYPE_LABEL: node.instance_type,
        c.LABEL_MACHINE: node.name, LABEL_SIMULATED: "true",
    }
    if node.gpus:
        labels["kubenode.io/gpu"] = "true"
        labels["kubenode.io/gpu-vendor"] = "nvidia"
    return labels


def capacity(node: HollowNode) -> dict[str, str]:
    """Node capacity in Kubernetes quantities."""
    cap = {"cpu": str(node.cpus), "memory": f"{node.memory_gib * 1024 * 1024}Ki", "pods": "110",
           "ephemeral-storage": "500Gi"}
    if node.gpus:
        cap[GPU_RESOURCE] = str(node.gpus)
    return cap


def condition(type_: str, status: str, reason: str, message: str, now: str) -> Obj:
    """A Node condition (NodeCondition shape: with lastHeartbeatTime)."""
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now}


def healthy_conditions(now: str) -> list[Obj]:
    """Every condition of a healthy node, Ready last."""
    conds = [condition(t, "False", r, m, now) for t, r, m in HEALTHY_CONDITIONS]
    conds.append(condition("Ready", "True", "KubeletReady", "kubenode simulator is posting ready status", now))
    return conds


def new_node(shape: FleetShape, node: HollowNode) -> Obj:
    """The Node object to register (status follows through /status)."""
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node.name, "labels": node_labels(shape, node)},
            "spec": {"providerID": f"simulated://{node.name}"}}


def node_status(node: HollowNode, now: str) -> Obj:
    """The full status of a freshly registered, healthy node."""
    cap = capacity(node)
    digest = hashlib.blake2b(node.name.encode(), digest_size=16).hexdigest()
    return {"capacity": cap, "allocatable": dict(cap), "conditions": healthy_conditions(now),
            "addresses": [{"type": "InternalIP", "address": internal_ip(node.index)},
                          {"type": "Hostname", "address": node.name}],
            "nodeInfo": {"machineID": digest, "systemUUID": digest, "bootID": digest,
                         "kernelVersion": "6.1.0-sim", "osImage": "Simulated Linux",
                         "containerRuntimeVersion": f"kubenode-simulator://{AGENT_VERSION}",
                         "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "",
                         "operatingSystem": "linux", "architecture": node.arch},
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}}}


def internal_ip(index: int) -> str:
    """A stable address in 10.128.0.0/9 (room for 8 million nodes)."""
    n = index + 1
    return f"10.{128 + (n >> 16) % 128}.{(n >> 8) & 255}.{n & 255}"


def new_machine(shape: FleetShape, node: HollowNode) -> Obj:
    """The Machine of a hollow node: already provisioned, its Node named in spec.nodeName."""
    labels = {LABEL_SIMULATED: "true", LABEL_POOL: shape.pool, ZONE_LABEL: node.zone,
              "kubernetes.io/arch": node.arch}
    return {"apiVersion": c.API_VERSION, "kind": c.KIND_MACHINE,
            "metadata": {"name": node.name, "labels": labels},
            "spec": {"providerRef": {"name": shape.pool}, "providerID": f"simulated://{node.name}",
                     "nodeName": node.name}}
