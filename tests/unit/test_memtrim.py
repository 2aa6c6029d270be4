"""The operator's malloc trimmer trims after the RSS grew, never while it is flat (issue 15)."""

from __future__ import annotations

import pytest

from kubenode.controlplane.memtrim import MallocTrimmer, rss_bytes

MIB = 2**20


@pytest.mark.parametrize(("samples", "trims"), [
    ([100, 100, 100], 0),  # idle: never
    ([100, 140, 140, 140], 1),  # one burst: one trim (the trim brings it to 120 below)
    ([100, 140, 200, 260], 3),  # a long burst: one per check that grew past the bound again
    ([100, 60, 95, 100], 1),  # it shrank to 60 by itself: growth is counted from there
    ([100, 131, 131], 0),  # less than the bound
])
def test_trims_after_growth(samples: list[int], trims: int) -> None:
    calls: list[int] = []
    rss = iter([x * MIB for x in samples])
    current = {"v": 0}

    def fake_rss() -> int:
        if calls and current.get("trimmed"):
            current["trimmed"] = 0
            return current["v"] - 20 * MIB
        current["v"] = next(rss)
        return current["v"]

    def fake_trim(pad: int) -> int:
        calls.append(pad)
        current["trimmed"] = 1
        return 1

    t = MallocTrimmer(min_growth=32 * MIB, trim=fake_trim, rss=fake_rss)
    t._baseline = fake_rss()
    for _ in samples[1:]:
        t.check()
    assert (t.trims, calls) == (trims, [0] * trims)


def test_the_real_trim_runs_here() -> None:
    t = MallocTrimmer(min_growth=0)
    assert rss_bytes() > 0
    assert t.check() is t.available
