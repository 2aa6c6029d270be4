"""Table-driven tests of the MachineComponentSet rollout planner (pure: no server, no clock)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.componentset.rollout_planner import (
    ComponentState,
    MachineState,
    RolloutInput,
    Strategy,
    batch_boundaries,
    plan_rollout,
    resolve,
    rollout_order,
)

OLD, NEW = "old", "new"


def comp(machine: str, revision: str = OLD, state: str = "ok", since: float | None = None) -> ComponentState:
    """A component: state ok (Running, healthy, installed), updating (assigned, not yet there) or failed."""
    if state == "ok":
        return ComponentState(f"c-{machine}", revision, "Running", True, revision, healthy_since=since)
    if state == "updating":
        return ComponentState(f"c-{machine}", revision, "Installing", False, OLD, fresh=True)
    if state == "failed":
        return ComponentState(f"c-{machine}", revision, "Failed", False, OLD, message="health check failed")
    if state == "stale":  # just assigned: the agent has not seen the new spec yet
        return ComponentState(f"c-{machine}", revision, "Running", True, OLD, fresh=False)
    raise ValueError(state)


def fleet(n: int, **states: Any) -> list[MachineState]:
    """`n` machines m0..m{n-1}, at OLD and healthy unless `states` says otherwise (m3="new:failed")."""
    out = []
    for i in range(n):
        name = f"m{i}"
        spec = states.get(name, "old:ok")
        if spec is None:
            out.append(MachineState(name, f"uid-{name}"))
            continue
        rev, state = spec.split(":")
        out.append(MachineState(name, f"uid-{name}", component=comp(name, rev, state)))
    return out


def at_new(machines: list[MachineState], names: list[str], state: str = "ok") -> list[MachineState]:
    return [MachineState(m.name, m.uid, component=comp(m.name, NEW, state)) if m.name in names else m
            for m in machines]


def first(n: int, count: int) -> list[str]:
    """The first `count` machines of a fleet of `n` in rollout order of NEW."""
    return [m.name for m in rollout_order(fleet(n), NEW)][:count]


def plan(machines: list[MachineState], **kw: Any) -> Any:
    strategy = kw.pop("strategy", Strategy(batches=(1, 2, 2)))
    return plan_rollout(RolloutInput(target=NEW, machines=machines, strategy=strategy, stable=OLD, **kw))


# --------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(
    ("batches", "total", "bounds"),
    [
        ((1, 2, 2), 5, [1, 3, 5]),
        ((1, 5, 10), 100, [1, 6, 16, 26, 36, 46, 56, 66, 76, 86, 96, 100]),  # the last size repeats
        (("10%",), 5, [1, 2, 3, 4, 5]),  # 10% of 5 = 0.5 rounds up to 1
        (("30%",), 5, [2, 4, 5]),  # 1.5 rounds up to 2
        ((1, "50%"), 10, [1, 6, 10]),
        (("100%",), 7, [7]),
        ((1, 5, 10, 50, 100), 1000, [1, 6, 16, 66, 166, 266, 366, 466, 566, 666, 766, 866, 966, 1000]),
        ((3,), 0, []),
    ],
)
def test_batch_boundaries(batches: tuple[Any, ...], total: int, bounds: list[int]) -> None:
    assert batch_boundaries(batches, total) == bounds


@pytest.mark.parametrize(
    ("value", "total", "minimum", "want"),
    [(3, 10, 1, 3), ("10%", 5, 1, 1), ("7%", 100, 1, 7), ("1%", 1000, 1, 10), ("0%", 50, 0, 0), ("5%", 10, 0, 1),
     (0, 10, 0, 0), ("34%", 3, 1, 2)],
)
def test_resolve_rounds_up(value: Any, total: int, minimum: int, want: int) -> None:
    assert resolve(value, total, minimum=minimum) == want


@given(st.lists(st.one_of(st.integers(1, 50), st.integers(1, 100).map(lambda p: f"{p}%")), min_size=1,
                max_size=6), st.integers(0, 3000))
def test_boundaries_always_cover_everyone(batches: list[Any], total: int) -> None:
    bounds = batch_boundaries(batches, total)
    assert (bounds[-1] if bounds else 0) == total
    assert all(b > a for a, b in zip([0, *bounds], bounds, strict=False))


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"rollingUpdate": {"batches": [0]}}, "spec.updateStrategy.rollingUpdate.batches[0]: must be >= 1"),
        ({"rollingUpdate": {"batches": [1, "ten"]}}, "batches[1]: must be an integer or a percentage"),
        ({"rollingUpdate": {"maxUnavailable": "0%"}}, "maxUnavailable: percentage must be 1%-100%"),
        ({"rollingUpdate": {"maxFailures": -1}}, "maxFailures: must be >= 0"),
        ({"rollingUpdate": {"batchSoakSeconds": -5}}, "batchSoakSeconds: must be a number >= 0"),
    ],
)
def test_bad_strategy_names_the_field(spec: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error.replace("[", r"\[").replace("]", r"\]")):
        Strategy.from_spec(spec)


# --------------------------------------------------------------------------- order


def test_order_is_deterministic_and_depends_on_revision() -> None:
    machines = fleet(50)
    a = [m.name for m in rollout_order(machines, NEW)]
    assert a == [m.name for m in rollout_order(list(reversed(machines)), NEW)]
    assert a != [m.name for m in rollout_order(machines, "other")]
    assert a != sorted(a)  # not simply by name


# --------------------------------------------------------------------------- batches


@pytest.mark.parametrize(
    ("updated", "updating", "phase", "batch_number", "batch_size"),
    [
        (0, 0, "Progressing", 1, 1),  # canary first
        (1, 0, "Progressing", 2, 2),
        (0, 1, "Progressing", None, 0),  # batch 1 in flight: nothing new
        (1, 2, "Progressing", None, 0),  # never more than one batch in flight
        (3, 0, "Progressing", 3, 2),
        (5, 0, "Completed", None, 0),
    ],
)
def test_batches_follow_order_one_at_a_time(updated: int, updating: int, phase: str, batch_number: int | None,
                                            batch_size: int) -> None:
    order = first(5, 5)
    machines = at_new(at_new(fleet(5), order[:updated]), order[updated:updated + updating], "updating")
    p = plan(machines)
    assert p.phase == phase
    if batch_number is None:
        assert p.batch is None
    else:
        assert p.batch is not None and p.batch.number == batch_number
        assert list(p.batch.machines) == order[updated:updated + batch_size]
    assert p.updated == updated and p.ready == updated and p.desired == 5 and p.total_batches == 3


def test_stale_status_counts_as_in_flight() -> None:
    # The spec moved but the agent still reports the old revision healthy: not done.
    machines = at_new(fleet(5), first(5, 1), "stale")
    p = plan(machines)
    assert p.batch is None and p.in_flight == tuple(first(5, 1)) and p.ready == 0


def test_new_machines_get_the_target_at_once() -> None:
    p = plan(fleet(3, m1=None))
    assert p.creates == {"m1": NEW}
    assert p.batch is None  # the newcomer is in flight
    assert "m1" in p.in_flight


def test_no_machines_is_complete() -> None:
    p = plan([])
    assert p.phase == "Completed" and p.reason == "NoMachinesSelected"


# --------------------------------------------------------------------------- health gates


@pytest.mark.parametrize(
    ("max_unavailable", "down", "want_size", "reason"),
    [
        (None, 0, 2, "BatchInProgress"),
        (2, 0, 2, "BatchInProgress"),
        (1, 0, 1, "BatchInProgress"),  # cut to the room left
        (2, 1, 1, "BatchInProgress"),  # a machine not Running/healthy counts against it
        (1, 1, 0, "MaxUnavailableReached"),
        ("20%", 0, 1, "BatchInProgress"),  # 20% of 5 = 1
    ],
)
def test_max_unavailable(max_unavailable: Any, down: int, want_size: int, reason: str) -> None:
    order = first(5, 5)
    machines = at_new(fleet(5), order[:1])
    # An unrelated machine whose component (at OLD) is down.
    machines = [MachineState(m.name, m.uid, component=ComponentState(f"c-{m.name}", OLD, "Running", False, OLD))
                if m.name in order[5 - down:] else m for m in machines]
    p = plan(machines, strategy=Strategy(batches=(1, 2, 2), max_unavailable=max_unavailable))
    assert p.reason == reason
    assert (len(p.batch.machines) if p.batch else 0) == want_size


def test_cut_batch_is_topped_up_under_the_same_number() -> None:
    order = first(5, 5)
    machines = at_new(fleet(5), order[:2])  # batch 2 (size 2) got only 1 machine so far
    p = plan(machines, strategy=Strategy(batches=(1, 2, 2), max_unavailable=1))
    assert p.batch is not None and p.batch.number == 2 and list(p.batch.machines) == order[2:3]


@pytest.mark.parametrize(
    ("healthy_since", "now", "soak", "starts", "requeue"),
    [
        (100.0, 105.0, 30, False, 25.0),
        (100.0, 130.0, 30, True, None),
        (100.0, 100.0, 0, True, None),
        (None, 1000.0, 30, True, None),  # nothing reported and no batch start: nothing to wait for
    ],
)
def test_soak(healthy_since: float | None, now: float, soak: int, starts: bool, requeue: float | None) -> None:
    order = first(5, 5)
    machines = [MachineState(m.name, m.uid, component=comp(m.name, NEW, "ok", since=healthy_since))
                if m.name == order[0] else m for m in fleet(5)]
    p = plan(machines, strategy=Strategy(batches=(1, 2, 2), soak_seconds=soak), now=now)
    assert (p.batch is not None) == starts
    if not starts:
        assert p.reason == "BatchSoaking" and p.requeue_after == requeue


def test_soak_falls_back_to_batch_start() -> None:
    order = first(5, 5)
    p = plan(at_new(fleet(5), order[:1]), strategy=Strategy(batches=(1, 2, 2), soak_seconds=60), batch_start=100.0,
             now=120.0)
    assert p.batch is None and p.reason == "BatchSoaking"


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("max_failures", "failures", "phase", "reason"),
    [
        (0, 1, "Paused", "MaxFailuresExceeded"),
        (1, 1, "Progressing", "BatchInProgress"),
        (1, 2, "Paused", "MaxFailuresExceeded"),
        ("20%", 1, "Progressing", "BatchInProgress"),  # 20% of 5 = 1 tolerated
        ("20%", 2, "Paused", "MaxFailuresExceeded"),
        ("0%", 1, "Paused", "MaxFailuresExceeded"),
    ],
)
def test_failures_pause(max_failures: Any, failures: int, phase: str, reason: str) -> None:
    order = first(5, 5)
    machines = at_new(at_new(fleet(5), order[:3]), order[:failures], "failed")
    p = plan(machines, strategy=Strategy(batches=(1, 2, 2), max_failures=max_failures))
    assert (p.phase, p.reason) == (phase, reason)
    assert [name for name, _ in p.failed] == sorted(order[:failures], key=order.index)
    assert p.degraded
    if phase == "Paused":
        assert p.batch is None
        assert all(m not in p.creates for m in order)  # nothing else moves


def test_failure_pause_gives_newcomers_the_stable_revision() -> None:
    order = first(5, 5)
    machines = at_new(fleet(5), order[:1], "failed")
    machines = [MachineState(m.name, m.uid) if m.name == order[4] else m for m in machines]
    p = plan(machines)
    assert p.phase == "Paused" and p.creates == {order[4]: OLD}


def test_rollback_on_failure_moves_every_changed_machine_back() -> None:
    order = first(5, 5)
    machines = at_new(at_new(fleet(5), order[:3]), order[1:2], "failed")
    p = plan(machines, strategy=Strategy(batches=(1, 2, 2), rollback_on_failure=True))
    assert p.phase == "RollingBack"
    assert p.batch is not None and p.batch.rollback and p.batch.revision == OLD
    assert sorted(p.batch.machines) == sorted(order[:3])
    assert [n for n, _ in p.failed] == [order[1]]


def test_rollback_is_remembered_then_failed() -> None:
    # After the rollback the failed status is gone (machines are back on OLD), but the rollout must not restart.
    back = fleet(5)
    remembered = (("m9", "health check failed"),)
    p = plan(back, previous_phase="RollingBack", previous_failed=remembered,
             strategy=Strategy(batches=(1, 2, 2), rollback_on_failure=True))
    assert p.phase == "Failed" and p.reason == "RolledBack" and p.batch is None and p.failed == remembered


def test_rollback_waits_for_machines_to_be_healthy_again() -> None:
    machines = [MachineState(m.name, m.uid, component=ComponentState(f"c-{m.name}", OLD, "Installing", False, OLD))
                if m.name == "m0" else m for m in fleet(5)]
    p = plan(machines, previous_phase="RollingBack")
    assert p.phase == "RollingBack" and p.batch is None and p.in_flight == ("m0",)


def test_rollback_without_stable_revision_pauses() -> None:
    machines = at_new(fleet(5), first(5, 1), "failed")
    p = plan_rollout(RolloutInput(target=NEW, machines=machines, stable=None,
                                  strategy=Strategy(batches=(1,), rollback_on_failure=True)))
    assert p.phase == "Paused" and p.reason == "MaxFailuresExceeded"


# --------------------------------------------------------------------------- pauses


@pytest.mark.parametrize(
    ("pause_after", "approved", "updated", "phase", "starts"),
    [
        ((1,), 0, 1, "Paused", False),
        ((1,), 1, 1, "Progressing", True),  # resumed
        ((2,), 0, 1, "Progressing", True),  # not there yet
        ((2,), 0, 3, "Paused", False),
        ((1,), 0, 0, "Progressing", True),  # pauses come after a batch, not before the first
    ],
)
def test_pause_after_batches(pause_after: tuple[int, ...], approved: int, updated: int, phase: str,
                             starts: bool) -> None:
    machines = at_new(fleet(5), first(5, updated))
    p = plan(machines, strategy=Strategy(batches=(1, 2, 2), pause_after=frozenset(pause_after)),
             approved_batch=approved)
    assert p.phase == phase and (p.batch is not None) == starts
    if phase == "Paused":
        assert p.reason == "PausedAfterBatch"


def test_spec_paused_stops_new_batches_but_not_newcomers() -> None:
    p = plan(fleet(5, m4=None), paused=True)
    assert p.phase == "Paused" and p.reason == "PausedByUser" and p.batch is None
    assert p.creates == {"m4": NEW}


def test_completed_even_when_paused() -> None:
    p = plan(at_new(fleet(5), first(5, 5)), paused=True)
    assert p.phase == "Completed"


# --------------------------------------------------------------------------- OnDelete


def test_on_delete_never_moves_existing_components() -> None:
    p = plan(fleet(3, m2=None), strategy=Strategy(type="OnDelete"))
    assert p.batch is None and p.creates == {"m2": NEW} and p.phase == "Progressing"


# --------------------------------------------------------------------------- soak from batch readiness


@pytest.mark.parametrize(
    ("healthy_since", "batch_ready", "now", "starts", "requeue"),
    [
        # a quick upgrade never flips Healthy: its old transition time must not skip the soak
        (10.0, 100.0, 105.0, False, 25.0),
        (10.0, 100.0, 130.0, True, None),
        (None, 100.0, 101.0, False, 29.0),
        # a Healthy transition newer than the recorded readiness restarts the clock from there
        (120.0, 100.0, 130.0, False, 20.0),
    ],
)
def test_soak_counts_from_batch_readiness(healthy_since: float | None, batch_ready: float, now: float,
                                          starts: bool, requeue: float | None) -> None:
    order = first(5, 5)
    machines = [MachineState(m.name, m.uid, component=comp(m.name, NEW, "ok", since=healthy_since))
                if m.name == order[0] else m for m in fleet(5)]
    p = plan(machines, strategy=Strategy(batches=(1, 2, 2), soak_seconds=30), batch_ready=batch_ready, now=now)
    assert (p.batch is not None) == starts
    assert p.batch_ready == batch_ready  # the controller keeps it in status.batchReadyTime
    if not starts:
        assert p.reason == "BatchSoaking" and p.requeue_after == requeue


def test_batch_readiness_is_only_reported_between_batches() -> None:
    order = first(5, 5)
    in_flight = plan(at_new(fleet(5), order[:1], "updating"), batch_ready=50.0, now=60.0)
    assert in_flight.in_flight and in_flight.batch_ready is None
    done = plan(at_new(fleet(5), order[:1]), batch_ready=50.0, now=60.0)
    assert done.batch_ready == 50.0


# --------------------------------------------------------------------------- first installs on machines in service


def serving(n: int, without: list[str]) -> list[MachineState]:
    """`n` machines in service; those in `without` have no component yet."""
    return [MachineState(m.name, m.uid, component=None, in_service=True) if m.name in without
            else MachineState(m.name, m.uid, component=m.component, in_service=True) for m in fleet(n)]


def test_a_new_set_on_machines_in_service_goes_in_batches() -> None:
    names = [f"m{i}" for i in range(5)]
    p = plan(serving(5, names))
    assert p.creates == {}  # nothing at once
    assert p.batch is not None and p.batch.number == 1 and list(p.batch.machines) == first(5, 1)
    assert p.phase == "Progressing" and p.waiting == 5


def test_machines_in_service_wait_for_their_batch() -> None:
    order = first(5, 5)
    machines = [MachineState(m.name, m.uid, component=comp(m.name, NEW) if m.name == order[0] else None,
                             in_service=True) for m in fleet(5)]
    p = plan(machines)
    assert p.creates == {} and p.batch is not None and p.batch.number == 2
    assert list(p.batch.machines) == order[1:3]


def test_waiting_machines_use_no_unavailability_room() -> None:
    names = [f"m{i}" for i in range(5)]
    p = plan(serving(5, names), strategy=Strategy(batches=(2,), max_unavailable=1))
    assert p.batch is not None and len(p.batch.machines) == 1


def test_a_joining_machine_still_gets_the_target_at_once_next_to_waiting_ones() -> None:
    machines = [*serving(4, ["m3"]), MachineState("late", "uid-late")]
    p = plan(machines)
    assert p.creates == {"late": NEW}
    assert "m3" not in p.creates and "late" in p.in_flight


def test_a_new_set_on_machines_in_service_completes_only_when_all_installed() -> None:
    order = first(3, 3)
    machines = [MachineState(m.name, m.uid, component=comp(m.name, NEW), in_service=True) if m.name != order[2]
                else MachineState(m.name, m.uid, in_service=True) for m in fleet(3)]
    p = plan(machines, strategy=Strategy(batches=(1, 1, 1)))
    assert p.phase == "Progressing" and p.batch is not None and list(p.batch.machines) == [order[2]]


def test_on_delete_installs_waiting_machines_at_once() -> None:
    p = plan(serving(3, ["m1"]), strategy=Strategy(type="OnDelete"))
    assert p.creates == {"m1": NEW}
