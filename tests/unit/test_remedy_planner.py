"""Table-driven tests of the Remedy Operator's pure logic: rule matching, the escalation planner, job names."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from kubenode.agent.executor.actions import ActionRefused, resolve_script
from kubenode.cli.remedy_cmd import history_rows, render
from kubenode.remedy import planner as p
from kubenode.remedy.rules import ActionSpec, ConditionSpec, RuleSpec, job_name, match_rule, parse_rules

NOW = 1_800_000_000.0


def ts(seconds_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - seconds_ago))


def cond(type_: str, status: str, ago: float) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": "R", "lastTransitionTime": ts(ago)}


RULE = RuleSpec(
    "hung",
    (ConditionSpec("KernelDeadlock", "True", 60), ConditionSpec("Ready", "Unknown", 300)),
    (ActionSpec("RestartComponent", 30, {"type": "RestartComponent", "component": "npd"}),
     ActionSpec("Reboot", 120, {"type": "Reboot"}), ActionSpec("Replace", 600, {"type": "Replace"})),
    cooldown_seconds=30, max_attempts=2)


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(("conditions", "matched", "ready"), [
    ([], None, None),
    ([cond("KernelDeadlock", "False", 500)], None, None),
    ([cond("KernelDeadlock", "True", 10)], "KernelDeadlock", False),  # not yet forSeconds
    ([cond("KernelDeadlock", "True", 60)], "KernelDeadlock", True),
    ([cond("Ready", "Unknown", 400)], "Ready", True),
    ([cond("Ready", "Unknown", 100), cond("KernelDeadlock", "True", 100)], "KernelDeadlock", True),  # OR-ed
    ([cond("Ready", "False", 1000)], None, None),  # other status does not match
])
def test_match_rule(conditions: list[dict[str, Any]], matched: str | None, ready: bool | None) -> None:
    m = match_rule(RULE, conditions, NOW)
    assert (m.condition if m else None) == matched
    if m is not None:
        assert (m.ready_at <= NOW) == ready


def test_parse_rules_defaults() -> None:
    rules = parse_rules({"spec": {"rules": [{"name": "r", "conditions": [{"type": "A", "status": "True"}],
                                             "actions": [{"type": "Reboot"}]}]}})
    assert rules[0].conditions[0].for_seconds == 300 and rules[0].cooldown_seconds == 300
    assert rules[0].max_attempts == 3 and rules[0].actions[0].timeout_seconds == 300


# --------------------------------------------------------------------------- the planner

UNHEALTHY = match_rule(RULE, [cond("KernelDeadlock", "True", 100)], NOW)
OBSERVING = match_rule(RULE, [cond("KernelDeadlock", "True", 10)], NOW)


def job(attempt: int, step: int, phase: str, done_ago: float | None = 100, recovered: bool = False,
        name: str = "") -> p.JobView:
    return p.JobView(name or f"j{attempt}{step}{phase}", attempt, step, phase, created=NOW - 1000,
                     completed=None if done_ago is None else NOW - done_ago, recovered=recovered)


@pytest.mark.parametrize(("match", "jobs", "extra", "want"), [
    # healthy, never remediated
    (None, [], {}, (p.HEALTHY, 0, 0, 0)),
    # forSeconds not yet reached: wait exactly the rest
    (OBSERVING, [], {}, (p.WAIT, 0, 0, 0)),
    # first step of the first attempt
    (UNHEALTHY, [], {}, (p.CREATE, 1, 0, 0)),
    # paused, or another job on the node: nothing new
    (UNHEALTHY, [], {"paused": True}, (p.WAIT, 0, 0, 0)),
    (UNHEALTHY, [], {"node_busy": True}, (p.WAIT, 0, 0, 0)),
    # one active job at a time
    (UNHEALTHY, [job(1, 0, "Running", None)], {}, (p.WAIT, 0, 0, 0)),
    (UNHEALTHY, [job(1, 0, "Pending", None)], {}, (p.WAIT, 0, 0, 0)),
    # escalation after failure / timeout / success-without-recovery, once the cooldown passed
    (UNHEALTHY, [job(1, 0, "Failed")], {}, (p.CREATE, 1, 1, 0)),
    (UNHEALTHY, [job(1, 0, "TimedOut")], {}, (p.CREATE, 1, 1, 0)),
    (UNHEALTHY, [job(1, 0, "Succeeded")], {}, (p.CREATE, 1, 1, 0)),
    (UNHEALTHY, [job(1, 0, "Succeeded", done_ago=10)], {}, (p.WAIT, 0, 0, 0)),  # cooldown
    (UNHEALTHY, [job(1, 0, "Failed"), job(1, 1, "Failed")], {}, (p.CREATE, 1, 2, 0)),
    # ladder exhausted: climb again, up to maxAttempts (2), then give up
    (UNHEALTHY, [job(1, 0, "Failed"), job(1, 1, "Failed"), job(1, 2, "Failed")], {}, (p.CREATE, 2, 0, 0)),
    (UNHEALTHY, [job(1, 0, "Failed"), job(1, 1, "Failed"), job(1, 2, "Failed"), job(2, 0, "Failed"),
                 job(2, 1, "Failed"), job(2, 2, "Failed")], {}, (p.GIVE_UP, 0, 0, 0)),
    # a recovery resets the count: after it a new fault starts at step 0 of the next attempt
    (UNHEALTHY, [job(1, 0, "Failed"), job(1, 1, "Failed"), job(1, 2, "Failed"), job(2, 0, "Failed"),
                 job(2, 1, "Succeeded", recovered=True)], {}, (p.CREATE, 3, 0, 0)),
    # denied: retried after denied_retry_seconds with a new retry index
    (UNHEALTHY, [job(1, 0, "Denied", done_ago=10)], {}, (p.WAIT, 0, 0, 0)),
    (UNHEALTHY, [job(1, 0, "Denied", done_ago=100)], {}, (p.CREATE, 1, 0, 1)),
    (UNHEALTHY, [job(1, 0, "Denied", 300, name="a"), job(1, 0, "Denied", 100, name="b")], {}, (p.CREATE, 1, 0, 2)),
    # healthy again: recovered only after healthyDelay
    (None, [job(1, 1, "Succeeded", done_ago=30)], {"healthy_since": NOW - 20}, (p.WAIT, 0, 0, 0)),
    (None, [job(1, 1, "Succeeded", done_ago=100)], {"healthy_since": NOW - 90}, (p.RECOVERED, 0, 0, 0)),
    (None, [job(1, 1, "Succeeded", done_ago=100)], {"healthy_since": NOW - 5}, (p.WAIT, 0, 0, 0)),
    (None, [job(1, 1, "Succeeded", recovered=True)], {}, (p.HEALTHY, 0, 0, 0)),
    (None, [job(1, 0, "Denied")], {}, (p.HEALTHY, 0, 0, 0)),
    (None, [job(1, 0, "Running", None)], {}, (p.WAIT, 0, 0, 0)),
])
def test_plan(match: Any, jobs: list[p.JobView], extra: dict[str, Any], want: tuple[str, int, int, int]) -> None:
    d = p.plan(p.PlanInput(rule=RULE, match=match, jobs=tuple(jobs), now=NOW, healthy_delay=60,
                           denied_retry_seconds=60, **extra))
    assert (d.kind, d.attempt, d.step, d.retry) == want


@pytest.mark.parametrize(("jobs", "settled"), [
    ([], True),
    ([job(1, 0, "Running", None)], False),                       # in progress
    ([job(1, 0, "Pending", None)], False),
    ([job(1, 0, "Succeeded")], False),                           # awaiting its recovery mark
    ([job(1, 0, "Failed")], False),
    ([job(1, 0, "Succeeded", recovered=True)], True),            # done: HEALTHY until the node changes
    ([job(1, 0, "Denied")], True),
    # a ladder: only the last step counts (earlier steps are never marked recovered)
    ([job(1, 0, "Succeeded"), job(1, 1, "Succeeded", recovered=True)], True),
    ([job(1, 0, "Succeeded", recovered=True), job(2, 0, "Running", None)], False),
])
def test_settled(jobs: list[p.JobView], settled: bool) -> None:
    assert p.settled(tuple(jobs)) is settled


@pytest.mark.parametrize("jobs", [
    [], [job(1, 0, "Succeeded", recovered=True)], [job(1, 0, "Denied")],
    [job(1, 0, "Succeeded"), job(1, 1, "Succeeded", recovered=True)],
])
def test_a_settled_history_plans_healthy_for_a_healthy_node(jobs: list[p.JobView]) -> None:
    # what lets the incremental reconcile skip settled nodes: planning them could only say HEALTHY
    assert p.settled(tuple(jobs))
    d = p.plan(p.PlanInput(rule=RULE, match=None, jobs=tuple(jobs), now=NOW, healthy_delay=60))
    assert d.kind == p.HEALTHY


@pytest.mark.parametrize(("match", "jobs", "extra", "after"), [
    (OBSERVING, [], {}, 50.0),
    (UNHEALTHY, [job(1, 0, "Succeeded", done_ago=10)], {}, 20.0),
    (UNHEALTHY, [job(1, 0, "Denied", done_ago=10)], {}, 50.0),
    (None, [job(1, 1, "Succeeded", done_ago=30)], {"healthy_since": NOW - 20}, 40.0),
])
def test_plan_waits_exactly_as_long_as_needed(match: Any, jobs: list[p.JobView], extra: dict[str, Any],
                                              after: float) -> None:
    d = p.plan(p.PlanInput(rule=RULE, match=match, jobs=tuple(jobs), now=NOW, healthy_delay=60,
                           denied_retry_seconds=60, **extra))
    assert d.kind == p.WAIT and d.requeue_after == pytest.approx(after)


@pytest.mark.parametrize(("rule_delay", "healthy_for", "want"), [
    (None, 30, p.WAIT),  # the operator's default (60 s) applies
    (None, 90, p.RECOVERED),
    (10, 30, p.RECOVERED),  # the rule's own healthyDelaySeconds wins
    (120, 90, p.WAIT),
    (0, 0, p.RECOVERED),
])
def test_the_rules_healthy_delay_overrides_the_default(rule_delay: int | None, healthy_for: int, want: str) -> None:
    rule = dataclasses.replace(RULE, healthy_delay_seconds=rule_delay)
    d = p.plan(p.PlanInput(rule=rule, match=None, jobs=(job(1, 1, "Succeeded", done_ago=200),), now=NOW,
                           healthy_since=NOW - healthy_for, healthy_delay=60))
    assert d.kind == want


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(("args", "name"), [
    (("kernel", "node-1", "hung", 1, 0, 0), "kernel-node-1-hung-1-0"),
    (("kernel", "node-1", "hung", 2, 1, 0), "kernel-node-1-hung-2-1"),
    (("kernel", "node-1", "hung", 1, 0, 3), "kernel-node-1-hung-1-0-r3"),
])
def test_job_name(args: tuple[Any, ...], name: str) -> None:
    assert job_name(*args) == name


def test_long_job_names_stay_unique_and_valid() -> None:
    a = job_name("r" * 60, "n" * 200, "rule", 1, 0)
    b = job_name("r" * 60, "n" * 200, "rule", 1, 1)
    assert len(a) <= 253 and len(b) <= 253 and a != b
    assert a == job_name("r" * 60, "n" * 200, "rule", 1, 0)


# --------------------------------------------------------------------------- agent script allowlist


def test_scripts_only_by_name_from_remedy_d(tmp_path: Path) -> None:
    d = tmp_path / "remedy.d"
    d.mkdir()
    s = d / "fix-dns.sh"
    s.write_text("#!/bin/sh\nexit 0\n")
    s.chmod(0o755)
    assert resolve_script("fix-dns.sh", d) == s
    for bad in ("../fix-dns.sh", "/bin/sh", "a b", "", "..", "-rf"):
        with pytest.raises(ActionRefused):
            resolve_script(bad, d)
    with pytest.raises(ActionRefused, match="not installed"):
        resolve_script("missing.sh", d)
    (d / "plain.txt").write_text("x")
    with pytest.raises(ActionRefused, match="executable"):
        resolve_script("plain.txt", d)
    (d / "link.sh").symlink_to("/bin/true")
    with pytest.raises(ActionRefused, match="symbolic link"):
        resolve_script("link.sh", d)


# --------------------------------------------------------------------------- CLI history


def test_history_rows_newest_first_and_filtered() -> None:
    def j(name: str, node: str, created: str, **status: Any) -> dict[str, Any]:
        return {"metadata": {"name": name, "creationTimestamp": created},
                "spec": {"nodeName": node, "rule": "hung", "action": {"type": "Reboot"}}, "status": status}

    jobs = [j("a", "n1", "2026-01-01T00:00:00Z", phase="Succeeded", message="rebooted",
              defender={"decision": "Allowed", "reason": "Allowed", "policy": "default", "rule": "reboots"}),
            j("b", "n2", "2026-01-01T00:01:00Z", phase="Denied",
              defender={"decision": "Denied", "reason": "BudgetExhausted", "policy": "p", "rule": "r"}),
            j("c", "n1", "2026-01-01T00:02:00Z")]
    rows = history_rows(jobs)
    assert [r[0] for r in rows] == ["c", "b", "a"]
    assert rows[1][5] == "Denied (BudgetExhausted: p/r)" and rows[2][6] == "rebooted" and rows[0][4] == "Pending"
    assert [r[0] for r in history_rows(jobs, "n1")] == ["c", "a"]
    assert render(rows).splitlines()[0].split() == ["NAME", "NODE", "RULE", "ACTION", "PHASE", "DECISION",
                                                    "OUTCOME", "CREATED"]


# --------------------------------------------------------------------------- verification window per step

SLOW_COOLDOWN = dataclasses.replace(RULE, cooldown_seconds=300)
QUICK_VERIFY = dataclasses.replace(SLOW_COOLDOWN, actions=(
    ActionSpec("RestartComponent", 30, {"type": "RestartComponent", "component": "npd"}, verify_seconds=5),
    *SLOW_COOLDOWN.actions[1:]))


@pytest.mark.parametrize(("rule", "jobs", "want", "requeue"), [
    # a success gets its verification window (the cooldown capped at 30 s), not the 5-minute cooldown
    (SLOW_COOLDOWN, [job(1, 0, "Succeeded", done_ago=10)], (p.WAIT, 0, 0, 0), 20.0),
    (SLOW_COOLDOWN, [job(1, 0, "Succeeded", done_ago=31)], (p.CREATE, 1, 1, 0), None),
    # the step's own verifySeconds wins
    (QUICK_VERIFY, [job(1, 0, "Succeeded", done_ago=2)], (p.WAIT, 0, 0, 0), 3.0),
    (QUICK_VERIFY, [job(1, 0, "Succeeded", done_ago=6)], (p.CREATE, 1, 1, 0), None),
    # a failed or timed-out step has nothing to verify: the next one at once
    (SLOW_COOLDOWN, [job(1, 0, "Failed", done_ago=1)], (p.CREATE, 1, 1, 0), None),
    (SLOW_COOLDOWN, [job(1, 0, "TimedOut", done_ago=1)], (p.CREATE, 1, 1, 0), None),
    # after the last step the cooldown applies before the ladder starts over
    (SLOW_COOLDOWN, [job(1, 0, "Failed"), job(1, 1, "Failed"), job(1, 2, "Failed", done_ago=100)],
     (p.WAIT, 0, 0, 0), 200.0),
])
def test_escalation_waits_for_the_steps_verification_window(rule: RuleSpec, jobs: list[p.JobView],
                                                            want: tuple[str, int, int, int],
                                                            requeue: float | None) -> None:
    d = p.plan(p.PlanInput(rule=rule, match=UNHEALTHY, jobs=tuple(jobs), now=NOW))
    assert (d.kind, d.attempt, d.step, d.retry) == want
    if requeue is not None:
        assert d.requeue_after == pytest.approx(requeue)


def test_verify_seconds_is_parsed() -> None:
    rules = parse_rules({"spec": {"rules": [{"name": "r", "conditions": [{"type": "A", "status": "True"}],
                                             "actions": [{"type": "Reboot", "verifySeconds": 7}]}]}})
    assert rules[0].actions[0].verify_seconds == 7
