"""Per-object state metrics: rendering, incremental updates, valid exposition text; agent service discovery."""

from __future__ import annotations

import re
import tracemalloc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from kubenode.metrics.agent_sd import agent_target, agent_targets
from kubenode.metrics.state_metrics import (
    FAMILY_NAMES,
    SEGMENTS,
    StateExposition,
    render_job,
    render_machine,
    render_machinecomponent,
    render_node,
    render_policy,
)

Obj = dict[str, Any]


def machine(name: str = "m1", phase: str | None = "Running", ready: str = "True", **status: Any) -> Obj:
    st_: Obj = {"conditions": [{"type": "Ready", "status": ready}, {"type": "NodeReady", "status": "Unknown"}],
                "nodeRef": {"name": f"node-{name}"}, **status}
    if phase:
        st_["phase"] = phase
    return {"metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z",
                         "ownerReferences": [{"kind": "MachineSet", "name": "local"}]},
            "spec": {"providerRef": {"name": "local"}}, "status": st_}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


@pytest.mark.parametrize(("obj", "name", "labels", "expected"), [
    (machine(), "kubenode_machine_status_phase", {"machine": "m1", "phase": "Running"}, 1),
    (machine(), "kubenode_machine_status_phase", {"machine": "m1", "phase": "Failed"}, 0),
    (machine(phase=None), "kubenode_machine_status_phase", {"machine": "m1", "phase": "Pending"}, 1),
    (machine(), "kubenode_machine_status_condition", {"machine": "m1", "condition": "Ready", "status": "true"}, 1),
    (machine(), "kubenode_machine_status_condition", {"machine": "m1", "condition": "Ready", "status": "false"},
     None),
    (machine(ready="False"), "kubenode_machine_status_condition",
     {"machine": "m1", "condition": "Ready", "status": "false"}, 1),
    (machine(), "kubenode_machine_status_condition",
     {"machine": "m1", "condition": "NodeReady", "status": "unknown"}, 1),
    (machine(), "kubenode_machine_created", {"machine": "m1"}, 1767225600),
    (machine(providerID="local://m1"), "kubenode_machine_info",
     {"machine": "m1", "machineset": "local", "node": "node-m1", "provider": "local", "provider_id": "local://m1"}, 1),
])
def test_machine_series(obj: Obj, name: str, labels: dict[str, str], expected: float) -> None:
    store = StateExposition()
    store.update("Machine/m1", render_machine(obj))
    assert value(store.render().decode(), name, **labels) == expected


