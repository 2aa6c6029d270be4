"""The incremental FleetView: after any sequence of updates it plans exactly as a view built from scratch."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubenode.componentset.fleet import NO_COMPONENT, ComponentState, FleetView, MachineState, traits_of
from kubenode.componentset.rollout_planner import RolloutInput, Strategy, plan_rollout, rollout_order

REVISIONS = ("old", "new", "other")
NAMES = tuple(f"m{i}" for i in range(12))

#: Ready at the target with some Healthy time: common, so that the soak clock's bookkeeping is exercised.
ready_components = st.builds(lambda since: ComponentState("c", "new", "Running", True, "new", healthy_since=since),
                             st.one_of(st.none(), st.sampled_from((10.0, 20.0, 30.0))))
components = st.one_of(st.none(), ready_components, st.builds(
    ComponentState,
    name=st.just("c"),
    revision=st.sampled_from(REVISIONS),
    phase=st.sampled_from(("", "Installing", "Running", "Failed")),
    healthy=st.booleans(),
    installed_revision=st.sampled_from(("", *REVISIONS)),
    message=st.sampled_from(("", "health check failed")),
    fresh=st.booleans(),
    healthy_since=st.one_of(st.none(), st.sampled_from((10.0, 20.0, 30.0))),
    deleting=st.booleans()))
machines = st.builds(lambda name, node, comp: MachineState(name, f"uid-{name}", node, comp),
                     st.sampled_from(NAMES), st.sampled_from(("", "node-a")), components)
#: ("put", state) or ("discard", name)
operations = st.lists(st.one_of(st.tuples(st.just("put"), machines),
                                st.tuples(st.just("discard"), st.sampled_from(NAMES))), max_size=40)
strategies = st.builds(
    Strategy,
    batches=st.sampled_from(((1, 2, 2), (1, "50%"), ("30%",))),
    max_unavailable=st.sampled_from((None, 1, "50%")),
    soak_seconds=st.sampled_from((0.0, 15.0)),
    max_failures=st.sampled_from((0, 1, "50%")),
    pause_after=st.sampled_from((frozenset(), frozenset({1}))),
    rollback_on_failure=st.booleans())


def apply(ops: list[tuple[str, Any]], view: FleetView) -> dict[str, MachineState]:
    """Apply `ops` to `view` and to a plain dict; return the dict."""
    model: dict[str, MachineState] = {}
    for op, arg in ops:
        if op == "put":
            assert view.put(arg) == (model.get(arg.name) != arg)
            model[arg.name] = arg
        else:
            assert view.discard(arg) == (arg in model)
            model.pop(arg, None)
    return model


@settings(max_examples=300, deadline=None)
@given(ops=operations, strategy=strategies, stable=st.sampled_from((None, "old", "other")),
       previous_phase=st.sampled_from(("", "RollingBack")), paused=st.booleans(), now=st.sampled_from((25.0, 50.0)))
def test_incremental_view_plans_like_a_fresh_one(ops: list[tuple[str, Any]], strategy: Strategy, stable: str | None,
                                                 previous_phase: str, paused: bool, now: float) -> None:
    view = FleetView("new", stable)
    model = apply(ops, view)
    kw: dict[str, Any] = {"target": "new", "strategy": strategy, "stable": stable, "paused": paused,
                          "previous_phase": previous_phase, "batch_start": 5.0, "now": now}
    assert plan_rollout(RolloutInput(machines=view, **kw)) == plan_rollout(
        RolloutInput(machines=list(model.values()), **kw))
    # the view's own answers, against brute force over the model
    assert len(view) == len(model) and view.names() == set(model)
    assert [m.name for m in view.walk(lambda t: True)] == [m.name for m in rollout_order(list(model.values()), "new")]
    ready = [m.component.healthy_since for m in model.values()
             if m.component is not None and m.component.ready_at("new")]
    assert view.newest_ready_since() == max((s for s in ready if s is not None), default=None)
    assert view.has_ready_without_since() == any(s is None for s in ready)


@pytest.mark.parametrize(("comp", "expected"), [
    (None, NO_COMPONENT),
    (ComponentState("c", "new", "Running", True, "new"),
     dict(component=True, at_target=True, updated=True, ready=True, available=True)),
    (ComponentState("c", "new", "Running", True, "old", fresh=False),  # the agent has not seen the new spec
     dict(component=True, at_target=True, available=True)),
    (ComponentState("c", "new", "Failed", False, "old", message="boom"),
     dict(component=True, at_target=True, failed=True)),
    (ComponentState("c", "old", "Running", True, "old"),
     dict(component=True, at_stable=True, available=True, ready_stable=True)),
    (ComponentState("c", "old", "Running", True, "old", deleting=True), dict(component=True, at_stable=True)),
])
def test_traits(comp: ComponentState | None, expected: Any) -> None:
    t = traits_of(comp, "new", "old")
    want = expected if expected is NO_COMPONENT else NO_COMPONENT._replace(**expected)
    assert t == want


def test_walk_takes_the_first_machines_in_rollout_order_across_buckets() -> None:
    fleet = [MachineState(n, f"uid-{n}", component=ComponentState("c", "old", "Running", i % 2 == 0, "old"))
             for i, n in enumerate(NAMES)]
    view = FleetView("new", "old", fleet)
    assert len({view._entries[n].traits for n in NAMES}) == 2  # healthy and unhealthy machines: two buckets
    order = [m.name for m in rollout_order(fleet, "new")]
    assert [m.name for m in view.walk(lambda t: t.component and not t.at_target, limit=5)] == order[:5]
    view.put(MachineState(order[0], f"uid-{order[0]}", component=ComponentState("c", "new", "Installing")))
    assert [m.name for m in view.walk(lambda t: t.component and not t.at_target, limit=5)] == order[1:6]
    assert view.count(lambda t: t.at_target) == 1


def test_a_machine_appears_once() -> None:
    with pytest.raises(ValueError, match="appears twice"):
        FleetView("new", None, [MachineState("a", "1"), MachineState("a", "2")])
