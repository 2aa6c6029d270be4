"""metav1.Time and metav1.MicroTime: one parser and the formats, for every layer.

`parse_time` accepts RFC 3339 UTC timestamps as the API writes them
(`2024-01-05T12:00:00Z`, with or without fractional seconds) and returns
epoch seconds, whole seconds only as metav1.Time has; None for absent or
unparsable values. It is cached: a large fleet reports the same few seconds
over and over, and strptime is slow.
"""

from __future__ import annotations

import calendar
import functools
import math
import time
from datetime import UTC, datetime

__all__ = [
    "TIME_FORMAT", "format_micro", "format_time", "format_time_up", "now_rfc3339", "parse_micro", "parse_time",
]

#: metav1.Time on the wire.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@functools.lru_cache(maxsize=8192)
def parse_time(value: str | None) -> float | None:
    """metav1.Time → epoch seconds (None when absent or unparsable)."""
    if not value or not isinstance(value, str):
        return None
    try:
        return float(calendar.timegm(time.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def parse_micro(value: object) -> float | None:
    """metav1.MicroTime (or Time) → epoch seconds with the fraction kept (None when absent or unparsable)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def format_time(t: float) -> str:
    """Epoch seconds → metav1.Time (truncated to the second)."""
    return time.strftime(TIME_FORMAT, time.gmtime(t))


def format_time_up(t: float) -> str:
    """Epoch seconds → metav1.Time rounded up (a wait measured from it is never cut short)."""
    return time.strftime(TIME_FORMAT, time.gmtime(math.ceil(t)))


def format_micro(t: float) -> str:
    """Epoch seconds → metav1.MicroTime."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_rfc3339() -> str:
    """The current time as metav1.Time."""
    return format_time(time.time())