@pytest.mark.parametrize(("obj", "render", "name", "labels", "expected"), [
    ({"metadata": {"name": "mc"}, "spec": {"machineName": "m1", "component": "x", "version": "2", "revision": "r2"},
      "status": {"phase": "Running", "installedVersion": "1", "installedRevision": "r1", "healthy": False,
                 "conditions": [{"type": "Drifted", "status": "True"}]}},
     render_machinecomponent, "kubenode_machinecomponent_info",
     {"machine": "m1", "component": "x", "version": "1", "revision": "r1", "desired_version": "2",
      "desired_revision": "r2"}, 1),
    ({"metadata": {"name": "mc"}, "spec": {"machineName": "m1", "component": "x"}, "status": {"healthy": False}},
     render_machinecomponent, "kubenode_machinecomponent_status_healthy", {"machine": "m1", "component": "x"}, 0),
    ({"metadata": {"name": "mc"}, "spec": {"machineName": "m1", "component": "x"},
      "status": {"conditions": [{"type": "Drifted", "status": "True"}]}},
     render_machinecomponent, "kubenode_machinecomponent_status_condition",
     {"machine": "m1", "component": "x", "condition": "Drifted", "status": "true"}, 1),
    ({"metadata": {"name": "mc"}, "spec": {"machineName": "m1", "component": "x"}, "status": {}},
     render_machinecomponent, "kubenode_machinecomponent_status_phase",
     {"machine": "m1", "component": "x", "phase": "Pending"}, 1),
    ({"metadata": {"name": "j1"}, "spec": {"nodeName": "n1", "action": {"type": "Reboot"}},
      "status": {"phase": "Succeeded", "completionTime": "2026-01-01T00:00:10Z"}},
     render_job, "kubenode_remedyoperationjob_status_phase",
     {"job": "j1", "node": "n1", "action": "Reboot", "phase": "Succeeded"}, 1),
    ({"metadata": {"name": "j1"}, "spec": {"nodeName": "n1", "action": {"type": "Reboot"}},
      "status": {"phase": "Succeeded", "completionTime": "2026-01-01T00:00:10Z"}},
     render_job, "kubenode_remedyoperationjob_status_completion_timestamp_seconds",
     {"job": "j1", "node": "n1", "action": "Reboot"}, 1767225610),
    ({"metadata": {"name": "p"}, "status": {"circuit": {"state": "Open"},
                                            "rules": [{"name": "r", "budgets": [{"window": "1h", "limit": 10,
                                                                                 "used": 3, "remaining": 7}],
                                                       "concurrent": 2, "frozen": True}]}},
     render_policy, "kubenode_defender_budget_used", {"policy": "p", "rule": "r", "window": "1h"}, 3),
    ({"metadata": {"name": "p"}, "status": {"circuit": {"state": "Open"}}},
     render_policy, "kubenode_defender_policy_status_circuit", {"policy": "p", "state": "Open"}, 1),
    ({"metadata": {"name": "p"}, "status": {"rules": [{"name": "r", "frozen": True}]}},
     render_policy, "kubenode_defender_rule_frozen", {"policy": "p", "rule": "r"}, 1),
    ({"metadata": {"name": "n1"}, "spec": {"unschedulable": True},
      "status": {"conditions": [{"type": "KernelDeadlock", "status": "True"}]}},
     render_node, "kubenode_node_status_condition", {"node": "n1", "condition": "KernelDeadlock", "status": "true"},
     1),
    ({"metadata": {"name": "n1"}, "spec": {"unschedulable": True}},
     render_node, "kubenode_node_spec_unschedulable", {"node": "n1"}, 1),
])
def test_other_kinds(obj: Obj, render: Any, name: str, labels: dict[str, str], expected: float) -> None:
    store = StateExposition()
    store.update("k", render(obj))
    assert value(store.render().decode(), name, **labels) == expected


def test_updates_replace_and_deletes_remove_an_objects_series() -> None:
    store = StateExposition()
    on_change = store.handler("Machine", render_machine)
    on_change(None, machine("a"))
    on_change(None, machine("b"))
    first = store.render()
    on_change(machine("a"), machine("a", phase="Failed"))
    text = store.render().decode()
    assert value(text, "kubenode_machine_status_phase", machine="a", phase="Failed") == 1
    assert value(text, "kubenode_machine_status_phase", machine="a", phase="Running") == 0
    assert value(text, "kubenode_machine_status_phase", machine="b", phase="Running") == 1
    on_change(machine("a"), None)
    text = store.render().decode()
    assert not any(labels and ("machine", "a") in labels for _, labels in samples(text))
    on_change(machine("b"), None)
    assert store.render() == b""
    assert first != b""


def test_a_scrape_is_joined_a_segment_at_a_time_and_keeps_no_copy() -> None:
    """At 50,000 machines the exposition is ~170 MB: a scrape must not build it whole, nor keep it afterwards."""
    store = StateExposition()
    for i in range(2000):
        store.update(f"Machine/m{i}", render_machine(machine(f"m{i}")))
    whole = store.render()
    parts = store.parts()
    header = next(parts)
    assert header.startswith(b"# HELP kubenode_machine_info ")
    first = next(parts)
    # Lazy: a segment is joined when it is taken, so a change made after the first buffer shows in a later one.
    later = next(f"m{i}" for i in range(2000) if b'machine="m%d"' % i not in first)
    store.update(f"Machine/{later}", render_machine(machine(later, phase="Failed")))
    rest = b"".join(parts)
    text = (header + first + rest).decode()
    assert value(text, "kubenode_machine_status_phase", machine=later, phase="Failed") == 1
    # Every buffer is a header or one segment of one family (about 2000/64 machines)...
    for part in store.parts():
        if not part.startswith(b"# "):
            assert len({line.split(b"{")[0] for line in part.splitlines()}) == 1
            assert len(set(re.findall(rb'machine="([^"]+)"', part))) < 2000 / 8
    # ...and none of the text stays behind in the store once the scrape is over.
    store.update(f"Machine/{later}", render_machine(machine(later)))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        assert store.render() == whole
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < len(whole) / 10, (kept, len(whole))


