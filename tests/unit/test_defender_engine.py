"""The Defender's pure parts: policy parsing, verdicts with a fake clock, status round trips, parsers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubenode.api.defender import Operation
from kubenode.defender.cron import CronError, parse_freeze_window, validate_schedule
from kubenode.defender.defaults import default_policy
from kubenode.defender.engine import FleetState, Ledger, NodeHealth, apply, decide, evaluate, node_health
from kubenode.defender.policy import Policy, parse_policy
from kubenode.defender.status import ledger_entries, render_status, restore_ledger
from kubenode.defender.windows import WindowError, format_window, parse_window

# Friday 5 January 2024, 12:00 UTC.
T0 = datetime(2024, 1, 5, 12, 0, tzinfo=UTC).timestamp()
A, D, P = "Allowed", "Denied", "PendingApproval"


def policy(rules: list[dict[str, Any]], name: str = "p", cooldown: int = 0) -> Policy:
    p = parse_policy(name, {"rules": rules, "circuitBreaker": {"cooldownSeconds": cooldown}})
    assert p.valid, p.errors
    return p


def rule(**kw: Any) -> dict[str, Any]:
    return {"name": kw.pop("name", "r"), "operations": kw.pop("operations", ["Remediation"]), **kw}


def op(i: int | str, kind: str = "Remediation", action: str = "Reboot", nodes: Sequence[str] = (), count: int = 1,
       approved: bool = False) -> Operation:
    return Operation(kind=kind, id=f"op-{i}", action=action, nodes=tuple(nodes), count=count, approved=approved)


def fleet(healthy: int = 0, unhealthy: int = 0, **labels: str) -> list[NodeHealth]:
    tag = "-".join(f"{v}" for v in labels.values()) or "n"
    return ([NodeHealth(f"{tag}-ok-{i}", dict(labels)) for i in range(healthy)]
            + [NodeHealth(f"{tag}-bad-{i}", dict(labels), unhealthy=True, problem="Ready=False")
               for i in range(unhealthy)])


def run(policies: list[Policy], steps: Sequence[tuple[float, Operation]], nodes: Sequence[NodeHealth] = (),
        ledger: Ledger | None = None) -> list[tuple[str, str]]:
    """Review each (seconds after T0, op) in order; returns (decision, reason) per step."""
    ledger = ledger if ledger is not None else Ledger()
    state = FleetState(nodes)
    out = []
    for t, o in steps:
        d = decide(policies, o, ledger, state, T0 + t)
        apply(ledger, o, d, T0 + t)
        out.append((d.verdict.decision, d.verdict.reason))
    return out


# --------------------------------------------------------------------------- budgets


@pytest.mark.parametrize(("budgets", "steps", "expected"), [
    pytest.param([("1m", 2)], [0, 1, 2], [A, A, D], id="2-per-minute"),
    pytest.param([("1m", 2)], [0, 1, 60], [A, A, A], id="window-slides"),
    pytest.param([("1m", 2), ("5m", 3)], [0, 1, 61, 62], [A, A, A, D], id="5m-window-binds"),
    pytest.param([("1m", 2), ("5m", 3)], [0, 1, 61, 300], [A, A, A, A], id="5m-window-slides"),
    pytest.param([("1m", 10), ("1h", 3), ("24h", 4)], [0, 10, 20, 3600, 3700], [A, A, A, A, D], id="24h-binds"),
    pytest.param([("1m", 0)], [0], [D], id="limit-0-allows-none"),
])
def test_budgets_across_windows(budgets: list[tuple[str, int]], steps: list[float], expected: list[str]) -> None:
    p = policy([rule(budgets=[{"window": w, "limit": n} for w, n in budgets])])
    got = run([p], [(t, op(i)) for i, t in enumerate(steps)])
    assert [d for d, _ in got] == expected
    assert all(r == "BudgetExhausted" for d, r in got if d == D)


def test_budget_counts_tokens_and_says_when_to_retry() -> None:
    p = policy([rule(operations=["ComponentUpgrade"], budgets=[{"window": "1m", "limit": 3}])])
    ledger, state = Ledger(), FleetState()
    first = op(1, "ComponentUpgrade", "", count=2)
    apply(ledger, first, decide([p], first, ledger, state, T0), T0)
    second = decide([p], op(2, "ComponentUpgrade", "", count=2), ledger, state, T0 + 20)
    assert second.verdict.decision == D and second.verdict.retry_after_seconds == pytest.approx(40)
    assert "2/3 used" in second.verdict.message and second.verdict.rule == "r"
    too_big = decide([p], op(3, "ComponentUpgrade", "", count=4), ledger, state, T0 + 600)
    assert too_big.verdict.decision == D and too_big.verdict.retry_after_seconds is None
    assert "more than the limit 3" in too_big.verdict.message


# --------------------------------------------------------------------------- maxConcurrent


def test_max_concurrent_frees_slots_when_finished() -> None:
    p = policy([rule(maxConcurrent=2)])
    ledger = Ledger()
    assert run([p], [(0, op(1)), (1, op(2)), (2, op(3))], ledger=ledger) == [
        (A, "Allowed"), (A, "Allowed"), (D, "MaxConcurrentReached")]
    assert ledger.finish("op-1", T0 + 3)
    assert not ledger.finish("op-1", T0 + 3)  # finishing twice changes nothing
    assert run([p], [(4, op(3)), (5, op(4))], ledger=ledger) == [(A, "Allowed"), (D, "MaxConcurrentReached")]


# --------------------------------------------------------------------------- storm guard


@pytest.mark.parametrize(("max_unhealthy", "healthy", "unhealthy", "expected"), [
    pytest.param(1, 3, 1, A, id="count-at-limit"),
    pytest.param(1, 2, 2, D, id="count-above"),
    pytest.param("50%", 2, 2, A, id="50%-of-4-is-2"),
    pytest.param("50%", 1, 3, D, id="3-of-4-above-50%"),
    pytest.param("30%", 2, 1, A, id="30%-of-3-rounds-up-to-1"),
    pytest.param("30%", 1, 2, D, id="2-of-3-above-30%"),
    pytest.param("0%", 9, 1, D, id="0%-allows-none"),
    pytest.param(0, 0, 0, A, id="no-nodes-no-storm"),
])
def test_storm_count_and_percentage(max_unhealthy: int | str, healthy: int, unhealthy: int, expected: str) -> None:
    p = policy([rule(maxUnhealthy=max_unhealthy)])
    [(decision, reason)] = run([p], [(0, op(1))], fleet(healthy, unhealthy))
    assert decision == expected
    if expected == D:
        assert reason == "StormDetected"


@pytest.mark.parametrize(("nodes", "expected"), [
    pytest.param(("zone-b-ok-0",), A, id="healthy-zone"),
    pytest.param(("zone-a-bad-0",), D, id="stormy-zone"),
    pytest.param((), D, id="no-node-worst-zone"),
])
def test_storm_per_zone(nodes: tuple[str, ...], expected: str) -> None:
    p = policy([rule(maxUnhealthy="50%", topologyKey="zone")])
    nodes_ = fleet(1, 3, zone="zone-a") + fleet(4, 0, zone="zone-b")
    assert run([p], [(0, op(1, nodes=nodes))], nodes_)[0][0] == expected


def test_storm_counts_only_selected_nodes() -> None:
    p = policy([rule(maxUnhealthy=1, selector={"matchLabels": {"pool": "gpu"}})])
    nodes = fleet(5, 0, pool="gpu") + fleet(0, 5, pool="cpu")
    assert run([p], [(0, op(1))], nodes) == [(A, "Allowed")]
    assert run([p], [(0, op(2))], [*nodes, *fleet(0, 2, pool="gpu")]) == [(D, "StormDetected")]


@pytest.mark.parametrize(("conditions", "unhealthy"), [
    pytest.param([{"type": "Ready", "status": "True"}], False, id="ready"),
    pytest.param([{"type": "Ready", "status": "False"}], True, id="not-ready"),
    pytest.param([{"type": "Ready", "status": "Unknown"}], True, id="unknown"),
    pytest.param([], True, id="no-ready-condition"),
    pytest.param([{"type": "Ready", "status": "True"}, {"type": "KernelDeadlock", "status": "True"}], True,
                 id="problem-condition"),
    pytest.param([{"type": "Ready", "status": "True"}, {"type": "KernelDeadlock", "status": "False"}], False,
                 id="problem-cleared"),
])
def test_node_health(conditions: list[dict[str, str]], unhealthy: bool) -> None:
    h = node_health({"metadata": {"name": "n", "labels": {"zone": "a"}}, "status": {"conditions": conditions}})
    assert h.unhealthy is unhealthy and h.labels == {"zone": "a"}
    assert bool(h.problem) is unhealthy


# --------------------------------------------------------------------------- freeze windows


def at(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2024, 1, day, hour, minute, tzinfo=UTC).timestamp() - T0


@pytest.mark.parametrize(("window", "when", "expected"), [
    # Friday 20:00 for 60 h (until Monday 08:00).
    pytest.param(("0 20 * * 5", 216000, "UTC"), at(5, 19, 59), A, id="weekend-before"),
    pytest.param(("0 20 * * 5", 216000, "UTC"), at(5, 20, 0), D, id="weekend-starts"),
    pytest.param(("0 20 * * 5", 216000, "UTC"), at(7, 12), D, id="weekend-sunday"),
    pytest.param(("0 20 * * 5", 216000, "UTC"), at(8, 7, 59), D, id="weekend-monday-early"),
    pytest.param(("0 20 * * 5", 216000, "UTC"), at(8, 8, 0), A, id="weekend-ends"),
    # Every night 22:00 for 4 h: spans midnight.
    pytest.param(("0 22 * * *", 14400, "UTC"), at(5, 21, 59), A, id="night-before"),
    pytest.param(("0 22 * * *", 14400, "UTC"), at(5, 23, 30), D, id="night-before-midnight"),
    pytest.param(("0 22 * * *", 14400, "UTC"), at(6, 1, 30), D, id="night-after-midnight"),
    pytest.param(("0 22 * * *", 14400, "UTC"), at(6, 2, 0), A, id="night-ends"),
    # 09:00 Paris (08:00 UTC in January) for one hour.
    pytest.param(("0 9 * * *", 3600, "Europe/Paris"), at(5, 8, 30), D, id="paris-inside"),
    pytest.param(("0 9 * * *", 3600, "Europe/Paris"), at(5, 9, 30), A, id="paris-after"),
])
def test_freeze_windows(window: tuple[str, int, str], when: float, expected: str) -> None:
    schedule, duration, zone = window
    p = policy([rule(freezeWindows=[{"schedule": schedule, "durationSeconds": duration, "timeZone": zone}])])
    ledger = Ledger()
    d = decide([p], op(1), ledger, FleetState(), T0 + when)
    assert d.verdict.decision == expected
    if expected == D:
        assert d.verdict.reason == "FreezeWindow" and d.verdict.retry_after_seconds
        assert not d.trips  # a freeze is expected: it does not open the circuit


# --------------------------------------------------------------------------- approval


@pytest.mark.parametrize(("approved", "budget", "expected"), [
    pytest.param(False, 5, (P, "ApprovalRequired"), id="pending"),
    pytest.param(True, 5, (A, "Allowed"), id="approved"),
    pytest.param(False, 0, (D, "BudgetExhausted"), id="denial-outranks-approval"),
])
def test_require_approval(approved: bool, budget: int, expected: tuple[str, str]) -> None:
    p = policy([rule(operations=["MachineDeletion"], requireApproval=True,
                     budgets=[{"window": "1h", "limit": budget}])])
    assert run([p], [(0, op(1, "MachineDeletion", "", approved=approved))]) == [expected]


# --------------------------------------------------------------------------- circuit breaker


def test_circuit_opens_on_budget_and_closes_after_cooldown() -> None:
    p = policy([rule(budgets=[{"window": "1m", "limit": 1}]),
                rule(name="deletions", operations=["MachineDeletion"], maxConcurrent=10)], cooldown=300)
    ledger = Ledger()
    got = run([p], [
        (0, op(1)),
        (10, op(2)),  # budget out: denied and the circuit opens
        (70, op(3)),  # the budget has room again, but the circuit is open
        (80, op(4, "MachineDeletion", "")),  # everything the policy covers is denied
        (80, op(5, "ComponentUpgrade", "")),  # not covered by this policy at all
    ], ledger=ledger)
    assert got == [(A, "Allowed"), (D, "BudgetExhausted"), (D, "CircuitOpen"), (D, "CircuitOpen"),
                   (A, "NotCovered")]
    assert ledger.circuit("p").effective(T0 + 309) == "Open"
    assert ledger.circuit("p").effective(T0 + 310) == "HalfOpen"
    assert run([p], [(310, op(6))], ledger=ledger) == [(A, "Allowed")]  # the probe passes: closed
    assert ledger.circuit("p").state == "Closed"


def test_storm_reopens_a_half_open_circuit() -> None:
    p = policy([rule(maxUnhealthy=1)], cooldown=60)
    ledger = Ledger()
    stormy = fleet(1, 3)
    assert run([p], [(0, op(1)), (30, op(2)), (61, op(3))], stormy, ledger) == [
        (D, "StormDetected"), (D, "CircuitOpen"), (D, "StormDetected")]
    assert ledger.circuit("p").open_until == T0 + 121
    assert run([p], [(125, op(4))], fleet(4, 0), ledger) == [(A, "Allowed")]


def test_cooldown_zero_disables_the_breaker() -> None:
    p = policy([rule(budgets=[{"window": "1m", "limit": 1}])], cooldown=0)
    assert run([p], [(0, op(1)), (1, op(2)), (61, op(3))]) == [
        (A, "Allowed"), (D, "BudgetExhausted"), (A, "Allowed")]


# --------------------------------------------------------------------------- several policies and matching


@pytest.mark.parametrize(("first", "second", "expected"), [
    pytest.param({"maxConcurrent": 5}, {"maxConcurrent": 5}, (A, "Allowed"), id="both-allow"),
    pytest.param({"maxConcurrent": 5}, {"maxConcurrent": 0}, (D, "MaxConcurrentReached"), id="one-denies"),
    pytest.param({"requireApproval": True}, {"maxConcurrent": 0}, (D, "MaxConcurrentReached"),
                 id="denied-beats-pending"),
    pytest.param({"requireApproval": True}, {"maxConcurrent": 5}, (P, "ApprovalRequired"), id="pending-beats-allowed"),
])
def test_most_restrictive_policy_wins(first: dict[str, Any], second: dict[str, Any],
                                      expected: tuple[str, str]) -> None:
    p1, p2 = policy([rule(**first)], "a-policy"), policy([rule(**second)], "b-policy")
    assert run([p1, p2], [(0, op(1))]) == [expected]


def test_admission_charges_every_matching_rule_of_every_policy() -> None:
    p1 = policy([rule(name="all", budgets=[{"window": "1h", "limit": 5}]),
                 rule(name="reboots", actions=["Reboot"], budgets=[{"window": "1h", "limit": 5}])], "a")
    p2 = policy([rule(name="any", maxConcurrent=5)], "b")
    ledger = Ledger()
    d = decide([p1, p2], op(1), ledger, FleetState(), T0)
    assert d.verdict.allowed and d.verdict.policy == "a"
    apply(ledger, op(1), d, T0)
    assert ledger.admissions["op-1"].charges == {"a": ("all", "reboots"), "b": ("any",)}


@pytest.mark.parametrize(("kind", "action", "charged"), [
    pytest.param("Remediation", "Reboot", ("all", "reboots"), id="reboot-matches-both"),
    pytest.param("Remediation", "RestartComponent", ("all",), id="restart-only-general"),
    pytest.param("MachineDeletion", "", ("deletions",), id="actions-ignore-other-kinds"),
    pytest.param("ComponentUpgrade", "", None, id="not-covered"),
])
def test_operations_and_actions_matching(kind: str, action: str, charged: tuple[str, ...] | None) -> None:
    p = policy([rule(name="all", maxConcurrent=9), rule(name="reboots", actions=["Reboot"], maxConcurrent=9),
                rule(name="deletions", operations=["MachineDeletion", "Remediation"], actions=["Replace"],
                     maxConcurrent=9)])
    d = decide([p], op(1, kind, action), Ledger(), FleetState(), T0)
    assert d.verdict.allowed
    assert dict(d.charges).get("p") == charged


def test_reviewing_an_admitted_operation_again_is_idempotent() -> None:
    p = policy([rule(budgets=[{"window": "1h", "limit": 1}])], cooldown=300)
    ledger = Ledger()
    assert run([p], [(0, op(1)), (5, op(1)), (6, op(1))], ledger=ledger) == [
        (A, "Allowed"), (A, "AlreadyAdmitted"), (A, "AlreadyAdmitted")]
    assert ledger.used("p", "r", 3600, T0 + 10) == 1
    assert run([p], [(7, op(2)), (8, op(1))], ledger=ledger) == [(D, "BudgetExhausted"), (A, "AlreadyAdmitted")]


def test_no_policy_allows_everything() -> None:
    v = evaluate([], op(1), Ledger(), FleetState(), T0)
    assert v.allowed and v.reason == "NoDefenderPolicy"


# --------------------------------------------------------------------------- invalid policies fail closed


@pytest.mark.parametrize(("spec", "path"), [
    pytest.param({"rules": []}, "spec.rules", id="no-rules"),
    pytest.param({"rules": [{"name": "r", "operations": ["Remediation"], "maxConcurent": 3}]}, "spec.rules[0]",
                 id="typo-leaves-no-limit"),
    pytest.param({"rules": [rule(budgets=[{"window": "0s", "limit": 1}])]}, "spec.rules[0].budgets[0].window",
                 id="zero-window"),
    pytest.param({"rules": [rule(budgets=[{"window": "1w", "limit": 1}])]}, "spec.rules[0].budgets[0].window",
                 id="bad-unit"),
    pytest.param({"rules": [rule(freezeWindows=[{"schedule": "0 25 * * *", "durationSeconds": 60}])]},
                 "spec.rules[0].freezeWindows[0].schedule", id="bad-cron"),
    pytest.param({"rules": [rule(freezeWindows=[{"schedule": "0 0 31 2 *", "durationSeconds": 60}])]},
                 "spec.rules[0].freezeWindows[0].schedule", id="cron-never-fires"),
    pytest.param({"rules": [rule(freezeWindows=[{"schedule": "0 0 * * *", "durationSeconds": 60,
                                                 "timeZone": "Mars/Olympus"}])]},
                 "spec.rules[0].freezeWindows[0].timeZone", id="unknown-zone"),
    pytest.param({"rules": [rule(maxUnhealthy="150%")]}, "spec.rules[0].maxUnhealthy", id="percent-over-100"),
    pytest.param({"rules": [rule(maxConcurrent=1, topologyKey="zone")]}, "spec.rules[0].topologyKey",
                 id="topology-without-storm-guard"),
    pytest.param({"rules": [rule(operations=["MachineDeletion"], actions=["Reboot"], maxConcurrent=1)]},
                 "spec.rules[0].actions", id="actions-without-remediation"),
    pytest.param({"rules": [rule(operations=["Reboot"], maxConcurrent=1)]}, "spec.rules[0].operations[0]",
                 id="unknown-operation"),
    pytest.param({"rules": [rule(maxConcurrent=1), rule(maxConcurrent=2)]}, "spec.rules[1].name",
                 id="duplicate-rule"),
    pytest.param({"rules": [rule(maxUnhealthy=1, selector={"matchExpressions": [
        {"key": "k", "operator": "In", "values": []}]})]}, "spec.rules[0].selector", id="bad-selector"),
])
def test_invalid_policy_reports_field_paths(spec: dict[str, Any], path: str) -> None:
    p = parse_policy("bad", spec)
    assert not p.valid
    assert path in [e.path for e in p.errors], p.errors


def test_invalid_policy_denies_what_it_covers_and_nothing_else() -> None:
    bad = parse_policy("bad", {"rules": [{"name": "r", "operations": ["Remediation"], "maxConcurent": 3}]})
    v = evaluate([bad], op(1), Ledger(), FleetState(), T0)
    assert (v.decision, v.reason, v.policy) == (D, "PolicyInvalid", "bad")
    assert "spec.rules[0]" in v.message
    assert evaluate([bad], op(2, "MachineDeletion", ""), Ledger(), FleetState(), T0).reason == "NotCovered"
    unreadable = parse_policy("worse", {"rules": "nope"})
    assert all(not evaluate([unreadable], op(3, kind, ""), Ledger(), FleetState(), T0).allowed
               for kind in ("Remediation", "ComponentUpgrade", "MachineDeletion"))


def test_default_policy_is_valid() -> None:
    obj = default_policy()
    assert parse_policy("default", obj["spec"]).valid


# --------------------------------------------------------------------------- status round trip


def test_status_shows_budgets_and_restores_the_ledger() -> None:
    p = policy([rule(budgets=[{"window": "1m", "limit": 2}, {"window": "1h", "limit": 5}], maxConcurrent=3)],
               cooldown=300)
    ledger = Ledger()
    run([p], [(0, op(1)), (1, op(2)), (2, op(3))], ledger=ledger)  # the third trips the circuit
    ledger.finish("op-1", T0 + 3)
    status = render_status(p, 1, None, ledger, FleetState(), T0 + 4, [], T0 + 2)
    assert status["circuit"]["state"] == "Open" and status["circuit"]["reason"] == "BudgetExhausted"
    assert status["rules"] == [{"name": "r", "budgets": [
        {"window": "1m", "limit": 2, "used": 2, "remaining": 0},
        {"window": "1h", "limit": 5, "used": 2, "remaining": 3}], "concurrent": 1}]
    conds = {x["type"]: x["status"] for x in status["conditions"]}
    assert conds == {"Valid": "True", "CircuitOpen": "True"}
    restored = restore_ledger([{"metadata": {"name": "p"}, "status": status}])
    assert restored.used("p", "r", 3600, T0 + 4) == 2 and restored.in_flight("p", "r", T0 + 4) == 1
    assert restored.circuit("p").effective(T0 + 4) == "Open"
    assert evaluate([p], op(1), restored, FleetState(), T0 + 5).reason == "AlreadyAdmitted"
    # Same inputs, same status: nothing to rewrite.
    assert render_status(p, 1, status, ledger, FleetState(), T0 + 4, [], T0 + 2) == status


def test_ledger_bound_errs_on_the_safe_side() -> None:
    p = policy([rule(budgets=[{"window": "1h", "limit": 100}])])
    ledger = Ledger()
    run([p], [(i, op(i)) for i in range(10)], ledger=ledger)
    for i in range(10):
        ledger.finish(f"op-{i}", T0 + 20)
    entries = ledger_entries("p", ledger, T0 + 30, limit=4)
    assert len(entries) == 4 and sum(e["count"] for e in entries) == 10
    restored = restore_ledger([{"metadata": {"name": "p"}, "status": {"ledger": entries}}])
    # Merged tokens carry the newest time among them: they leave the window no earlier than the originals.
    for t in (30, 3600 + 5, 3600 + 9):
        assert restored.used("p", "r", 3600, T0 + t) >= ledger.used("p", "r", 3600, T0 + t)


# --------------------------------------------------------------------------- parsers (property-based)


@given(st.integers(min_value=1, max_value=30 * 86400))
def test_window_format_parse_round_trip(seconds: int) -> None:
    assert parse_window(format_window(seconds)) == seconds


@given(st.text(max_size=12))
def test_window_parser_only_raises_window_error(text: str) -> None:
    try:
        seconds = parse_window(text)
    except WindowError:
        return
    assert 0 < seconds <= 30 * 86400


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("1m", 60), ("5m", 300), ("1h", 3600),
                                                ("24h", 86400), ("7d", 604800)])
def test_window_examples(text: str, seconds: int) -> None:
    assert parse_window(text) == seconds


_minute = st.one_of(st.just("*"), st.integers(0, 59).map(str), st.integers(1, 30).map(lambda n: f"*/{n}"))
_hour = st.one_of(st.just("*"), st.integers(0, 23).map(str), st.tuples(st.integers(0, 11), st.integers(12, 23))
                  .map(lambda t: f"{t[0]}-{t[1]}"))
_dom = st.one_of(st.just("*"), st.integers(1, 28).map(str))
_month = st.one_of(st.just("*"), st.integers(1, 12).map(str))
_dow = st.one_of(st.just("*"), st.integers(0, 6).map(str), st.just("1-5"))


@settings(max_examples=60, deadline=None)
@given(st.tuples(_minute, _hour, _dom, _month, _dow), st.integers(1, 7 * 86400),
       st.floats(min_value=T0, max_value=T0 + 400 * 86400, allow_nan=False))
def test_generated_cron_schedules_parse_and_windows_contain_now(fields: tuple[str, ...], duration: int,
                                                                now: float) -> None:
    w = parse_freeze_window(" ".join(fields), duration)
    active = w.active(now)
    if active is not None:
        start, end = active
        assert start <= now < end and end - start == duration


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789*/-, abcJANMON@?LW#", max_size=30))
def test_cron_validation_only_raises_cron_error(text: str) -> None:
    try:
        normalised = validate_schedule(text)
    except CronError:
        return
    assert len(normalised.split()) == 5


# --------------------------------------------------------------------------- a developing storm; Replace deletes


def sick(name: str, since: float | None) -> NodeHealth:
    return NodeHealth(name, {}, unhealthy=True, problem="KernelDeadlock=True", unhealthy_since=since)


@pytest.mark.parametrize(("settle", "others_sick", "at", "expected"), [
    pytest.param(None, 0, 1.0, (D, "StormSettling"), id="held-by-the-default-window"),
    pytest.param(3, 0, 1.0, (D, "StormSettling"), id="held-within-the-window"),
    pytest.param(3, 0, 3.5, (A, "Allowed"), id="a-lone-sick-node-after-the-window"),
    pytest.param(3, 2, 3.5, (D, "StormDetected"), id="the-storm-developed-meanwhile"),
    pytest.param(3, 2, 1.0, (D, "StormDetected"), id="a-storm-already-seen-is-a-storm"),
    pytest.param(0, 0, 0.0, (A, "Allowed"), id="zero-disables-the-hold"),
])
def test_storm_guard_settle_window(settle: int | None, others_sick: int, at: float,
                                   expected: tuple[str, str]) -> None:
    extra = {} if settle is None else {"settleSeconds": settle}
    p = policy([rule(name="storm", maxUnhealthy="50%", **extra)])
    nodes = [sick("a", T0), *(sick(f"b{i}", T0 + 0.5) for i in range(others_sick)),
             *(NodeHealth(f"ok{i}") for i in range(3 - others_sick))]
    verdict = evaluate([p], op(1, nodes=["a"]), Ledger(), FleetState(nodes), T0 + at)
    assert (verdict.decision, verdict.reason) == expected
    if expected[1] == "StormSettling":
        assert verdict.retry_after_seconds == pytest.approx((settle if settle is not None else 5) - at)


def test_node_health_knows_when_the_node_turned_unhealthy() -> None:
    h = node_health({"metadata": {"name": "n"}, "status": {"conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-05T11:00:00Z"},
        {"type": "KernelDeadlock", "status": "True", "lastTransitionTime": "2024-01-05T12:00:00Z"}]}})
    assert h.unhealthy and h.unhealthy_since == T0 + 1  # whole seconds: rounded up


@pytest.mark.parametrize(("action", "expected"), [
    pytest.param("Replace", (D, "BudgetExhausted"), id="replace-is-a-machine-deletion"),
    pytest.param("Reboot", (A, "Allowed"), id="reboot-is-not"),
])
def test_replace_counts_as_machine_deletion(action: str, expected: tuple[str, str]) -> None:
    deletions = policy([rule(name="deletions", operations=["MachineDeletion"],
                             budgets=[{"window": "1h", "limit": 0}])], "deletions")
    remediation = policy([rule(name="all", maxConcurrent=5)], "remediation")
    verdict = evaluate([deletions, remediation], op(1, action=action, nodes=["n"]), Ledger(), FleetState(), T0)
    assert (verdict.decision, verdict.reason) == expected
