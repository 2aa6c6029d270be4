"""The objects of three API-server hot paths: the unit tests check what is done with them, `bench/hotpaths.py`
times it (the tests assert no timings).

* a small MachineComponentSet-like custom resource and its structural schema (tests/unit/test_schema.py);
* a Node and an agent's heartbeat patch of its status, with the Node's strategic-merge hints
  (tests/unit/test_apply.py).
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

NODE_HINTS: dict[str, tuple[str, str]] = {
    "metadata.finalizers": ("merge", ""),
    "spec.taints": ("merge", "key"),
    "status.conditions": ("merge", "type"),
}


def small_cr_schema() -> Obj:
    """The structural schema of `small_cr()`: an object whose `spec` is a component set's."""
    spec = {
        "component": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": "^[a-z0-9-]+$"},
        "paused": {"type": "boolean"},
        "selector": {
            "type": "object",
            "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}},
        },
        "template": {
            "type": "object",
            "properties": {
                "version": {"type": "string"},
                "run": {
                    "type": "object",
                    "properties": {
                        "command": {"type": "array", "items": {"type": "string"}},
                        "env": {
                            "type": "array",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"],
                            "items": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
                            },
                        },
                    },
                },
                "healthCheck": {
                    "type": "object",
                    "properties": {
                        k: {"type": "integer", "minimum": 0}
                        for k in ("period", "timeout", "failures", "delay")
                    },
                },
                "files": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                    },
                },
                "disruption": {"type": "string", "enum": ["None", "Restart", "Drain", "Reboot"]},
            },
        },
        "batches": {"type": "array", "items": {"x-kubernetes-int-or-string": True}},
    }
    return {"type": "object", "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": spec},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}


def small_cr() -> Obj:
    """A small custom resource, valid under `small_cr_schema()`."""
    return {"apiVersion": "x.io/v1", "kind": "X", "metadata": {"name": "a"}, "spec": {
        "component": "kubelet",
        "paused": False,
        "selector": {"matchLabels": {"a": "b", "c": "d"}},
        "template": {
            "version": "1.1.0",
            "run": {
                "command": ["bin/x", "--flag"],
                "env": [{"name": "K", "value": "V"}, {"name": "L", "value": "W"}],
            },
            "healthCheck": {"period": 5, "timeout": 5, "failures": 3, "delay": 0},
            "files": [{"path": "etc/x.conf", "content": "x" * 400}],
            "disruption": "None",
        },
        "batches": [1, 5, "10%"],
    }}


def heartbeat_node() -> Obj:
    """A Node as an agent keeps it: labels, a taint, five conditions, addresses and node info."""
    conditions = [{"type": t, "status": "False", "reason": "Fine", "message": "all good " * 5,
                   "lastHeartbeatTime": "2024-01-01T00:00:00Z", "lastTransitionTime": "2024-01-01T00:00:00Z"}
                  for t in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "KernelDeadlock")]
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n", "labels": {f"l{i}": "v" * 10 for i in range(10)}},
            "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}], "podCIDR": "10.0.0.0/24"},
            "status": {"conditions": conditions, "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "x" * 40}}}


def heartbeat_patch() -> Obj:
    """The strategic-merge patch of a heartbeat: the Ready condition's lastHeartbeatTime moves on."""
    return {"status": {"conditions": [{"type": "Ready", "lastHeartbeatTime": "2024-01-01T00:00:10Z"}]}}