def test_a_family_whose_last_sample_goes_has_no_header_left() -> None:
    store = StateExposition()
    store.update("MachineComponent/x", render_machinecomponent(
        {"metadata": {"name": "x"}, "spec": {"machineName": "m", "component": "c"}, "status": {"healthy": True}}))
    assert b"kubenode_machinecomponent_status_healthy" in store.render()
    store.update("MachineComponent/x", render_machinecomponent(
        {"metadata": {"name": "x"}, "spec": {"machineName": "m", "component": "c"}, "status": {}}))
    assert b"kubenode_machinecomponent_status_healthy" not in store.render()


def test_every_rendered_family_is_declared() -> None:
    store = StateExposition()
    with pytest.raises(KeyError):
        store.update("x", {"kubenode_not_declared": ["kubenode_not_declared 1\n"]})
    assert "kubenode_machine_info" in FAMILY_NAMES


@given(st.text(min_size=1, max_size=30))
def test_label_values_are_escaped_so_the_text_parses_back(name: str) -> None:
    store = StateExposition()
    store.update("Machine/x", render_machine({"metadata": {"name": name}, "spec": {"providerRef": {"name": name}},
                                              "status": {"phase": "Running"}}))
    text = store.render().decode()
    assert value(text, "kubenode_machine_status_phase", machine=name, phase="Running") == 1


@pytest.mark.parametrize(("status", "expected"), [
    ({}, None),
    ({"agent": {"metricsEndpoint": ""}}, None),
    ({"agent": {"metricsEndpoint": "ftp://h:1/metrics"}}, None),
    ({"agent": {"metricsEndpoint": "not a url"}}, None),
    ({"agent": {"metricsEndpoint": "http://127.0.0.1:9100/metrics"}, "nodeRef": {"name": "n1"}},
     {"targets": ["127.0.0.1:9100"], "labels": {"machine": "m", "node": "n1", "machineset": "local",
                                                "__scheme__": "http", "__metrics_path__": "/metrics"}}),
    ({"agent": {"metricsEndpoint": "https://[::1]:8443/x/metrics", "nodeName": "n2"}},
     {"targets": ["[::1]:8443"], "labels": {"machine": "m", "node": "n2", "machineset": "local",
                                            "__scheme__": "https", "__metrics_path__": "/x/metrics"}}),
])
def test_agent_targets(status: Obj, expected: Obj | None) -> None:
    m = {"metadata": {"name": "m", "labels": {"kubenode.io/machineset": "local"}}, "status": status}
    assert agent_target(m) == expected


def test_agent_targets_skip_machines_without_endpoint_and_sort() -> None:
    ms = [{"metadata": {"name": n}, "status": {"agent": {"metricsEndpoint": f"http://h:{i}/metrics"}} if i else {}}
          for i, n in ((2, "b"), (0, "c"), (1, "a"))]
    assert [g["labels"]["machine"] for g in agent_targets(ms)] == ["a", "b"]


@pytest.mark.parametrize("lines", [
    {"kubenode_machine_status_phase": ['kubenode_machine_status_phase{machine="a",phase="Pending"} 0\n',
                                       'kubenode_machine_status_phase{machine="a",phase="Running"} 1\n']},
    # A label value with an escaped newline, quote and backslash, and the family name inside a value.
    {"kubenode_node_info": ['kubenode_node_info{node="x",os_image="a\\nkubenode_node_info\\"\\\\"} 1\n']},
    {"kubenode_machine_created": ["kubenode_machine_created{machine=\"a\"} 1796277600\n"]},
])
def test_chunks_are_stored_without_the_family_name_and_served_exactly(lines: dict[str, list[str]]) -> None:
    """Issue 15: the family name (half of a line) is stored once per family, not once per line."""
    store = StateExposition()
    store.update("X/a", lines)
    (family, family_lines), = lines.items()
    stored = b"".join(store._families[family].segments[hash("X/a") % SEGMENTS].values())
    assert stored.count(family.encode()) == sum(line.count(family) for line in family_lines) - len(family_lines)
    text = store.render().decode()
    assert text.split("\n", 2)[2] == "".join(family_lines)


@pytest.mark.parametrize("bad", ['other{a="b"} 1\n', 'kubenode_machine_info{machine="a"} 1',
                                 'kubenode_machine_info{a="b"} 1\nx 1\n'])
def test_a_line_not_of_its_family_is_an_error(bad: str) -> None:
    with pytest.raises(ValueError):
        StateExposition().update("X/a", {"kubenode_machine_info": [bad]})
