"""The ComponentRelease planner: a pure function from observed state to the next step of a staged release.

A release travels through `spec.stages` in order (test → pre → prod). Each
stage's clusters (the first stage whose `clusterSelector` matches a Cluster
owns it; sorted by name) are rolled in cluster batches (`clusterBatches`,
counts or percentages rounded up, minimum 1, the last size repeating). A
cluster is *settled* once its MachineComponentSet carries this release's
revision and is Completed and healthy (Succeeded), or has failed (Failed).
A batch is done once all its clusters are settled and the last of them has
soaked `soakSeconds`; the stage is done once its last batch is. Then, and
only then, the next stage starts: two stages never roll at once.

More failed clusters than `maxFailedClusters` stop the release in that
stage: the stage is Failed, the release Paused and Degraded, later stages
untouched. A stage with `requireApproval` waits for `kubenode release
approve` before its first cluster. Unreachable clusters are waited for and
named; they never count as done.

The planner sees the previous status (for timestamps, and stages that
already succeeded for this revision are not re-read), the Clusters, the
member sets of the active stage and the clock; it returns the new status
and the clusters to apply the release to. The reconciler asks the
Defender about each of those before it writes anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubenode.api import constants as c
from kubenode.apimachinery.timefmt import format_time, parse_time

Obj = dict[str, Any]
Selector = Callable[[Mapping[str, str]], bool]

PENDING, ROLLING, SUCCEEDED, FAILED, PAUSED = (c.STEP_PHASE_PENDING, c.STEP_PHASE_ROLLING, c.STEP_PHASE_SUCCEEDED,
                                               c.STEP_PHASE_FAILED, c.STEP_PHASE_PAUSED)


#: Epoch seconds → metav1.Time (the toolkit's formatter).
rfc3339 = format_time


@dataclass(frozen=True)
class StageSpec:
    """One `spec.stages[]` entry, with its selector compiled."""

    name: str
    matches: Selector
    batches: tuple[int | str, ...] = ("100%",)
    soak_seconds: float = 0.0
    require_approval: bool = False
    max_failed: int = 0


@dataclass(frozen=True)
class ClusterView:
    """A Cluster as the planner sees it."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    reachable: bool = True
    message: str = ""  # why it is unreachable


@dataclass(frozen=True)
class MemberSet:
    """The release's MachineComponentSet in one member cluster (what its controller reports)."""

    revision: str  # the release revision it carries (annotation kubenode.io/release-revision)
    version: str = ""
    observed: bool = True  # status.observedGeneration >= metadata.generation
    phase: str = ""
    desired: int = 0
    ready: int = 0
    degraded: bool = False  # Degraded=True (machines failed)
    denied: bool = False  # RolloutAllowed=False: the member's Defender holds it
    message: str = ""


@dataclass(frozen=True)
class ReleaseInput:
    """Everything one planning step needs."""

    revision: str
    stages: Sequence[StageSpec]
    clusters: Sequence[ClusterView]
    #: Member sets of the clusters the reconciler read (the active stage's); absent: none exists there,
    #: or the cluster could not be read (then it is not reachable in `clusters`).
    members: Mapping[str, MemberSet]
    previous: Obj  # the previous status (only used when its revision is `revision`)
    approved_stages: frozenset[str] = frozenset()
    paused: bool = False
    now: float = 0.0


@dataclass
class ReleasePlan:
    """The planner's answer."""

    phase: str
    current_stage: str
    stages: list[Obj]
    #: Clusters to create or update the member set in now (each after a Defender review).
    apply: list[str]
    progressing: tuple[str, str, str]  # status, reason, message
    degraded: tuple[str, str, str]
    unreachable: list[str]
    message: str
    #: Clusters whose step is settled (their Defender operation is finished).
    settled: list[str]
    requeue_after: float | None = None


def batch_sizes(spec: Sequence[int | str], total: int) -> list[int]:
    """Resolve cluster batch sizes against `total` clusters: percentages round up (minimum 1), the last size
    repeats until every cluster has a batch."""
    sizes: list[int] = []
    i = 0
    while sum(sizes) < total:
        raw = spec[min(i, len(spec) - 1)] if spec else "100%"
        n = math.ceil(total * int(raw[:-1]) / 100) if isinstance(raw, str) and raw.endswith("%") else int(raw)
        sizes.append(max(1, min(n, total - sum(sizes))))
        i += 1
    return sizes


