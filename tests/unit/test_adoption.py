"""Table-driven tests of the adoption planner (`existing` InfraProviders) and its parameters."""

from __future__ import annotations

from typing import Any

import pytest

from kubenode.machine.adoption_controller import ANNOTATION_ADOPT, LABEL_INFRA_PROVIDER, adopted_machine, plan_adoption
from kubenode.machine.phases import Timeouts, compute_status, parse_time
from kubenode.providers.base import InfraStatus
from kubenode.providers.existing import parse_parameters

Obj = dict[str, Any]


def node(name: str, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> Obj:
    return {"metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}}}


def machine(name: str, provider: str = "", deleting: bool = False) -> Obj:
    meta: Obj = {"name": name, "labels": {LABEL_INFRA_PROVIDER: provider} if provider else {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta}


GPU = {"matchLabels": {"pool": "gpu"}}
NODES = [node("a", {"pool": "gpu"}), node("b", {"pool": "gpu"}), node("c", {"pool": "cpu"})]


@pytest.mark.parametrize(("selector", "nodes", "machines", "adopt", "skipped", "count"), [
    (GPU, NODES, {}, ["a", "b"], [], 2),
    ({}, NODES, {}, ["a", "b", "c"], [], 3),  # {} adopts every Node
    (GPU, NODES, {"a": machine("a", "p")}, ["b"], [], 2),
    (GPU, NODES, {"a": machine("a", "other")}, ["b"], ["a"], 1),  # a Machine of that name is not ours
    (GPU, NODES, {"a": machine("a", "p", deleting=True)}, ["b"], ["a"], 1),  # not while its Machine goes
    (GPU, [node("a", {"pool": "gpu"}, {ANNOTATION_ADOPT: "false"}), NODES[1]], {}, ["b"], ["a"], 1),
    ({"matchExpressions": [{"key": "pool", "operator": "In", "values": ["cpu", "gpu"]}]}, NODES, {},
     ["a", "b", "c"], [], 3),
    ({"matchExpressions": [{"key": "pool", "operator": "NotIn", "values": ["gpu"]}]}, NODES, {}, ["c"], [], 1),
    ({"matchExpressions": [{"key": "pool", "operator": "DoesNotExist"}]}, NODES, {}, [], [], 0),
    # a node that stops matching keeps its Machine (counted), nothing is deleted
    (GPU, [node("a", {"pool": "cpu"})], {"a": machine("a", "p")}, [], [], 1),
])
def test_plan_adoption(selector: Obj, nodes: list[Obj], machines: dict[str, Obj], adopt: list[str],
                       skipped: list[str], count: int) -> None:
    plan = plan_adoption("p", selector, nodes, machines)
    assert plan.adopt == adopt
    assert sorted(plan.skipped) == skipped
    assert plan.machines == count


def test_adopted_machine_names_its_node_and_provider() -> None:
    ip = {"metadata": {"name": "fleet"}}
    m = adopted_machine(ip, node("worker-1"))
    assert m["metadata"] == {"name": "worker-1", "labels": {LABEL_INFRA_PROVIDER: "fleet"}}
    assert m["spec"] == {"providerRef": {"name": "fleet"}, "nodeName": "worker-1",
                         "providerID": "existing://worker-1"}


@pytest.mark.parametrize(("parameters", "error"), [
    (None, "must be an object"),
    ({}, "nodeSelector is required"),
    ({"nodeSelector": "pool=gpu"}, "nodeSelector is required"),
    ({"nodeSelector": {"matchLabel": {"a": "b"}}}, "unknown field(s) matchLabel"),
    ({"nodeSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}, "not a valid label selector"),
    ({"nodeSelector": {"matchLabels": {"bad key!": "x"}}}, "nodeSelector"),
])
def test_parameters_refused_with_what_to_fix(parameters: Any, error: str) -> None:
    with pytest.raises(ValueError, match=None) as exc:
        parse_parameters(parameters)
    assert error in str(exc.value)


def test_parameters_accepted() -> None:
    assert parse_parameters({"nodeSelector": GPU}) == GPU


NOW = parse_time("2026-01-01T01:00:00Z") or 0.0


@pytest.mark.parametrize(("heartbeat", "agent_required", "phase"), [
    (None, False, "Running"),  # the agent registers the Node itself: a Ready Node is enough
    (None, True, "Bootstrapping"),  # adopted: the kubelet made it Ready; wait for the agent
    ("2026-01-01T00:59:55Z", True, "Running"),
])
def test_adopted_machine_runs_once_its_agent_reports(heartbeat: str | None, agent_required: bool,
                                                      phase: str) -> None:
    status: Obj = {"agent": {"version": "x", "lastHeartbeatTime": heartbeat}} if heartbeat else {}
    m = {"metadata": {"name": "w", "generation": 1, "creationTimestamp": "2026-01-01T00:59:00Z"}, "spec": {},
         "status": status}
    nd = {"metadata": {"name": "w", "uid": "n"}, "status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}
    st = compute_status(m, InfraStatus("Running", provider_id="existing://w"), nd, NOW, Timeouts(),
                        agent_required=agent_required)
    assert st["phase"] == phase
