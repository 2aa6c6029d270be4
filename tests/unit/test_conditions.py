"""Condition helpers keep transition times honest."""

from __future__ import annotations

import calendar
import time

import pytest

from kubenode.runtime.conditions import get_condition, is_true, seconds_in_status, set_condition

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


@pytest.mark.parametrize(
    ("first", "second", "changed", "ltt"),
    [
        (("True", "A", "m"), ("True", "A", "m"), False, T0),
        (("True", "A", "m"), ("True", "B", "m"), True, T0),
        (("True", "A", "m"), ("True", "A", "other"), True, T0),
        (("True", "A", "m"), ("False", "A", "m"), True, T1),
        (("False", "A", "m"), ("Unknown", "A", "m"), True, T1),
    ],
)
def test_transition_time_moves_only_on_status_change(first: tuple[str, str, str], second: tuple[str, str, str],
                                                     changed: bool, ltt: str) -> None:
    conds: list[dict[str, object]] = []
    assert set_condition(conds, "Ready", *first, now=T0)
    assert set_condition(conds, "Ready", *second, now=T1) is changed
    c = get_condition(conds, "Ready")
    assert c is not None
    assert c["lastTransitionTime"] == ltt
    assert len(conds) == 1


def test_observed_generation_and_helpers() -> None:
    conds: list[dict[str, object]] = []
    set_condition(conds, "Ready", "True", "Ok", observed_generation=3, now=T0)
    assert conds[0]["observedGeneration"] == 3
    assert set_condition(conds, "Ready", "True", "Ok", observed_generation=4, now=T0)
    assert is_true(conds, "Ready") and not is_true(conds, "Other")
    now = calendar.timegm(time.strptime(T1, "%Y-%m-%dT%H:%M:%SZ"))
    assert seconds_in_status(conds, "Ready", now) == 300
    with pytest.raises(ValueError, match="True, False or Unknown"):
        set_condition(conds, "Ready", "Maybe", "x")
