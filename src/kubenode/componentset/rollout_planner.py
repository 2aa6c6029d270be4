"""The rollout planner: from the observed state of a MachineComponentSet to what happens next.

Pure and deterministic (no I/O, the clock is an input), so every rule below is
a row in a table-driven test. The controller gathers the observations, asks
the Defender about the batch the planner proposes, and carries out the plan.

Rules (DESIGN.md, "Rollout strategy"):

* **Order** is deterministic: machines sorted by sha256(machine UID + target
  revision), so a retried reconcile picks the very same machines and a new
  revision shuffles the canaries.
* **Batches** are sizes, integers or percentages of the selected machines;
  the last size repeats. A percentage rounds **up** and is at least 1
  machine (10% of 5 machines is 1; 30% of 5 is 2). The batch number is
  derived from how many machines are already assigned the target revision
  (cumulative boundaries), so it survives restarts without extra state.
* **One batch in flight**: a machine assigned the target revision that is not
  yet Running+healthy at it (and has not failed) keeps the next batch from
  starting.
* **maxUnavailable** (count or percentage, rounds up, at least 1): the next
  batch is cut to the room left by machines that are already not
  Running+healthy (failing ones included); none starts when there is no room.
* **batchSoakSeconds**: the previous batch must have been healthy for that
  long, measured from when the batch was first seen Running+healthy at the
  target (`batch_ready`, which the controller keeps in
  `status.batchReadyTime`), or from a newer `Healthy` transition an agent
  reported. A quick upgrade never flips `Healthy`, so its old transition
  time alone would skip the soak.
* **maxFailures** (count or percentage, rounds up; default 0): more failed
  machines than that stop the rollout — Paused with Degraded=True and the
  failed machines listed — or, with **rollbackOnFailure**, every machine
  assigned another revision goes back to the stable one (phase RollingBack,
  then Failed once all are healthy there).
* **pauseAfterBatches**: after batch k the rollout waits until `kubenode
  rollout resume` approves batch k; **spec.paused** stops new batches
  (machines already updating finish).
* Machines **still joining** (not in service) without a component get one at
  once (nothing runs there that an update could break): at the target
  revision, or at the stable one while the rollout is stopped by failures.
  Machines **in service** without a component (a new set, a selector that
  now matches them) wait for their batch like any other machine: a first
  install on a serving machine is a change that goes through the Defender.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kubenode.api import constants as c

from .fleet import ComponentState, FleetView, MachineState, Traits, order_key

__all__ = ["Batch", "ComponentState", "FleetView", "MachineState", "Plan", "RolloutInput", "Strategy",
           "batch_boundaries", "normalized_stable", "order_key", "plan_rollout", "resolve", "rollout_order"]

IntOrPercent = int | str

#: Where the planner looks when a rollout can only wait for time to pass (soak).
MIN_REQUEUE_SECONDS = 1.0


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Strategy:
    """`spec.updateStrategy`, parsed."""

    type: str = c.UPDATE_STRATEGY_ROLLING_UPDATE
    batches: tuple[IntOrPercent, ...] = (1, "10%")
    max_unavailable: IntOrPercent | None = None
    soak_seconds: float = 0.0
    max_failures: IntOrPercent = 0
    pause_after: frozenset[int] = frozenset()
    rollback_on_failure: bool = False

    @classmethod
    def from_spec(cls, update_strategy: dict[str, Any] | None) -> Strategy:
        """Parse `spec.updateStrategy`; ValueError names the field path of a bad value."""
        us = update_strategy or {}
        ru = us.get("rollingUpdate") or {}
        path = "spec.updateStrategy.rollingUpdate"
        batches = tuple(ru.get("batches") or (1, "10%"))
        for i, b in enumerate(batches):
            _check_int_or_percent(b, f"{path}.batches[{i}]", minimum=1)
        mu = ru.get("maxUnavailable")
        if mu is not None:
            _check_int_or_percent(mu, f"{path}.maxUnavailable", minimum=1)
        mf = ru.get("maxFailures", 0)
        _check_int_or_percent(mf, f"{path}.maxFailures", minimum=0)
        soak = ru.get("batchSoakSeconds", 0) or 0
        if not isinstance(soak, int | float) or soak < 0:
            raise ValueError(f"{path}.batchSoakSeconds: must be a number >= 0, not {soak!r}")
        return cls(type=str(us.get("type") or c.UPDATE_STRATEGY_ROLLING_UPDATE), batches=batches,
                   max_unavailable=mu, soak_seconds=float(soak), max_failures=mf,
                   pause_after=frozenset(int(x) for x in ru.get("pauseAfterBatches") or ()),
                   rollback_on_failure=bool(ru.get("rollbackOnFailure", False)))


def _check_int_or_percent(value: Any, path: str, minimum: int) -> None:
    if isinstance(value, bool):
        raise ValueError(f"{path}: must be an integer or a percentage, not {value!r}")
    if isinstance(value, int):
        if value < minimum:
            raise ValueError(f"{path}: must be >= {minimum}, not {value}")
        return
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        pct = int(value[:-1])
        if not (minimum <= pct <= 100) and not (minimum == 0 and pct == 0):
            raise ValueError(f"{path}: percentage must be {minimum}%-100%, not {value}")
        return
    raise ValueError(f"{path}: must be an integer or a percentage such as '10%', not {value!r}")


@dataclass(frozen=True)
class RolloutInput:
    """Everything the planner looks at."""

    target: str  # revision of spec.template
    #: The selected machines: a list, or a `FleetView` the caller keeps up to date (built for `target` and
    #: `normalized_stable(target, stable)`; any other view is rebuilt).
    machines: Sequence[MachineState] | FleetView
    strategy: Strategy = field(default_factory=Strategy)
    stable: str | None = None  # revision to fall back to (last completed, else the previous one)
    paused: bool = False  # spec.paused
    approved_batch: int = 0  # pause points up to this batch were approved (`kubenode rollout resume`)
    #: status.phase, when status.updateRevision is the target: the rollout's memory of a rollback.
    previous_phase: str = ""
    previous_failed: tuple[tuple[str, str], ...] = ()  # status.failedMachines, same condition
    batch_start: float | None = None  # status.batchStartTime (soak fallback)
    #: When the last batch was first seen complete (status.batchReadyTime); the controller passes `now`
    #: when none is recorded, so the first reconcile that sees the batch complete starts the soak clock.
    batch_ready: float | None = None
    now: float = 0.0


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Batch:
    """Machines to move to `revision` together, once the Defender admits them."""

    number: int  # 1-based batch number; 0 for a rollback
    machines: tuple[str, ...]
    nodes: tuple[str, ...]
    revision: str
    rollback: bool = False


@dataclass
class Plan:
    """What to do now and what to report."""

    phase: str
    reason: str  # CamelCase reason of the Progressing/Paused decision
    message: str
    creates: dict[str, str] = field(default_factory=dict)  # machine → revision (machines without a component)
    batch: Batch | None = None
    in_flight: tuple[str, ...] = ()  # machines updating to the target now
    desired: int = 0
    updated: int = 0
    ready: int = 0
    failed: tuple[tuple[str, str], ...] = ()  # (machine, message)
    unavailable: int = 0
    current_batch: int = 0
    total_batches: int = 0
    requeue_after: float | None = None
    #: When the last batch became complete, to record in status.batchReadyTime (None: a batch is in flight
    #: or none finished yet).
    batch_ready: float | None = None
    #: How many machines in service wait for their first install (they count in no unavailability).
    waiting: int = 0

    @property
    def degraded(self) -> bool:
        """Failures seen (tolerated or not), or a rollback happened."""
        return bool(self.failed) or self.phase in (c.ROLLOUT_PHASE_ROLLING_BACK, c.ROLLOUT_PHASE_FAILED)


# --------------------------------------------------------------------------- arithmetic


def resolve(value: IntOrPercent, total: int, *, minimum: int = 1) -> int:
    """A count, or a percentage of `total` rounded UP; at least `minimum`."""
    # Integer ceiling division: no float rounding surprises (7% of 100 is exactly 7).
    n = -(-int(value.rstrip("%")) * total // 100) if isinstance(value, str) else int(value)
    return max(minimum, n)


def batch_boundaries(batches: Sequence[IntOrPercent], total: int) -> list[int]:
    """Cumulative machine counts at the end of each batch (the last size repeats); the last is `total`."""
    if total <= 0:
        return []
    bounds: list[int] = []
    done, i = 0, 0
    while done < total:
        size = resolve(batches[min(i, len(batches) - 1)], total)
        done = min(total, done + size)
        bounds.append(done)
        i += 1
    return bounds


def rollout_order(machines: Sequence[MachineState], revision: str) -> list[MachineState]:
    """Machines in the order a rollout of `revision` visits them."""
    return sorted(machines, key=lambda m: (order_key(m.uid, revision), m.name))



def normalized_stable(target: str, stable: str | None) -> str | None:
    """The revision a rollout of `target` falls back to, as the planner sees it (None: there is none)."""
    return stable if stable and stable != target else None


def fleet_view(inp: RolloutInput) -> FleetView:
    """`inp.machines` as a view for its target and stable revision (the caller's, when it fits)."""
    stable = normalized_stable(inp.target, inp.stable)
    if isinstance(inp.machines, FleetView):
        if inp.machines.target == inp.target and inp.machines.stable == stable:
            return inp.machines
        return FleetView(inp.target, stable, (m for m in (inp.machines.get(n) for n in inp.machines.names())
                                              if m is not None))
    return FleetView(inp.target, stable, inp.machines)


# --------------------------------------------------------------------------- planning
#
# Everything below asks the view for counts (sums over a few buckets) and for the first k machines of some
# kind in rollout order (a lazy merge): a plan costs what the batch and the failures are, not the fleet.


def _no_component(t: Traits) -> bool:
    """A machine still joining, without a component: it gets one at once."""
    return not t.component and not t.waiting


def _waiting(t: Traits) -> bool:
    return t.waiting


def _failed(t: Traits) -> bool:
    return t.failed


def _at_target(t: Traits) -> bool:
    return t.at_target


def _not_at_target(t: Traits) -> bool:
    """What a batch may take: a component at another revision, or a machine in service waiting for one."""
    return (t.component and not t.at_target) or t.waiting


def _updating(t: Traits) -> bool:
    """Being created, or assigned the target and neither ready nor failed there yet."""
    return _no_component(t) or (t.at_target and not t.ready and not t.failed)


def plan_rollout(inp: RolloutInput) -> Plan:
    """The next step of the rollout of `inp.target` (see the module docstring for the rules)."""
    s = inp.strategy
    view = fleet_view(inp)
    n = len(view)
    bounds = batch_boundaries(s.batches, n)
    failed = tuple((m.name, (m.component.message if m.component else "") or "component failed")
                   for m in view.walk(_failed))
    plan = Plan(phase=c.ROLLOUT_PHASE_PROGRESSING, reason=c.COMPONENT_SET_REASON_BATCH_IN_PROGRESS, message="",
                desired=n, total_batches=len(bounds),
                updated=view.count(lambda t: t.updated),
                ready=view.count(lambda t: t.ready),
                failed=failed,
                unavailable=view.count(lambda t: not t.available),
                waiting=view.count(_waiting))
    if n == 0:
        plan.phase, plan.reason = c.ROLLOUT_PHASE_COMPLETED, c.COMPONENT_SET_REASON_NO_MACHINES
        plan.message = "no machine matches the selector"
        return plan

    max_failures = resolve(s.max_failures, n, minimum=0)
    too_many_failures = len(failed) > max_failures
    stable = view.stable
    remembered_rollback = inp.previous_phase in (c.ROLLOUT_PHASE_ROLLING_BACK, c.ROLLOUT_PHASE_FAILED)
    if stable is not None and (remembered_rollback or (too_many_failures and s.rollback_on_failure)):
        return _plan_rollback(inp, plan, view, stable)
    if too_many_failures:
        plan.creates = {m.name: stable or inp.target for m in view.walk(_no_component)}
        plan.phase, plan.reason = c.ROLLOUT_PHASE_PAUSED, c.COMPONENT_SET_REASON_MAX_FAILURES_EXCEEDED
        plan.message = (f"{len(failed)} machine(s) failed (maxFailures {max_failures}): "
                        f"{', '.join(name for name, _ in failed[:5])}; fix the template or run "
                        "`kubenode rollout undo`")
        plan.current_batch = _batch_number(bounds, view.count(_at_target))
        return plan

    plan.creates = {m.name: inp.target for m in view.walk(_no_component)}
    moved = view.count(_at_target) + len(plan.creates)
    plan.current_batch = _batch_number(bounds, moved)
    plan.in_flight = tuple(m.name for m in view.walk(_updating))

    if s.type == c.UPDATE_STRATEGY_ON_DELETE:
        plan.creates.update({m.name: inp.target for m in view.walk(_waiting)})  # OnDelete: no batches at all
        return _plan_on_delete(plan, view, inp.target)
    if moved >= n and not plan.in_flight:
        plan.phase, plan.reason = c.ROLLOUT_PHASE_COMPLETED, c.COMPONENT_SET_REASON_ROLLOUT_COMPLETE
        plan.current_batch = len(bounds)
        plan.message = f"all {n} machine(s) run revision {inp.target}"
        if failed:
            plan.message += f" except {len(failed)} failed (tolerated by maxFailures {max_failures})"
        return plan
    if inp.paused:
        plan.phase, plan.reason = c.ROLLOUT_PHASE_PAUSED, c.COMPONENT_SET_REASON_PAUSED_BY_USER
        plan.message = "paused (spec.paused); `kubenode rollout resume` continues"
        return plan
    if plan.in_flight:
        plan.message = (f"batch {plan.current_batch} of {len(bounds)} in progress: "
                        f"{len(plan.in_flight)} machine(s) updating")
        return plan

    k = plan.current_batch
    if k >= 1:
        plan.batch_ready = inp.batch_ready if inp.batch_ready is not None else inp.now
    if k >= 1 and moved < bounds[k - 1]:
        number, size = k, bounds[k - 1] - moved  # top up a batch that maxUnavailable cut short
    else:
        number, size = k + 1, bounds[k] - moved
        if k >= 1 and k in s.pause_after and inp.approved_batch < k:
            plan.phase, plan.reason = c.ROLLOUT_PHASE_PAUSED, c.COMPONENT_SET_REASON_PAUSED_AFTER_BATCH
            plan.message = f"paused after batch {k} of {len(bounds)} for approval: `kubenode rollout resume`"
            return plan
        if k >= 1 and s.soak_seconds > 0:
            soaked = _soaked_for(view, inp)
            if soaked < s.soak_seconds:
                plan.reason = c.COMPONENT_SET_REASON_BATCH_SOAKING
                left = s.soak_seconds - soaked
                plan.message = f"batch {k} of {len(bounds)} soaking: next batch in {math.ceil(left)}s"
                plan.requeue_after = max(MIN_REQUEUE_SECONDS, left)
                return plan
    if s.max_unavailable is not None:
        room = resolve(s.max_unavailable, n) - (plan.unavailable - plan.waiting)
        if room <= 0:
            plan.reason = c.COMPONENT_SET_REASON_MAX_UNAVAILABLE
            plan.message = (f"waiting: {plan.unavailable} machine(s) unavailable, maxUnavailable "
                            f"{resolve(s.max_unavailable, n)}")
            return plan
        size = min(size, room)
    chosen = list(view.walk(_not_at_target, limit=size))
    plan.batch = Batch(number, tuple(m.name for m in chosen), tuple(m.node or m.name for m in chosen), inp.target)
    plan.current_batch = number
    plan.message = f"starting batch {number} of {len(bounds)}: {len(chosen)} machine(s)"
    return plan


def _batch_number(bounds: Sequence[int], moved: int) -> int:
    """The batch that `moved` assigned machines reach (0 before the first)."""
    if moved <= 0:
        return 0
    return min(bisect.bisect_left(bounds, moved) + 1, len(bounds))


def _soaked_for(view: FleetView, inp: RolloutInput) -> float:
    """Seconds since the machines at the target last became healthy (their newest Healthy transition)."""
    times = [t for t in (view.newest_ready_since(),
                         inp.batch_start if view.has_ready_without_since() else None,
                         inp.batch_ready) if t is not None]
    if not times:
        return math.inf  # nothing to measure from: do not wait forever
    return inp.now - max(times)


def _plan_rollback(inp: RolloutInput, plan: Plan, view: FleetView, stable: str) -> Plan:
    """Every machine goes back to `stable` at once (a rollback is a remedy, not a rollout)."""
    failed = dict(inp.previous_failed)
    failed.update(plan.failed)
    plan.failed = tuple(sorted(failed.items()))
    plan.creates = {m.name: stable for m in view.walk(_no_component)}
    moving = list(view.walk(lambda t: t.component and not t.at_stable))
    plan.in_flight = tuple(m.name for m in view.walk(lambda t: t.at_stable and not t.ready_stable))
    plan.current_batch = 0
    if moving:
        plan.phase, plan.reason = c.ROLLOUT_PHASE_ROLLING_BACK, c.COMPONENT_SET_REASON_ROLLING_BACK
        plan.batch = Batch(0, tuple(m.name for m in moving), tuple(m.node or m.name for m in moving), stable,
                           rollback=True)
        plan.message = (f"rolling {len(moving)} machine(s) back to revision {stable} after "
                        f"{len(plan.failed)} failure(s)")
        return plan
    if plan.in_flight or plan.creates:
        plan.phase, plan.reason = c.ROLLOUT_PHASE_ROLLING_BACK, c.COMPONENT_SET_REASON_ROLLING_BACK
        plan.message = f"rolling back to revision {stable}: {len(plan.in_flight)} machine(s) not healthy yet"
        return plan
    plan.phase, plan.reason = c.ROLLOUT_PHASE_FAILED, c.COMPONENT_SET_REASON_ROLLED_BACK
    plan.message = (f"revision {inp.target} failed on {len(plan.failed)} machine(s); all machines are back on "
                    f"revision {stable}. Fix the template or run `kubenode rollout undo`")
    return plan


def _plan_on_delete(plan: Plan, view: FleetView, target: str) -> Plan:
    """OnDelete: only new components get the target; existing ones move when someone deletes them."""
    stale = view.count(_not_at_target)
    if not stale and not plan.in_flight:
        plan.phase, plan.reason = c.ROLLOUT_PHASE_COMPLETED, c.COMPONENT_SET_REASON_ROLLOUT_COMPLETE
        plan.message = f"all {plan.desired} machine(s) run revision {target}"
    else:
        plan.message = (f"OnDelete: {stale} machine(s) keep an older revision until their "
                        "MachineComponent is deleted")
    return plan
