"""Defender what-if: recorded ledgers replayed under candidate policies (storms, budgets, windows, circuits)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubenode.defender.candidate import CandidateError, load_candidate
from kubenode.defender.engine import FleetState, Ledger, NodeHealth, decide, storm_check
from kubenode.defender.records import (
    LedgerFormatError,
    fleet_state,
    read_jsonl,
    review_record,
    summarize_fleet,
    to_jsonl,
)
from kubenode.defender.replay import replay

from .defender_ledgers import Finish, nodes, op, policy, record, rule

A, D = "Allowed", "Denied"
ZONE = "topology.kubernetes.io/zone"

REBOOTS_30S = [(i * 5.0, op(i, nodes=[f"n-ok-{i}"])) for i in range(6)]
STORM_FLEET = nodes(6, 4)  # 4 of 10 unhealthy

CASES: list[tuple[str, list[Any], list[Any], list[Any], list[Any], list[tuple[str, str]]]] = [
    # (id, current policies, candidate policies, steps, fleet, the candidate's expected (decision, reason))
    ("a wider budget admits what the current one denied",
     [policy([rule(budgets=[{"window": "1m", "limit": 2}])])],
     [policy([rule(budgets=[{"window": "1m", "limit": 5}])])],
     REBOOTS_30S, nodes(10, 0),
     [(A, "Allowed")] * 5 + [(D, "BudgetExhausted")]),
    ("a tighter budget denies, and its window slides",
     [policy([rule(budgets=[{"window": "1m", "limit": 10}])])],
     [policy([rule(budgets=[{"window": "1m", "limit": 1}])])],
     [(0, op(1)), (30, op(2)), (61, op(3))], [],
     [(A, "Allowed"), (D, "BudgetExhausted"), (A, "Allowed")]),
    ("a storm guard at 30% denies remediation during a storm the current 50% tolerated",
     [policy([rule(name="storm", maxUnhealthy="50%")])],
     [policy([rule(name="storm", maxUnhealthy="30%")])],
     [(0, op(1, nodes=["n-bad-0"])), (1, op(2, nodes=["n-bad-1"]))], STORM_FLEET,
     [(D, "StormDetected"), (D, "StormDetected")]),
    ("a per-zone storm guard sees the storm in zone a only",
     [policy([rule(name="storm", maxUnhealthy="50%")])],
     [policy([rule(name="storm", maxUnhealthy=1, topologyKey=ZONE)])],
     [(0, op(1, nodes=["a-bad-0"])), (1, op(2, nodes=["b-bad-0"]))], nodes(2, 2, "a") + nodes(3, 1, "b"),
     [(D, "StormDetected"), (A, "Allowed")]),
    ("a freeze window on Friday noon denies everything in it",
     [policy([rule(budgets=[{"window": "1h", "limit": 10}])])],
     [policy([rule(freezeWindows=[{"schedule": "0 11 * * 5", "durationSeconds": 7200}])])],
     [(0, op(1)), (3600, op(2))], [],
     [(D, "FreezeWindow"), (A, "Allowed")]),
    ("the candidate's circuit breaker opens on the exhausted budget, then half-opens and closes",
     [policy([rule(budgets=[{"window": "1m", "limit": 10}])])],
     [policy([rule(budgets=[{"window": "1m", "limit": 1}])], cooldown=120)],
     [(0, op(1)), (10, op(2)), (70, op(3)), (131, op(4)), (132, op(5))], [],
     [(A, "Allowed"), (D, "BudgetExhausted"), (D, "CircuitOpen"), (A, "Allowed"), (D, "BudgetExhausted")]),
    ("maxConcurrent is freed when the recorded operation finished",
     [policy([rule(budgets=[{"window": "1h", "limit": 10}])])],
     [policy([rule(maxConcurrent=1)])],
     [(0, op(1)), (5, op(2)), (10, Finish("op-1")), (15, op(3))], [],
     [(A, "Allowed"), (D, "MaxConcurrentReached"), (A, "Allowed")]),
    ("a candidate not covering the operation allows it",
     [policy([rule(budgets=[{"window": "1m", "limit": 0}])])],
     [policy([rule(operations=["ComponentUpgrade"], budgets=[{"window": "1m", "limit": 0}])])],
     [(0, op(1))], [],
     [(A, "NotCovered")]),
]


@pytest.mark.parametrize(("current", "candidate", "steps", "fleet", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_replay_under_a_candidate(current: Any, candidate: Any, steps: Any, fleet: Any,
                                  expected: list[tuple[str, str]]) -> None:
    rec = record(current, steps, fleet)
    # The ledger goes through its file form, as `--ledger FILE` reads it.
    result = replay(read_jsonl(to_jsonl(rec.records)), candidate)
    assert [(r.candidate["decision"], r.candidate["reason"]) for r in result.rows] == expected
    assert [(r.current["decision"], r.current["reason"]) for r in result.rows] == rec.decisions
    differ = [i for i, (c, e) in enumerate(zip(rec.decisions, expected, strict=True)) if c[0] != e[0]]
    assert [result.rows.index(r) for r in result.differences] == differ
    s = result.summary()
    assert s["operations"] == len(expected) and s["differences"] == len(differ)
    assert s["candidate"]["Allowed"] == sum(1 for d, _ in expected if d == A)
    assert s["current"]["Allowed"] == sum(1 for d, _ in rec.decisions if d == A)


@pytest.mark.parametrize(("current", "steps", "fleet"), [(c[1], c[3], c[4]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_replaying_the_current_policy_reproduces_every_recorded_decision(current: Any, steps: Any,
                                                                         fleet: Any) -> None:
    rec = record(current, steps, fleet)
    result = replay(rec.records, current)
    assert not result.differences
    assert [(r.candidate["decision"], r.candidate["reason"]) for r in result.rows] == rec.decisions


def test_replay_is_in_time_order_whatever_the_chunk_order() -> None:
    current = [policy([rule(budgets=[{"window": "1m", "limit": 10}])])]
    rec = record(current, [(0, op(1)), (10, op(2)), (20, op(3))])
    result = replay(list(reversed(rec.records)), [policy([rule(budgets=[{"window": "1m", "limit": 2}])])])
    assert [r.op_id for r in result.rows] == ["op-1", "op-2", "op-3"]
    assert [r.candidate["decision"] for r in result.rows] == [A, A, D]


def test_a_candidate_counting_by_an_unrecorded_label_key_is_reported() -> None:
    rec = record([policy([rule(budgets=[{"window": "1m", "limit": 1}])])], [(0, op(1))], nodes(3, 0))
    result = replay(rec.records, [policy([rule(maxUnhealthy=1, topologyKey="example.com/rack")])])
    assert result.summary()["unrecordedLabelKeys"] == ["example.com/rack"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", ""]), st.booleans()), min_size=1, max_size=30),
       st.integers(0, 5), st.sampled_from(["", ZONE]))
def test_recorded_fleet_counts_storms_as_the_live_one(shape: list[tuple[str, bool]], limit: int,
                                                      key: str) -> None:
    live = FleetState(NodeHealth(f"n{i}", {ZONE: z} if z else {}, bad) for i, (z, bad) in enumerate(shape))
    guard = policy([rule(maxUnhealthy=limit, **({"topologyKey": key} if key else {}))])
    o = op(1, nodes=["n0"])
    d = decide([guard], o, Ledger(), live, 0)
    rec = review_record(o, d, 0, summarize_fleet(live, (ZONE,)), live, [])
    rebuilt = fleet_state(json.loads(json.dumps(rec)))
    assert storm_check(guard.rules[0], o, rebuilt)[:1] == storm_check(guard.rules[0], o, live)[:1]
    assert len(rebuilt.nodes) == len(live.nodes)


@pytest.mark.parametrize(("text", "message"), [
    ("{not json\n", "ledger:1: not JSON"),
    ('{"type": "review", "time": "yesterday"}\n', "ledger:1: time:"),
    ('\n{"type": "gossip", "time": "2024-01-05T12:00:00Z"}\n', "ledger:2: type: must be 'review' or 'finished'"),
    ('{"type": "review", "time": "2024-01-05T12:00:00Z", "operation": {}}\n', "ledger:1: operation:"),
    ('{"type": "finished", "time": "2024-01-05T12:00:00Z"}\n', "ledger:1: id: required"),
])
def test_bad_ledger_lines_name_line_and_field(text: str, message: str) -> None:
    with pytest.raises(LedgerFormatError, match=message.replace("(", r"\(")):
        read_jsonl(text)


GOOD = """apiVersion: kubenode.io/v1alpha1
kind: DefenderPolicy
metadata: {name: candidate}
spec:
  rules:
  - {name: reboots, operations: [Remediation], budgets: [{window: 1m, limit: 3}]}
