"""The snapshots that keep a paged list consistent: expiry, eviction, scope."""

from __future__ import annotations

import pytest

from kubenode.apiserver.rest import ListSnapshots


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("age", "alive"), [(0.0, True), (299.0, True), (301.0, False)])
def test_snapshots_expire_after_their_ttl(age: float, alive: bool) -> None:
    clock = Clock()
    snaps = ListSnapshots(ttl=300.0, clock=clock)
    sid = snaps.add("v1/configmaps|default/", [("default/a", {"metadata": {"name": "a"}})])
    clock.now = age
    assert (snaps.get(sid, "v1/configmaps|default/") is not None) == alive


def test_the_least_recently_read_snapshot_goes_first() -> None:
    snaps = ListSnapshots(most=2)
    a, b = snaps.add("s", []), snaps.add("s", [])
    snaps.move_to_end(a)  # `a` was read after `b` was made
    c = snaps.add("s", [])
    assert len(snaps) == 2
    assert snaps.get(b, "s") is None and snaps.get(a, "s") == [] and snaps.get(c, "s") == []


def test_a_snapshot_answers_only_its_own_list() -> None:
    snaps = ListSnapshots()
    sid = snaps.add("v1/configmaps|default/", [])
    assert snaps.get(sid, "v1/secrets|default/") is None
    assert snaps.get("unknown", "v1/configmaps|default/") is None