def assign_stages(stages: Sequence[StageSpec], clusters: Sequence[ClusterView]) -> dict[str, list[ClusterView]]:
    """Each cluster in the first stage that selects it; sorted by name inside a stage."""
    out: dict[str, list[ClusterView]] = {s.name: [] for s in stages}
    for cl in sorted(clusters, key=lambda x: x.name):
        for s in stages:
            if s.matches(cl.labels):
                out[s.name].append(cl)
                break
    return out


def member_phase(member: MemberSet | None, revision: str) -> str:
    """A cluster's step phase from its member set."""
    if member is None or member.revision != revision:
        return PENDING
    if not member.observed:
        return ROLLING
    if member.phase in (c.ROLLOUT_PHASE_FAILED, c.ROLLOUT_PHASE_ROLLING_BACK) or member.degraded or member.denied:
        return FAILED
    if member.phase == c.ROLLOUT_PHASE_COMPLETED and member.ready >= member.desired:
        return SUCCEEDED
    return ROLLING


def _member_message(member: MemberSet | None, phase: str) -> str:
    if member is None or phase == PENDING:
        return ""
    if member.message:
        return member.message
    return f"{member.ready}/{member.desired} machines ready ({member.phase or 'waiting for its controller'})"


def plan_release(inp: ReleaseInput) -> ReleasePlan:
    """The next step of the release (pure: no I/O, the clock is `inp.now`)."""
    now = inp.now
    prev = inp.previous if inp.previous.get("revision") == inp.revision else {}
    prev_stages = {s.get("name"): s for s in prev.get("stages") or []}
    members_of = assign_stages(inp.stages, inp.clusters)
    stages_out: list[Obj] = []
    apply: list[str] = []
    unreachable: list[str] = []
    settled: list[str] = []
    phase, current = c.RELEASE_PHASE_COMPLETED, ""
    progressing = (c.CONDITION_FALSE, c.RELEASE_REASON_RELEASE_COMPLETE, "every stage succeeded")
    degraded = (c.CONDITION_FALSE, c.RELEASE_REASON_NO_FAILURES, "no cluster failed")
    message = "released to every stage"
    requeue: float | None = None
    active_seen = False

    for stage in inp.stages:
        clusters = members_of[stage.name]
        before = prev_stages.get(stage.name) or {}
        sizes = batch_sizes(stage.batches, len(clusters))
        if active_seen:
            # Later stages are untouched until the active one is done.
            stages_out.append(_pending_stage(stage.name, clusters, sizes))
            continue
        if before.get("phase") == SUCCEEDED:
            stages_out.append(before)
            settled.extend(str(x.get("name")) for x in before.get("clusters") or [])
            continue
        # This is the active stage.
        active_seen = True
        current = stage.name
        entry, outcome = _plan_stage(stage, clusters, sizes, before, inp, now)
        stages_out.append(entry)
        apply.extend(outcome.apply)
        unreachable.extend(outcome.unreachable)
        settled.extend(outcome.settled)
        requeue = outcome.requeue_after
        phase, progressing, degraded, message = outcome.phase, outcome.progressing, outcome.degraded, outcome.message
        if entry["phase"] == SUCCEEDED:
            # Done in this very step: the next stage starts on the next reconcile (never two at once).
            active_seen, current = True, stage.name
            phase = c.RELEASE_PHASE_PROGRESSING
            requeue = 0.0 if stage is not inp.stages[-1] else None
            if stage is inp.stages[-1]:
                phase, current = c.RELEASE_PHASE_COMPLETED, ""
                progressing = (c.CONDITION_FALSE, c.RELEASE_REASON_RELEASE_COMPLETE, "every stage succeeded")
                message = "released to every stage"
            else:
                progressing = (c.CONDITION_TRUE, c.RELEASE_REASON_ROLLING, f"stage {stage.name} succeeded")
                message = f"stage {stage.name} succeeded; the next stage starts"
    return ReleasePlan(phase=phase, current_stage=current, stages=stages_out, apply=apply, progressing=progressing,
                       degraded=degraded, unreachable=unreachable, message=message, settled=settled,
                       requeue_after=requeue)


