"""The ComponentRelease planner: stages in order, cluster batches, soak, failures, approval, unreachable members."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from kubenode.release.controller import approved_stages, release_revision
from kubenode.release.release_planner import (
    ClusterView,
    MemberSet,
    ReleaseInput,
    StageSpec,
    batch_sizes,
    member_phase,
    plan_release,
    rfc3339,
)

REV = "r1"
T0 = 1_800_000_000.0


def stage_of(name: str) -> Any:
    return lambda labels: labels.get("kubenode.io/stage") == name


def stages(**kw: Any) -> list[StageSpec]:
    return [StageSpec("test", stage_of("test"), **kw.get("test", {})),
            StageSpec("pre", stage_of("pre"), **kw.get("pre", {})),
            StageSpec("prod", stage_of("prod"), **kw.get("prod", {}))]


def clusters(*names: str, unreachable: tuple[str, ...] = ()) -> list[ClusterView]:
    return [ClusterView(n, {"kubenode.io/stage": n.split("-")[0]}, reachable=n not in unreachable,
                        message="connection refused" if n in unreachable else "") for n in names]


DONE = MemberSet(REV, "1.1.0", True, "Completed", 2, 2)
ROLLING = MemberSet(REV, "1.1.0", True, "Progressing", 2, 1)
BROKEN = MemberSet(REV, "1.2.0", True, "Paused", 2, 1, degraded=True, message="machine m1 failed")
DENIED = MemberSet(REV, "1.1.0", True, "Progressing", 2, 0, denied=True)
STALE = MemberSet(REV, "1.1.0", False, "Completed", 2, 2)
OLD = MemberSet("r0", "1.0.0", True, "Completed", 2, 2)


def succeeded_stage(name: str, *cluster_names: str) -> dict[str, Any]:
    return {"name": name, "phase": "Succeeded", "completedAt": rfc3339(T0 - 100),
            "clusters": [{"name": n, "phase": "Succeeded", "batch": 1} for n in cluster_names]}


def plan(cls: list[ClusterView], members: Mapping[str, MemberSet], previous: dict[str, Any] | None = None,
         now: float = T0, **kw: Any) -> Any:
    return plan_release(ReleaseInput(revision=REV, stages=kw.pop("stage_specs", stages()), clusters=cls,
                                     members=members, previous=previous or {}, now=now, **kw))


@pytest.mark.parametrize(("spec", "total", "sizes"), [
    (["100%"], 3, [3]),
    ([1, "25%"], 10, [1, 3, 3, 3]),
    ([1], 3, [1, 1, 1]),
    (["10%"], 3, [1, 1, 1]),
    ([2, 5], 4, [2, 2]),
    ([1, "50%"], 0, []),
])
def test_batch_sizes_round_up_and_repeat(spec: list[int | str], total: int, sizes: list[int]) -> None:
    assert batch_sizes(spec, total) == sizes


@pytest.mark.parametrize(("member", "phase"), [
    (None, "Pending"), (OLD, "Pending"), (STALE, "Rolling"), (ROLLING, "Rolling"), (DONE, "Succeeded"),
    (BROKEN, "Failed"), (DENIED, "Failed"),
    (MemberSet(REV, "1", True, "Completed", 2, 1), "Rolling"),
    (MemberSet(REV, "1", True, "RollingBack", 2, 1), "Failed"),
])
def test_member_phase(member: MemberSet | None, phase: str) -> None:
    assert member_phase(member, REV) == phase


# (id, clusters, members, previous stages, kwargs, expected: phase, current stage, apply, stage phases)
CASES: list[tuple[str, list[ClusterView], dict[str, MemberSet], list[dict[str, Any]], dict[str, Any],
                  tuple[str, str, list[str], list[str]]]] = [
    ("fresh release starts the first stage only", clusters("test", "pre", "prod"), {}, [], {},
     ("Progressing", "test", ["test"], ["Rolling", "Pending", "Pending"])),
    ("a rolling member is waited for", clusters("test", "pre"), {"test": ROLLING}, [], {},
     ("Progressing", "test", [], ["Rolling", "Pending", "Pending"])),
    ("a stale member status is not done", clusters("test", "pre"), {"test": STALE}, [], {},
     ("Progressing", "test", [], ["Rolling", "Pending", "Pending"])),
    ("a finished stage hands over on the next step", clusters("test", "pre"), {"test": DONE}, [], {},
     ("Progressing", "test", [], ["Succeeded", "Pending", "Pending"])),
    ("the next stage starts once the earlier succeeded", clusters("test", "pre-1", "pre-2"), {},
     [succeeded_stage("test", "test")], {}, ("Progressing", "pre", ["pre-1", "pre-2"],
                                             ["Succeeded", "Rolling", "Pending"])),
    ("cluster batches: one canary first", clusters("test", "pre-1", "pre-2", "pre-3"), {},
     [succeeded_stage("test", "test")], {"stage_specs": stages(pre={"batches": (1, "100%")})},
     ("Progressing", "pre", ["pre-1"], ["Succeeded", "Rolling", "Pending"])),
    ("second batch after the canary", clusters("test", "pre-1", "pre-2", "pre-3"), {"pre-1": DONE},
     [succeeded_stage("test", "test")], {"stage_specs": stages(pre={"batches": (1, "100%")})},
     ("Progressing", "pre", ["pre-2", "pre-3"], ["Succeeded", "Rolling", "Pending"])),
    ("a failure stops the stage and pauses", clusters("test", "pre", "prod"), {"test": BROKEN}, [], {},
     ("Paused", "test", [], ["Failed", "Pending", "Pending"])),
    ("a member's Defender denying is a failure", clusters("test", "pre"), {"test": DENIED}, [], {},
     ("Paused", "test", [], ["Failed", "Pending", "Pending"])),
    ("tolerated failures let the stage finish", clusters("test-1", "test-2", "pre"),
     {"test-1": BROKEN, "test-2": DONE}, [], {"stage_specs": stages(test={"max_failed": 1})},
     ("Progressing", "test", [], ["Succeeded", "Pending", "Pending"])),
    ("approval gates the stage", clusters("test", "pre"), {}, [succeeded_stage("test", "test")],
     {"stage_specs": stages(pre={"require_approval": True})},
     ("Paused", "pre", [], ["Succeeded", "Paused", "Pending"])),
    ("an approved stage starts", clusters("test", "pre"), {}, [succeeded_stage("test", "test")],
     {"stage_specs": stages(pre={"require_approval": True}), "approved_stages": frozenset({"pre"})},
     ("Progressing", "pre", ["pre"], ["Succeeded", "Rolling", "Pending"])),
    ("paused by the user starts nothing", clusters("test", "pre"), {}, [], {"paused": True},
     ("Paused", "test", [], ["Paused", "Pending", "Pending"])),
    ("an unreachable member is waited for, not applied", clusters("test-1", "test-2", unreachable=("test-2",)),
     {}, [], {}, ("Progressing", "test", ["test-1"], ["Rolling", "Pending", "Pending"])),
    ("an old revision in a member is pending", clusters("test"), {"test": OLD}, [], {},
     ("Progressing", "test", ["test"], ["Rolling", "Pending", "Pending"])),
    ("all stages done: completed", clusters("test", "pre", "prod"), {"prod": DONE},
     [succeeded_stage("test", "test"), succeeded_stage("pre", "pre")], {},
     ("Completed", "", [], ["Succeeded", "Succeeded", "Succeeded"])),
    ("empty stages succeed", [], {}, [], {}, ("Progressing", "test", [], ["Succeeded", "Pending", "Pending"])),
]


@pytest.mark.parametrize(("cls", "members", "prev", "kw", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_plan(cls: list[ClusterView], members: dict[str, MemberSet], prev: list[dict[str, Any]], kw: dict[str, Any],
              expected: tuple[str, str, list[str], list[str]]) -> None:
    p = plan(cls, members, {"revision": REV, "stages": prev}, **kw)
    assert (p.phase, p.current_stage, p.apply, [s["phase"] for s in p.stages]) == expected, p.message


def test_failure_names_the_cluster_and_is_degraded() -> None:
    p = plan(clusters("test", "pre"), {"test": BROKEN})
    assert p.degraded[0] == "True" and p.degraded[1] == "ClustersFailed"
    assert "test (machine m1 failed)" in p.message and "later stages are untouched" in p.message


def test_unreachable_members_are_named_in_the_condition() -> None:
    p = plan(clusters("test-1", "test-2", unreachable=("test-2",)), {"test-1": DONE})
    assert p.progressing[1] == "ClustersUnreachable"
    assert "test-2" in p.progressing[2] and "test-1" not in p.progressing[2]
    assert p.unreachable == ["test-2"]
    assert p.stages[0]["clusters"][1]["message"] == "unreachable: connection refused"


def test_soak_holds_the_next_stage_until_it_passed() -> None:
    specs = stages(test={"soak_seconds": 30})
    first = plan(clusters("test", "pre"), {"test": DONE}, stage_specs=specs)
    assert first.stages[0]["phase"] == "Rolling" and first.requeue_after == pytest.approx(30)
    assert first.progressing[1] == "BatchSoaking"
    previous = {"revision": REV, "stages": first.stages}
    mid = plan(clusters("test", "pre"), {"test": DONE}, previous, now=T0 + 10, stage_specs=specs)
    assert mid.stages[0]["phase"] == "Rolling" and mid.apply == []
    done = plan(clusters("test", "pre"), {"test": DONE}, {"revision": REV, "stages": mid.stages}, now=T0 + 31,
                stage_specs=specs)
    assert done.stages[0]["phase"] == "Succeeded"
    assert done.stages[0]["clusters"][0]["completedAt"] == rfc3339(T0)


def test_a_new_revision_starts_over() -> None:
    previous = {"revision": "r0", "stages": [succeeded_stage("test", "test"), succeeded_stage("pre", "pre")]}
    p = plan(clusters("test", "pre"), {}, previous)
    assert p.current_stage == "test" and p.apply == ["test"]


def test_timestamps_are_kept_across_steps() -> None:
    first = plan(clusters("test"), {})
    started = first.stages[0]["clusters"][0]["startedAt"]
    later = plan(clusters("test"), {"test": ROLLING}, {"revision": REV, "stages": first.stages}, now=T0 + 50)
    assert later.stages[0]["clusters"][0]["startedAt"] == started == later.stages[0]["startedAt"]


def test_a_cluster_belongs_to_the_first_stage_that_selects_it() -> None:
    everything = [StageSpec("all", lambda _: True), StageSpec("again", lambda _: True)]
    p = plan(clusters("a", "b"), {}, stage_specs=everything)
    assert [x["name"] for x in p.stages[0]["clusters"]] == ["a", "b"]
    assert p.stages[1]["clusters"] == []


def test_revision_and_approvals() -> None:
    spec = {"component": "x", "selector": {}, "template": {"version": "1"}, "updateStrategy": {}, "stages": []}
    rev = release_revision(spec)
    assert rev == release_revision({**spec, "stages": [{"name": "other"}], "paused": True})
    assert rev != release_revision({**spec, "template": {"version": "2"}})
    cr = {"metadata": {"annotations": {"kubenode.io/approved-stage": f"{rev}/pre, old/prod,{rev}/prod"}}}
    assert approved_stages(cr, rev) == frozenset({"pre", "prod"})
    assert approved_stages({"metadata": {}}, rev) == frozenset()
