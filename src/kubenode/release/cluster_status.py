"""What a probe of a member cluster saw, as `Cluster.status` (pure: lists in, status out)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from kubenode.api import constants as c
from kubenode.runtime.conditions import get_condition, set_condition

Obj = dict[str, Any]


def node_ready(node: Obj) -> bool:
    """Whether a Node's Ready condition is True."""
    cond = get_condition((node.get("status") or {}).get("conditions"), "Ready")
    return cond is not None and cond.get("status") == c.CONDITION_TRUE


def summarize(version: Obj, nodes: list[Obj], machines: list[Obj], components: list[Obj], jobs: list[Obj],
              policies: list[Obj]) -> Obj:
    """The counts of `Cluster.status` from the member's objects."""
    ready = sum(1 for n in nodes if node_ready(n))
    phases = Counter(str((m.get("status") or {}).get("phase") or c.MACHINE_PHASE_PENDING) for m in machines)
    versions = Counter((str((mc.get("spec") or {}).get("component") or ""),
                        str((mc.get("status") or {}).get("installedVersion") or "")) for mc in components)
    open_jobs = sum(1 for j in jobs if (j.get("status") or {}).get("phase") not in c.JOB_TERMINAL_PHASES)
    return {
        "reachable": True,
        "serverVersion": str(version.get("gitVersion") or ""),
        "nodes": {"total": len(nodes), "ready": ready, "notReady": len(nodes) - ready},
        "machines": {"total": len(machines),
                     "byPhase": [{"phase": p, "count": phases[p]} for p in c.MACHINE_PHASES if phases.get(p)]},
        "components": [{"component": comp, "version": ver, "count": n}
                       for (comp, ver), n in sorted(versions.items())],
        "openRemediations": open_jobs,
        "defenderCircuits": [{"policy": p["metadata"]["name"],
                              "state": str(((p.get("status") or {}).get("circuit") or {}).get("state")
                                           or c.CIRCUIT_CLOSED)} for p in sorted(policies,
                                                                                 key=lambda x: x["metadata"]["name"])],
    }


def reachable_status(previous: Obj, counts: Obj, now: str, generation: int) -> Obj:
    """The status after a successful probe: counts, Reachable=True, Ready from the nodes."""
    conds = [dict(x) for x in previous.get("conditions") or []]
    set_condition(conds, c.CLUSTER_CONDITION_REACHABLE, c.CONDITION_TRUE, c.CLUSTER_REASON_PROBE_SUCCEEDED,
                  f"API server {counts['serverVersion']} answered", observed_generation=generation, now=now)
    nodes = counts["nodes"]
    if nodes["total"] == 0:
        ready = (c.CONDITION_FALSE, c.CLUSTER_REASON_NO_NODES, "the cluster has no nodes")
    elif nodes["notReady"]:
        ready = (c.CONDITION_FALSE, c.CLUSTER_REASON_NODES_NOT_READY,
                 f"{nodes['notReady']} of {nodes['total']} nodes are not Ready")
    else:
        ready = (c.CONDITION_TRUE, c.CLUSTER_REASON_NODES_READY, f"all {nodes['total']} nodes are Ready")
    set_condition(conds, c.CLUSTER_CONDITION_READY, *ready, observed_generation=generation, now=now)
    return {**counts, "observedGeneration": generation, "lastProbeTime": now,
            "message": f"{nodes['ready']}/{nodes['total']} nodes Ready, {counts['machines']['total']} machines",
            "conditions": conds}


def unreachable_status(previous: Obj, reason: str, message: str, now: str, generation: int) -> Obj:
    """The status after a failed probe: the last counts are kept, Reachable and Ready are False."""
    conds = [dict(x) for x in previous.get("conditions") or []]
    set_condition(conds, c.CLUSTER_CONDITION_REACHABLE, c.CONDITION_FALSE, reason, message,
                  observed_generation=generation, now=now)
    set_condition(conds, c.CLUSTER_CONDITION_READY, c.CONDITION_FALSE, c.CLUSTER_REASON_UNREACHABLE,
                  "the cluster cannot be probed", observed_generation=generation, now=now)
    out = {k: v for k, v in previous.items() if k not in ("conditions",)}
    out.update({"reachable": False, "observedGeneration": generation, "lastProbeTime": now, "message": message,
                "conditions": conds})
    return out