"""


@pytest.mark.parametrize(("text", "message"), [
    ("kind: [", "c.yaml:1:"),
    ("", "no DefenderPolicy in the file"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "document 1: kind: must be DefenderPolicy"),
    ("kind: DefenderPolicy\nspec: {}\n", "document 1: metadata.name: required"),
    (GOOD.replace("limit: 3}]}", "limit: 3}], maxConcurent: 2}"),
     "document 1 (candidate): spec.rules[0].maxConcurent: unknown field"),
    (GOOD.replace("1m", "0s"), "document 1 (candidate): spec.rules[0].budgets[0].window:"),
    (GOOD + "---\n" + GOOD, "document 2: metadata.name: duplicate policy 'candidate'"),
])
def test_bad_candidates_say_where(text: str, message: str) -> None:
    with pytest.raises(CandidateError) as exc:
        load_candidate(text, "c.yaml")
    assert any(message in e for e in exc.value.errors), exc.value.errors


def test_a_candidate_list_of_policies_loads() -> None:
    text = ("apiVersion: v1\nkind: List\nitems:\n"
            + "".join("- " + GOOD.replace("candidate", n).replace("\n", "\n  ").rstrip() + "\n"
                      for n in ("a", "b")))
    assert [p.name for p in load_candidate(text)] == ["a", "b"]