def _pending_stage(name: str, clusters: Sequence[ClusterView], sizes: list[int]) -> Obj:
    batch_of = _batch_numbers(sizes)
    return {"name": name, "phase": PENDING, "currentBatch": 0, "totalBatches": len(sizes),
            "clusters": [{"name": cl.name, "phase": PENDING, "batch": batch_of[i]} for i, cl in enumerate(clusters)]}


def _batch_numbers(sizes: list[int]) -> list[int]:
    out: list[int] = []
    for b, n in enumerate(sizes, start=1):
        out.extend([b] * n)
    return out


@dataclass
class _StageOutcome:
    phase: str
    progressing: tuple[str, str, str]
    degraded: tuple[str, str, str]
    message: str
    apply: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    requeue_after: float | None = None


def _plan_stage(stage: StageSpec, clusters: Sequence[ClusterView], sizes: list[int], before: Obj,
                inp: ReleaseInput, now: float) -> tuple[Obj, _StageOutcome]:
    prev_steps = {x.get("name"): x for x in before.get("clusters") or []}
    batch_of = _batch_numbers(sizes)
    steps: list[Obj] = []
    for i, cl in enumerate(clusters):
        old = prev_steps.get(cl.name) or {}
        member = inp.members.get(cl.name)
        if cl.reachable:
            ph = member_phase(member, inp.revision)
            msg = _member_message(member, ph)
        else:
            # Not read this time: keep what was known, and say why.
            ph = str(old.get("phase") or PENDING)
            msg = f"unreachable: {cl.message}" if cl.message else "unreachable"
        step: Obj = {"name": cl.name, "phase": ph, "batch": batch_of[i]}
        for key in ("startedAt", "previousVersion"):
            if old.get(key):
                step[key] = old[key]
        if ph != PENDING and "startedAt" not in step:
            step["startedAt"] = rfc3339(now)
        if ph in (SUCCEEDED, FAILED):
            step["completedAt"] = old["completedAt"] if old.get("phase") == ph and old.get("completedAt") else (
                rfc3339(now))
        if msg:
            step["message"] = msg
        steps.append(step)

    entry: Obj = {"name": stage.name, "phase": ROLLING, "currentBatch": 0, "totalBatches": len(sizes),
                  "clusters": steps}
    if before.get("startedAt"):
        entry["startedAt"] = before["startedAt"]
    started = [s for s in steps if s["phase"] != PENDING]
    if started and "startedAt" not in entry:
        entry["startedAt"] = min(s["startedAt"] for s in started)
    settled = [s["name"] for s in steps if s["phase"] in (SUCCEEDED, FAILED)]
    unreachable = [cl.name for cl in clusters if not cl.reachable]
    failed = [s for s in steps if s["phase"] == FAILED]
    progressing_default = (c.CONDITION_TRUE, c.RELEASE_REASON_ROLLING, f"stage {stage.name} is rolling")
    no_failures = (c.CONDITION_FALSE, c.RELEASE_REASON_NO_FAILURES, "no cluster failed")

    if len(failed) > stage.max_failed:
        names = ", ".join(f"{s['name']} ({s.get('message', '')})" for s in failed)
        msg = (f"stopped in stage {stage.name}: {len(failed)} cluster(s) failed, {stage.max_failed} tolerated: "
               f"{names}; later stages are untouched. Fix the template (a new revision starts over) or run "
               "`kubenode release undo`")
        entry["phase"] = FAILED
        entry["completedAt"] = before.get("completedAt") if before.get("phase") == FAILED and before.get(
            "completedAt") else rfc3339(now)
        entry["currentBatch"] = max((s["batch"] for s in started), default=0)
        return entry, _StageOutcome(c.RELEASE_PHASE_PAUSED,
                                    (c.CONDITION_FALSE, c.RELEASE_REASON_CLUSTERS_FAILED, msg),
                                    (c.CONDITION_TRUE, c.RELEASE_REASON_CLUSTERS_FAILED, msg), msg,
                                    unreachable=unreachable, settled=settled)

    degraded = no_failures
    if failed:
        degraded = (c.CONDITION_FALSE, c.RELEASE_REASON_NO_FAILURES,
                    f"{len(failed)} failed cluster(s) tolerated in stage {stage.name}")

    if not clusters:
        entry["phase"] = SUCCEEDED
        entry["completedAt"] = before.get("completedAt") or rfc3339(now)
        return entry, _StageOutcome(c.RELEASE_PHASE_PROGRESSING, progressing_default, degraded,
                                    f"stage {stage.name} selects no cluster")

    if stage.require_approval and stage.name not in inp.approved_stages and not started:
        entry["phase"] = PAUSED
        msg = (f"stage {stage.name} waits for approval: kubenode release approve <release> "
               f"(clusters: {', '.join(cl.name for cl in clusters)})")
        return entry, _StageOutcome(c.RELEASE_PHASE_PAUSED,
                                    (c.CONDITION_FALSE, c.RELEASE_REASON_WAITING_FOR_APPROVAL, msg), degraded, msg,
                                    unreachable=unreachable, settled=settled)

    # Walk the batches: the first one not settled-and-soaked is current.
    by_name = {s["name"]: s for s in steps}
    reachable = {cl.name for cl in clusters if cl.reachable}
    first = 0
    for b, size in enumerate(sizes, start=1):
        batch = [cl.name for cl in clusters[first:first + size]]
        first += size
        entry["currentBatch"] = b
        open_steps = [n for n in batch if by_name[n]["phase"] not in (SUCCEEDED, FAILED)]
        if open_steps:
            waiting = [n for n in open_steps if n not in reachable]
            to_apply = [n for n in open_steps if n in reachable and by_name[n]["phase"] == PENDING]
            if inp.paused:
                msg = f"paused by the user in stage {stage.name}, batch {b} of {len(sizes)}"
                entry["phase"] = PAUSED if not started else ROLLING
                return entry, _StageOutcome(c.RELEASE_PHASE_PAUSED,
                                            (c.CONDITION_FALSE, c.RELEASE_REASON_PAUSED_BY_USER, msg), degraded, msg,
                                            unreachable=unreachable, settled=settled)
            for n in to_apply:
                by_name[n]["phase"] = ROLLING
                by_name[n]["startedAt"] = by_name[n].get("startedAt") or rfc3339(now)
            if to_apply and "startedAt" not in entry:
                entry["startedAt"] = rfc3339(now)
            if waiting:
                msg = (f"stage {stage.name}, batch {b} of {len(sizes)}: waiting for unreachable cluster(s) "
                       f"{', '.join(waiting)}")
                progressing = (c.CONDITION_TRUE, c.RELEASE_REASON_CLUSTERS_UNREACHABLE, msg)
            else:
                rolling = ", ".join(open_steps)
                msg = f"stage {stage.name}, batch {b} of {len(sizes)}: rolling {rolling}"
                progressing = (c.CONDITION_TRUE, c.RELEASE_REASON_ROLLING, msg)
            return entry, _StageOutcome(c.RELEASE_PHASE_PROGRESSING, progressing, degraded, msg, apply=to_apply,
                                        unreachable=unreachable, settled=settled)
        done_at = max((parse_time(by_name[n].get("completedAt")) or now) for n in batch)
        left = done_at + stage.soak_seconds - now
        if left > 0:
            msg = f"stage {stage.name}, batch {b} of {len(sizes)}: soaking, {math.ceil(left)}s left"
            return entry, _StageOutcome(c.RELEASE_PHASE_PROGRESSING,
                                        (c.CONDITION_TRUE, c.RELEASE_REASON_SOAKING, msg), degraded, msg,
                                        unreachable=unreachable, settled=settled, requeue_after=left)
    entry["phase"] = SUCCEEDED
    entry["completedAt"] = before.get("completedAt") if before.get("completedAt") else rfc3339(now)
    return entry, _StageOutcome(c.RELEASE_PHASE_PROGRESSING, progressing_default, degraded,
                                f"stage {stage.name} succeeded", unreachable=unreachable, settled=settled)
