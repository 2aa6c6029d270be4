"""metav1.Time / MicroTime parsing and formatting in kubenode.apimachinery.timefmt."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.apimachinery.timefmt import format_micro, format_time, parse_micro, parse_time


@pytest.mark.parametrize(
    ("text", "micro", "whole"),
    [
        ("2024-01-05T12:00:00Z", 1704456000.0, 1704456000.0),
        ("2024-01-05T12:00:00.250000Z", 1704456000.25, 1704456000.0),
        ("2024-01-05T12:00:00+00:00", 1704456000.0, 1704456000.0),
        ("", None, None),
        (None, None, None),
        ("yesterday", None, None),
        ("2024-13-05T12:00:00Z", None, None),
    ],
)
def test_parse(text: str | None, micro: float | None, whole: float | None) -> None:
    assert parse_micro(text) == micro
    assert parse_time(text) == whole


def test_parse_micro_refuses_non_strings() -> None:
    assert parse_micro(12) is None
    assert parse_micro({"a": 1}) is None


@given(st.integers(min_value=0, max_value=4_000_000_000), st.integers(min_value=0, max_value=999_999))
def test_round_trips(seconds: int, micros: int) -> None:
    t = seconds + micros / 1e6
    assert parse_micro(format_micro(t)) == pytest.approx(t, abs=1e-6)
    assert parse_time(format_time(t)) == float(seconds)
