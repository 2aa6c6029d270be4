"""Machine and MachineSet conditions that tell the truth: ComponentsReady from the machine's MachineComponents,
and the MachineSet conditions its schema names (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest

from kubenode.api import constants as c
from kubenode.api.kinds import MACHINE_SET
from kubenode.machine.machineset_planner import machineset_conditions
from kubenode.machine.phases import Timeouts, components_condition, compute_status
from kubenode.providers.base import InfraStatus

Obj = dict[str, Any]


def mc(name: str, phase: str, healthy: bool, *, revision: str = "r1", installed: str | None = "r1",
       message: str = "") -> Obj:
    st: Obj = {"phase": phase, "healthy": healthy, "message": message}
    if installed is not None:
        st["installedRevision"] = installed
    return {"metadata": {"name": f"{name}-m"}, "spec": {"component": name, "revision": revision}, "status": st}


@pytest.mark.parametrize(("components", "status", "reason", "says"), [
    ([], "True", "NoComponents", "no component"),
    ([mc("a", "Running", True), mc("b", "Running", True)], "True", "AllComponentsReady", "2 component(s)"),
    ([mc("a", "Running", True), mc("b", "Installing", False)], "False", "ComponentsNotReady", "b (Installing)"),
    ([mc("a", "Running", False)], "False", "ComponentsNotReady", "a"),
    ([mc("a", "Running", True, installed="r0")], "False", "ComponentsNotReady", "a"),  # not at its revision yet
    ([mc("a", "Failed", False, message="health check failed"), mc("b", "Installing", False)], "False",
     "ComponentFailed", "a: health check failed"),
])
def test_components_ready(components: list[Obj], status: str, reason: str, says: str) -> None:
    st, why, message = components_condition(components)
    assert (st, why) == (status, reason)
    assert says in message


def test_compute_status_sets_components_ready_only_when_observed() -> None:
    machine: Obj = {"metadata": {"name": "m", "generation": 1}, "status": {}}
    with_it = compute_status(machine, InfraStatus("Running"), None, 1000.0, Timeouts(),
                             components=[mc("a", "Failed", False)])
    cond = {x["type"]: x for x in with_it["conditions"]}[c.MACHINE_CONDITION_COMPONENTS_READY]
    assert (cond["status"], cond["reason"]) == ("False", "ComponentFailed")
    without = compute_status(machine, InfraStatus("Running"), None, 1000.0, Timeouts())
    assert c.MACHINE_CONDITION_COMPONENTS_READY not in {x["type"] for x in without["conditions"]}


@pytest.mark.parametrize(("want", "alive", "ready", "error", "expected"), [
    (3, 3, 3, None, {"MachinesCreated": ("True", "MachinesCreated"), "MachinesReady": ("True", "AllMachinesReady"),
                     "Resized": ("True", "Resized")}),
    (3, 1, 1, None, {"MachinesCreated": ("False", "ScalingUp"), "MachinesReady": ("True", "AllMachinesReady"),
                     "Resized": ("False", "ScalingUp")}),
    (1, 3, 2, None, {"MachinesCreated": ("True", "MachinesCreated"), "MachinesReady": ("False", "MachinesNotReady"),
                     "Resized": ("False", "ScalingDown")}),
    (2, 1, 0, "quota", {"MachinesCreated": ("False", "MachineCreateFailed"),
                        "MachinesReady": ("False", "MachinesNotReady"), "Resized": ("False", "ScalingUp")}),
])
def test_machineset_conditions(want: int, alive: int, ready: int, error: str | None,
                               expected: dict[str, tuple[str, str]]) -> None:
    got = {t: (s, r) for t, s, r, _ in machineset_conditions(want, alive, ready, error)}
    assert got == expected


def test_machineset_conditions_are_the_ones_its_schema_names() -> None:
    described = MACHINE_SET.status["properties"]["conditions"]["description"]
    for type_, *_ in machineset_conditions(1, 1, 1):
        assert type_ in c.MACHINE_SET_CONDITIONS and type_ in described
