"""Pure parts of the hollow-node simulator: the fault grammar, the victims, the fleet's shape, flip's choice."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.simulator.faults import Fault, FaultSpecError, choose_victims, parse_faults
from kubenode.simulator.flip import Flip, pick
from kubenode.simulator.profile import FleetShape, hollow_node, internal_ip, node_labels


@pytest.mark.parametrize(("text", "expected"), [
    ("KernelDeadlock:1%/10m", [Fault("KernelDeadlock", "TaskHung", percent=1.0, period=600.0)]),
    ("ReadonlyFilesystem:3", [Fault("ReadonlyFilesystem", "FilesystemIsReadOnly", count=3)]),
    ("Foo=Bar:0.5%/30s, KernelDeadlock:2", [Fault("Foo", "Bar", percent=0.5, period=30.0),
                                            Fault("KernelDeadlock", "TaskHung", count=2)]),
    ("NetworkUnavailable:1/1h30m", [Fault("NetworkUnavailable", "Simulated", count=1, period=5400.0)]),
    ("", []),
    ("storm", [Fault("KernelDeadlock", "TaskHung", percent=5.0, period=30.0)]),
    ("storm,ReadonlyFilesystem:3", [Fault("KernelDeadlock", "TaskHung", percent=5.0, period=30.0),
                                    Fault("ReadonlyFilesystem", "FilesystemIsReadOnly", count=3)]),
])
def test_parse_faults(text: str, expected: list[Fault]) -> None:
    assert parse_faults(text) == expected


@pytest.mark.parametrize(("text", "says"), [
    ("KernelDeadlock", "TYPE[=REASON]:AMOUNT[/PERIOD]"),
    ("KernelDeadlock:0", "whole number above 0"),
    ("KernelDeadlock:1.5", "whole number above 0"),
    ("KernelDeadlock:150%", "(0, 100]"),
    ("KernelDeadlock:1%/0s", "longer than 0"),
    ("KernelDeadlock:1%/soon", "invalid duration"),
    ("Ready:1", "heartbeat"),
])
def test_bad_faults_say_what_to_write(text: str, says: str) -> None:
    with pytest.raises(FaultSpecError, match=None) as err:
        parse_faults(text)
    assert says in str(err.value)


@given(st.text(max_size=40))
def test_parse_faults_never_crashes(text: str) -> None:
    try:
        faults = parse_faults(text)
    except FaultSpecError:
        return
    for f in faults:
        assert (f.count > 0) != (f.percent > 0)
        assert f.period is None or f.period > 0


@pytest.mark.parametrize(("fault", "fleet", "n"), [
    (Fault("K", "R", percent=1.0), 10_000, 100),
    (Fault("K", "R", percent=1.0), 50, 1),  # rounds up, at least one
    (Fault("K", "R", percent=0.5), 1001, 6),
    (Fault("K", "R", count=5), 3, 3),
    (Fault("K", "R", percent=1.0), 0, 0),
])
def test_victims_per_strike(fault: Fault, fleet: int, n: int) -> None:
    assert fault.victims_per_strike(fleet) == n


def test_victims_are_seeded_and_sorted() -> None:
    names = [f"n{i}" for i in range(100)]
    a = choose_victims(names, 5, random.Random(1))
    assert a == sorted(a) == choose_victims(names, 5, random.Random(1))
    assert choose_victims(names[:2], 5, random.Random(1)) == ["n0", "n1"]


def test_fleet_shape_is_mixed_and_deterministic() -> None:
    shape = FleetShape()
    fleet = [hollow_node(shape, i) for i in range(1000)]
    assert fleet == [hollow_node(shape, i) for i in range(1000)]
    assert {n.zone for n in fleet} == set(shape.zones)
    arm = sum(n.arch == "arm64" for n in fleet)
    gpu = [n for n in fleet if n.gpus]
    assert 100 < arm < 300 and 50 < len(gpu) < 150
    assert all(n.arch == "amd64" for n in gpu)
    assert node_labels(shape, gpu[0])["kubenode.io/gpu"] == "true"
    assert len({internal_ip(i) for i in range(70_000)}) == 70_000


@pytest.mark.parametrize(("text", "expected"), [
    ("KernelDeadlock=True", Flip("KernelDeadlock", "True", "TaskHung")),
    ("KernelDeadlock=False", Flip("KernelDeadlock", "False", "KernelHasNoDeadlock")),
    ("Custom=Unknown", Flip("Custom", "Unknown", "NoProblem")),
])
def test_flip_parse(text: str, expected: Flip) -> None:
    assert Flip.parse(text) == expected


@pytest.mark.parametrize("text", ["KernelDeadlock", "KernelDeadlock=yes", "Ready=False"])
def test_flip_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        Flip.parse(text)


@pytest.mark.parametrize(("kw", "expected"), [
    ({"count": None, "percent": None, "seed": None}, ["a", "b", "c", "d"]),
    ({"count": 2, "percent": None, "seed": None}, ["a", "b"]),
    ({"count": None, "percent": 26.0, "seed": None}, ["a", "b"]),
    ({"count": 9, "percent": None, "seed": None}, ["a", "b", "c", "d"]),
])
def test_pick(kw: dict[str, object], expected: list[str]) -> None:
    assert pick(["d", "c", "b", "a"], **kw) == expected  # type: ignore[arg-type]
