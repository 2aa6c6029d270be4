"""Cluster.status from a member's objects: counts, Reachable and Ready, and what a failed probe keeps."""

from __future__ import annotations

from typing import Any

from kubenode.release.cluster_status import reachable_status, summarize, unreachable_status

NOW = "2026-01-01T00:00:00Z"
LATER = "2026-01-01T00:01:00Z"


def node(name: str, ready: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": ready}]}}


def test_summary_counts() -> None:
    counts = summarize(
        {"gitVersion": "v1.32.0"},
        [node("a", "True"), node("b", "Unknown"), node("c", "True")],
        [{"status": {"phase": "Running"}}, {"status": {"phase": "Running"}}, {"status": {"phase": "Failed"}}, {}],
        [{"spec": {"component": "x"}, "status": {"installedVersion": "1.1.0"}},
         {"spec": {"component": "x"}, "status": {"installedVersion": "1.0.0"}},
         {"spec": {"component": "x"}, "status": {"installedVersion": "1.1.0"}}, {"spec": {"component": "y"}}],
        [{"status": {"phase": "Running"}}, {"status": {"phase": "Succeeded"}}, {"status": {}}],
        [{"metadata": {"name": "b"}, "status": {"circuit": {"state": "Open"}}}, {"metadata": {"name": "a"}}])
    assert counts == {
        "reachable": True, "serverVersion": "v1.32.0", "nodes": {"total": 3, "ready": 2, "notReady": 1},
        "machines": {"total": 4, "byPhase": [{"phase": "Pending", "count": 1}, {"phase": "Running", "count": 2},
                                             {"phase": "Failed", "count": 1}]},
        "components": [{"component": "x", "version": "1.0.0", "count": 1},
                       {"component": "x", "version": "1.1.0", "count": 2},
                       {"component": "y", "version": "", "count": 1}],
        "openRemediations": 2,
        "defenderCircuits": [{"policy": "a", "state": "Closed"}, {"policy": "b", "state": "Open"}],
    }


def _conds(st: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in st["conditions"]}


def test_ready_follows_the_nodes_and_a_failed_probe_keeps_the_counts() -> None:
    ok = reachable_status({}, summarize({"gitVersion": "v1"}, [node("a", "True")], [], [], [], []), NOW, 1)
    assert _conds(ok) == {"Reachable": ("True", "ProbeSucceeded"), "Ready": ("True", "AllNodesReady")}
    assert ok["lastProbeTime"] == NOW
    none = reachable_status({}, summarize({}, [], [], [], [], []), NOW, 1)
    assert _conds(none)["Ready"] == ("False", "NoNodes")
    bad = reachable_status({}, summarize({}, [node("a", "False")], [], [], [], []), NOW, 1)
    assert _conds(bad)["Ready"] == ("False", "NodesNotReady")
    lost = unreachable_status(ok, "ProbeFailed", "connection refused", LATER, 1)
    assert lost["reachable"] is False and lost["nodes"] == ok["nodes"] and lost["serverVersion"] == "v1"
    assert _conds(lost) == {"Reachable": ("False", "ProbeFailed"), "Ready": ("False", "Unreachable")}
    reach = next(c for c in lost["conditions"] if c["type"] == "Reachable")
    assert reach["lastTransitionTime"] == LATER and reach["message"] == "connection refused"
