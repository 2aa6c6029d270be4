"""The Defender's fleet view keeps its storm-guard counts incrementally (issue 15): after any sequence of Node
changes, the counts, the storm guard's answer and the ledger's fleet summary equal those counted from scratch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubenode.api.defender import Operation
from kubenode.apimachinery.selectors import label_selector_from_dict
from kubenode.defender.engine import FleetState, NodeHealth, project_labels, storm_check
from kubenode.defender.policy import parse_policy
from kubenode.defender.records import MAX_GROUPS, summarize_fleet

ZONE, POOL, HOST = "topology.kubernetes.io/zone", "pool", "kubernetes.io/hostname"
SELECTORS = [None, label_selector_from_dict({"matchLabels": {POOL: "a"}}),
             label_selector_from_dict({"matchExpressions": [{"key": ZONE, "operator": "Exists"}]})]
TOPOLOGY = ["", ZONE, POOL]
NAMES = [f"n{i}" for i in range(8)]


def scratch_domains(nodes: Sequence[NodeHealth], selector: Any, topology_key: str) -> dict[str, list[int]]:
    """What the storm guard counted before the counts were incremental: a scan of every node."""
    out: dict[str, list[int]] = {}
    for n in nodes:
        if selector is None or selector.matches(n.labels):
            d = out.setdefault(n.labels.get(topology_key, "") if topology_key else "", [0, 0])
            d[0] += 1
            d[1] += int(n.unhealthy)
    return out


def scratch_groups(nodes: Sequence[NodeHealth], keys: tuple[str, ...]) -> dict[Any, list[int]]:
    out: dict[Any, list[int]] = {}
    for n in nodes:
        g = out.setdefault(project_labels(n.labels, keys), [0, 0])
        g[0] += 1
        g[1] += int(n.unhealthy)
    return out


def node(name: str, zone: str | None, pool: str | None, unhealthy: bool) -> NodeHealth:
    labels = {HOST: name}
    if zone is not None:
        labels[ZONE] = zone
    if pool is not None:
        labels[POOL] = pool
    return NodeHealth(name, labels, unhealthy, "KernelDeadlock=True" if unhealthy else "")


changes = st.lists(st.one_of(
    st.tuples(st.just("upsert"), st.sampled_from(NAMES), st.sampled_from([None, "z1", "z2", "z3"]),
              st.sampled_from([None, "a", "b"]), st.booleans()),
    st.tuples(st.just("remove"), st.sampled_from(NAMES))), max_size=40)


def apply_changes(fleet: FleetState, steps: list[tuple[Any, ...]], check_every: bool) -> None:
    for step in steps:
        if step[0] == "upsert":
            fleet.upsert(node(*step[1:]))
        else:
            fleet.remove(step[1])
        if check_every:
            assert_counts(fleet)


def assert_counts(fleet: FleetState) -> None:
    nodes = fleet.nodes
    assert len(fleet) == len(nodes)
    assert fleet.unhealthy == sum(1 for n in nodes if n.unhealthy)
    for selector in SELECTORS:
        for tk in TOPOLOGY:
            assert fleet.domain_counts(selector, tk) == scratch_domains(nodes, selector, tk)
    for keys in [(ZONE,), (POOL, ZONE), (HOST, POOL, ZONE), ()]:
        assert fleet.group_counts(keys) == scratch_groups(nodes, keys)


@settings(max_examples=300, deadline=None)
@given(before=changes, after=changes)
def test_incremental_counts_equal_a_count_from_scratch(before: list[Any], after: list[Any]) -> None:
    """Counts asked for before, during and after the changes (tracked from the start or built late) stay exact."""
    fleet = FleetState()
    apply_changes(fleet, before, check_every=False)
    assert_counts(fleet)  # built from scratch here, then kept up to date
    apply_changes(fleet, after, check_every=True)
    rebuilt = FleetState(fleet.nodes)  # a snapshot: every count from scratch
    for selector in SELECTORS:
        for tk in TOPOLOGY:
            assert fleet.domain_counts(selector, tk) == rebuilt.domain_counts(selector, tk)


def storm_rule(max_unhealthy: int | str, selector: dict[str, Any] | None, topology_key: str) -> Any:
    raw: dict[str, Any] = {"name": "storm", "operations": ["Remediation"], "maxUnhealthy": max_unhealthy}
    if selector is not None:
        raw["selector"] = selector
    if topology_key:
        raw["topologyKey"] = topology_key
    p = parse_policy("p", {"rules": [raw]})
    assert p.valid, p.errors
    return p.rules[0]


@settings(max_examples=300, deadline=None)
@given(steps=changes, max_unhealthy=st.sampled_from([0, 1, 2, "25%", "50%"]),
       selector=st.sampled_from([None, {"matchLabels": {POOL: "a"}}]), topology_key=st.sampled_from(TOPOLOGY),
       op_nodes=st.lists(st.sampled_from([*NAMES, "unknown"]), max_size=3))
def test_storm_check_on_the_live_fleet_equals_one_on_a_fresh_snapshot(
        steps: list[Any], max_unhealthy: int | str, selector: dict[str, Any] | None, topology_key: str,
        op_nodes: list[str]) -> None:
    rule = storm_rule(max_unhealthy, selector, topology_key)
    fleet = FleetState()
    storm_check(rule, Operation(kind="Remediation", id="warm", action="Reboot"), fleet)  # tracked from the start
    apply_changes(fleet, steps, check_every=False)
    o = Operation(kind="Remediation", id="op", action="Reboot", nodes=tuple(op_nodes))
    assert storm_check(rule, o, fleet) == storm_check(rule, o, FleetState(fleet.nodes))


@pytest.mark.parametrize(("steps", "zone_counts"), [
    # (changes, then the storm guard's [nodes, unhealthy] per zone)
    ([("upsert", "n0", "z1", "a", True), ("upsert", "n1", "z1", "a", False)], {"z1": [2, 1]}),
    ([("upsert", "n0", "z1", "a", True), ("upsert", "n0", "z2", "a", True)], {"z2": [1, 1]}),  # moved zone
    ([("upsert", "n0", "z1", "a", True), ("upsert", "n0", "z1", "a", False)], {"z1": [1, 0]}),  # recovered
    ([("upsert", "n0", "z1", "a", True), ("remove", "n0")], {}),  # an empty domain is gone
    ([("remove", "n5"), ("upsert", "n1", None, "a", True)], {"": [1, 1]}),  # no zone label: domain ""
])
def test_zone_counts_table(steps: list[Any], zone_counts: dict[str, list[int]]) -> None:
    fleet = FleetState()
    fleet.domain_counts(None, ZONE)
    apply_changes(fleet, steps, check_every=True)
    assert fleet.domain_counts(None, ZONE) == zone_counts


def test_the_summary_drops_the_key_making_a_group_per_node() -> None:
    fleet = FleetState(node(f"h{i}", f"z{i % 3}", "a", i % 7 == 0) for i in range(MAX_GROUPS + 10))
    s = summarize_fleet(fleet, (HOST, POOL, ZONE))
    assert s.keys == (POOL, ZONE)
    assert (s.nodes, s.unhealthy) == (MAX_GROUPS + 10, sum(1 for i in range(MAX_GROUPS + 10) if i % 7 == 0))
    assert sum(g[1] for g in s.groups) == s.nodes and len(s.groups) == 3
    fleet.upsert(node("h1", "z9", "a", True))
    s2 = summarize_fleet(fleet, (HOST, POOL, ZONE))
    assert len(s2.groups) == 4 and s2.unhealthy == s.unhealthy + 1


def test_version_grows_only_on_a_change() -> None:
    fleet = FleetState()
    fleet.upsert(node("n0", "z1", "a", False))
    v = fleet.version
    fleet.upsert(node("n0", "z1", "a", False))  # the same health: a heartbeat changes nothing
    fleet.remove("unknown")
    assert fleet.version == v
    fleet.upsert(node("n0", "z1", "a", True))
    assert fleet.version == v + 1


def test_an_equal_upsert_keeps_the_newest_labels_mapping() -> None:
    fleet = FleetState()
    first, second = node("n0", "z1", "a", False), node("n0", "z1", "a", False)
    fleet.upsert(first)
    fleet.upsert(second)  # equal: no count changes, but the newest object is the one held
    held = fleet.get("n0")
    assert held is not None and held.labels is second.labels
