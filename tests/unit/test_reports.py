"""`kubenode report` and `kubenode diagnose` logic: pure functions over objects and query results."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.cli import reports as r
from kubenode.cli.diagnose_cmd import agent_highlights, diagnosis, render
from kubenode.client.agent_endpoint import logs_url

Obj = dict[str, Any]
NOW = 1_800_000_000.0


def ts(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine(name: str, ms: str = "pool", phase: str = "Running", node: str | None = None, ready: str = "True",
            ready_since: float = NOW - 7200, labels: dict[str, str] | None = None, **spec: Any) -> Obj:
    meta = {"name": name, "uid": f"uid-{name}", "labels": {"kubenode.io/machineset": ms, **(labels or {})}}
    return {"metadata": meta,
            "spec": {"providerRef": {"name": "local"}, **spec},
            "status": {"phase": phase, "nodeRef": {"name": node or name},
                       "conditions": [{"type": "NodeReady", "status": ready, "lastTransitionTime": ts(ready_since)}]}}


def not_joined(name: str) -> Obj:
    m = machine(name, phase="Provisioning")
    del m["status"]["nodeRef"]
    return m


def node(name: str, labels: dict[str, str] | None = None, taints: list[Obj] | None = None,
         unschedulable: bool = False) -> Obj:
    return {"metadata": {"name": name, "labels": {"kubenode.io/machine": name, **(labels or {})}},
            "spec": {"taints": taints or [], "unschedulable": unschedulable}}


def mc(machine_name: str, component: str = "x", version: str | None = "1.0", drifted: str | None = None) -> Obj:
    status: Obj = {"phase": "Running"}
    if version:
        status["installedVersion"] = version
    if drifted:
        status["conditions"] = [{"type": "Drifted", "status": "True", "reason": "FileChanged", "message": drifted}]
    return {"metadata": {"name": f"{component}-{machine_name}"},
            "spec": {"machineName": machine_name, "component": component, "version": "1.1"}, "status": status}


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800),
                                               ("1w", 604800)])
def test_parse_window(text: str, seconds: int) -> None:
    assert r.parse_window(text) == seconds


@pytest.mark.parametrize("text", ["", "0h", "5", "h", "1.5h", "-1h", "1y", "1h30m"])
def test_parse_window_rejects_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match="unit s, m, h, d or w"):
        r.parse_window(text)


@pytest.mark.parametrize(("text", "ok"), [("machineset", True), ("label:zone", True), ("label:", False),
                                          ("zone", False), ("", False)])
def test_parse_by(text: str, ok: bool) -> None:
    if ok:
        assert r.parse_by(text) == text
    else:
        with pytest.raises(ValueError, match="machineset"):
            r.parse_by(text)


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([], 50, None), ([3.0], 90, 3.0), ([1.0, 2.0, 3.0, 4.0], 50, 2.5), ([4.0, 1.0, 3.0, 2.0], 100, 4.0),
    ([1.0, 2.0], 0, 1.0), ([0.0, 10.0], 90, 9.0),
])
def test_percentile(values: list[float], q: float, expected: float | None) -> None:
    assert r.percentile(values, q) == expected


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=50), st.floats(min_value=0, max_value=100))
def test_percentile_lies_between_min_and_max(values: list[float], q: float) -> None:
    p = r.percentile(values, q)
    assert p is not None and min(values) <= p <= max(values)


def test_coverage_shares_by_machineset_and_label() -> None:
    fleet = r.Fleet(NOW, machines=[machine("a", labels={"zone": "z1"}), machine("b", labels={"zone": "z1"}),
                                   machine("c", ms="other", labels={"zone": "z2"})],
                    components=[mc("a", version="1.1"), mc("b", version="1.0"), mc("c", version=None),
                                mc("gone")],
                    component_sets=[{"metadata": {"name": "x"}, "spec": {"component": "x",
                                                                         "template": {"version": "1.1"}}}])
    by_set = r.coverage_report(fleet, "machineset")
    pool = next(g for g in by_set["groups"] if g["group"] == "pool")
    x = pool["components"][0]
    assert (x["machines"], x["share"], x["atDesired"], x["desiredVersions"]) == (2, 1.0, 1, ["1.1"])
    assert {v["version"]: v["share"] for v in x["versions"]} == {"1.0": 0.5, "1.1": 0.5}
    other = next(g for g in by_set["groups"] if g["group"] == "other")
    assert [v["version"] for v in other["components"][0]["versions"]] == ["(not installed)"]
    by_zone = r.coverage_report(fleet, "label:zone")
    assert [g["group"] for g in by_zone["groups"]] == ["z1", "z2"]
    _, rows = r.coverage_rows(by_zone)
    assert ("z1", "x", "1.0", "1.1", "1/2", "50.0%") in rows


def test_coverage_counts_machines_missing_a_component() -> None:
    fleet = r.Fleet(NOW, machines=[machine("a"), machine("b")], components=[mc("a")])
    x = r.coverage_report(fleet)["groups"][0]["components"][0]
    assert x["versions"][-1] == {"version": "(missing)", "machines": 1, "share": 0.5}


@pytest.mark.parametrize(("fleet", "key", "finding"), [
    (r.Fleet(NOW, machines=[machine("a")]), "machinesWithoutNodes",
     {"machine": "a", "node": "a", "phase": "Running"}),
    (r.Fleet(NOW, machines=[not_joined("a")], nodes=[]), "machinesWithoutNodes", None),
    (r.Fleet(NOW, machines=[machine("a")], nodes=[node("a"), node("stray")]), "nodesWithoutMachines",
     {"node": "stray"}),
    (r.Fleet(NOW, machines=[machine("a", nodeLabels={"tier": "gold"})], nodes=[node("a", {"tier": "silver"})]),
     "labelDrift", {"machine": "a", "node": "a", "key": "tier", "want": "gold", "have": "silver"}),
    (r.Fleet(NOW, machines=[machine("a", nodeLabels={"tier": "gold"})], nodes=[node("a")]),
     "labelDrift", {"machine": "a", "node": "a", "key": "tier", "want": "gold", "have": None}),
    (r.Fleet(NOW, machines=[machine("a", nodeTaints=[{"key": "k", "value": "v", "effect": "NoSchedule"}])],
             nodes=[node("a")]),
     "taintDrift", {"machine": "a", "node": "a", "taint": "k=v:NoSchedule", "problem": "missing on the Node"}),
    (r.Fleet(NOW, machines=[machine("a", unschedulable=True)], nodes=[node("a")]),
     "taintDrift", {"machine": "a", "node": "a", "taint": "unschedulable",
                    "problem": "Machine wants unschedulable=True"}),
    (r.Fleet(NOW, machines=[machine("a")], nodes=[node("a")], components=[mc("a", drifted="bin/x differs")]),
     "componentDrift", {"machine": "a", "component": "x", "reason": "FileChanged", "message": "bin/x differs"}),
    (r.Fleet(NOW, machines=[machine("a")], nodes=[node("a")], components=[mc("ghost")]),
     "componentsWithoutMachines", {"machinecomponent": "x-ghost", "machine": "ghost"}),
    (r.Fleet(NOW, machines=[machine("a")], nodes=[node("a")], instances={"local": ["a", "orphan"]}),
     "instancesWithoutMachines", {"provider": "local", "instance": "orphan"}),
])
def test_consistency_findings(fleet: r.Fleet, key: str, finding: Obj | None) -> None:
    report = r.consistency_report(fleet)
    if finding is None:
        assert report[key] == [] and report["consistent"] is (not any(report["counts"].values()))
    else:
        assert report[key] == [finding]
        assert report["consistent"] is False and report["counts"][key] == 1
        _, rows = r.consistency_rows(report)
        assert rows


def test_a_synced_fleet_is_consistent() -> None:
    fleet = r.Fleet(NOW, machines=[machine("a", nodeLabels={"tier": "gold"},
                                           nodeTaints=[{"key": "k", "effect": "NoSchedule"}])],
                    nodes=[node("a", {"tier": "gold", "human": "x"},
                                [{"key": "k", "effect": "NoSchedule"}, {"key": "other", "effect": "NoExecute"}])],
                    providers=[{"metadata": {"name": "local"}}, {"metadata": {"name": "cloud"}}],
                    instances={"local": ["a"]})
    report = r.consistency_report(fleet)
    assert report["consistent"] is True
    assert report["providersNotListable"] == ["cloud"]


def job(name: str, phase: str, created: float, healthy_at: float | None = None, done: float | None = None) -> Obj:
    status: Obj = {"phase": phase}
    if done is not None:
        status["completionTime"] = ts(done)
    if healthy_at is not None:
        status["conditions"] = [{"type": "Complete", "status": "True", "reason": "NodeHealthyAgain",
                                 "lastTransitionTime": ts(healthy_at)}]
    return {"metadata": {"name": name, "creationTimestamp": ts(created)}, "spec": {"nodeName": "n"}, "status": status}


def mcs(name: str, phase: str, started: float, degraded: bool = False) -> Obj:
    conds = [{"type": "Degraded", "status": "True" if degraded else "False"}]
    return {"metadata": {"name": name}, "spec": {"component": name},
            "status": {"phase": phase, "updateRevision": "r2", "conditions": conds,
                       "revisions": [{"name": "r1", "createdAt": ts(started - 99999)},
                                     {"name": "r2", "version": "2", "createdAt": ts(started)}]}}


def test_slo_from_objects() -> None:
    fleet = r.Fleet(NOW, machines=[machine("a"), machine("b", ready="False"), machine("c", ready_since=NOW - 60)],
                    jobs=[job("j1", "Succeeded", NOW - 300, NOW - 240, NOW - 250),
                          job("j2", "Succeeded", NOW - 200, NOW - 80, NOW - 90),
                          job("j3", "Failed", NOW - 100, done=NOW - 50),
                          job("old", "Succeeded", NOW - 99999, NOW - 99990, NOW - 99990)],
                    component_sets=[mcs("ok", "Completed", NOW - 600), mcs("bad", "Paused", NOW - 600, True),
                                    mcs("going", "Progressing", NOW - 60), mcs("old", "Failed", NOW - 99999)])
    rep = r.slo_report(fleet, 3600)
    a = rep["nodeAvailability"]
    assert (a["machines"], a["nodeReadyNow"], a["readyWholeWindow"]) == (3, 2, 1)
    rem = rep["remediation"]
    assert rem["jobsFinished"] == 3 and rem["byPhase"] == {"Failed": 1, "Succeeded": 2}
    assert rem["successRatio"] == pytest.approx(2 / 3)
    assert rem["timeToHealthySeconds"] == {"p50": 90.0, "p90": pytest.approx(114.0), "max": 120.0}
    ro = rep["rollouts"]
    assert (ro["started"], ro["succeeded"], ro["failed"], ro["inProgress"]) == (3, 1, 1, 1)
    assert ro["successRatio"] == 0.5
    assert "prometheus" not in rep and rep["source"] == "api"
    _, rows = r.slo_rows(rep)
    assert ("node availability", "Ready now", "2/3", "66.7%") in rows


def test_slo_with_prometheus_answers() -> None:
    prom = {"nodeAvailability": [({}, 0.995)], "agentsUp": [({}, 1.0)], "recoveryP50Seconds": [({}, 42.0)],
            "recoveryP90Seconds": [],
            "remediationOutcomes": [({"phase": "Succeeded"}, 3.0), ({"phase": "Failed"}, 0.0)],
            "rollbacks": [({}, 1.0)]}
    rep = r.slo_report(r.Fleet(NOW), 3600, prom)
    p = rep["prometheus"]
    assert rep["source"] == "api+prometheus"
    assert p["nodeAvailabilityAvg"] == 0.995 and p["recoverySeconds"] == {"p50": 42.0, "p90": None}
    _, rows = r.slo_rows(rep)
    assert ("prometheus", "remediation outcomes", "", "Succeeded 3") in rows


def test_slo_queries_carry_the_window() -> None:
    q = r.slo_queries(86400)
    assert "[86400s:1440s]" in q["nodeAvailability"] and "[86400s]" in q["rollbacks"]
    assert "[60s:5s]" in r.slo_queries(60)["nodeAvailability"]


def test_utilization_percentiles_per_group() -> None:
    fleet = r.Fleet(NOW, machines=[machine(f"m{i}", ms="a" if i < 4 else "b") for i in range(5)])
    samples = {"cpu": [({"machine": f"m{i}"}, i / 10) for i in range(5)] + [({"machine": "unknown"}, 1.0)],
               "memory": [({"machine": "m4"}, 0.5)], "disk": []}
    rep = r.utilization_report(fleet, "machineset", 3600, samples)
    a = next(g for g in rep["groups"] if g["group"] == "a")
    assert a["cpu"]["machines"] == 4 and a["cpu"]["p50"] == pytest.approx(0.15) and a["cpu"]["max"] == 0.3
    assert a["memory"] == {"machines": 0, "p50": None, "p90": None, "p99": None, "max": None}
    _, rows = r.utilization_rows(rep)
    assert ("b", "memory", "1/1", "50.0%", "50.0%", "50.0%", "50.0%") in rows


@pytest.mark.parametrize(("endpoint", "url"), [
    ("http://127.0.0.1:9100/metrics", "http://127.0.0.1:9100/logs?lines=50&format=json"),
    ("https://h:1/agent/metrics", "https://h:1/agent/logs?lines=50&format=json"),
    ("http://h:1", "http://h:1/logs?lines=50&format=json"),
])
def test_logs_url_sits_beside_metrics(endpoint: str, url: str) -> None:
    assert logs_url(endpoint, 50) == url


def test_agent_highlights_pick_the_interesting_series() -> None:
    text = ("# TYPE node_load1 gauge\nnode_load1 0.5\n# TYPE node_cpu_seconds_total counter\n"
            'node_cpu_seconds_total{cpu="0",mode="idle"} 5\n# TYPE problem_counter counter\n'
            'problem_counter{reason="TaskHung"} 2\nproblem_counter{reason="OOMKilling"} 0\n')
    hs = agent_highlights(text)
    assert {(h["metric"], h["value"]) for h in hs} == {("node_load1", 0.5), ("problem_counter", 2.0)}


def test_diagnosis_of_a_node_without_agent_endpoint_says_why() -> None:
    m = machine("a")
    m["status"]["agent"] = {"version": "0.1.0"}
    jobs = [{"metadata": {"name": "j", "uid": "u1", "creationTimestamp": ts(NOW)},
             "spec": {"rule": "hung", "action": {"type": "Reboot"}},
             "status": {"phase": "Denied", "defender": {"decision": "Denied", "reason": "BudgetExhausted"}}}]
    policies = [{"metadata": {"name": "default"}, "status": {"recentDecisions": [
        {"id": "job/u1", "time": ts(NOW), "operation": "Remediation", "decision": "Denied", "rule": "reboots",
         "reason": "BudgetExhausted"},
        {"id": "job/other", "time": ts(NOW), "operation": "Remediation", "decision": "Allowed"}]}}]
    events = [{"involvedObject": {"kind": "Node", "name": "a"}, "reason": "Rebooted", "type": "Normal",
               "lastTimestamp": ts(NOW), "message": "boot id changed"}]
    logs = {"available": False, "lines": [], "reason": "the agent reports no endpoint", "url": ""}
    metrics = {"source": "agent /metrics", "available": False, "reason": "no endpoint", "highlights": []}
    d = diagnosis("a", m, node("a"), events, jobs, policies, [mc("a", drifted="bin/x differs")], logs, metrics)
    assert [x["policy"] for x in d["defenderDecisions"]] == ["default"]
    assert d["components"][0]["drifted"] is True
    text = render(d)
    for needle in ("Machine a: Running", "Rebooted", "Denied BudgetExhausted", "DRIFTED bin/x differs",
                   "agent logs unavailable: the agent reports no endpoint", "metrics unavailable: no endpoint"):
        assert needle in text


def test_diagnosis_of_a_node_without_machine() -> None:
    d = diagnosis("n", None, node("n"), [], [], [], [], {"available": True, "lines": ["l1"]},
                  {"source": "x", "available": True, "highlights": [{"metric": "up", "labels": {}, "value": 1.0}]})
    text = render(d)
    assert "Machine: none names this node" in text and "l1" in text and "up 1" in text
