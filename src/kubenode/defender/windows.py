"""Budget window lengths: `30s`, `1m`, `5m`, `1h`, `24h`, `7d`.

Windows are written the way operators talk about rate limits (KubeDefender's
1m/5m/1h/24h). The CRD schema only checks the shape (`^[0-9]+(s|m|h|d)$`), so
`0s` or an absurd `99999d` reach the Defender; they are refused here and the
policy fails closed. The upper bound keeps the ledger (kept for the longest
window) small enough to persist in the policy's status.
"""

from __future__ import annotations

import re

__all__ = ["MAX_WINDOW_SECONDS", "WindowError", "format_window", "parse_window"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WINDOW = re.compile(r"([0-9]{1,9})([smhd])")
#: Longest accepted window: 30 days.
MAX_WINDOW_SECONDS = 30 * 86400


class WindowError(ValueError):
    """A window string that is not a positive duration of at most 30 days."""


def parse_window(text: str) -> int:
    """Seconds in `text` (e.g. "5m" -> 300); WindowError for anything else.

    Only one number and one unit: "1h30m" is refused rather than guessed.
    """
    if not isinstance(text, str):
        raise WindowError(f"window must be a string such as 1m or 24h, not {type(text).__name__}")
    m = _WINDOW.fullmatch(text)
    if m is None:
        raise WindowError(f"invalid window {text!r}: want a number and s, m, h or d (e.g. 1m, 5m, 1h, 24h)")
    seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise WindowError(f"invalid window {text!r}: must be longer than zero")
    if seconds > MAX_WINDOW_SECONDS:
        raise WindowError(f"invalid window {text!r}: at most 30d")
    return seconds


def format_window(seconds: int) -> str:
    """The shortest exact window string for `seconds` (300 -> "5m"); inverse of `parse_window`."""
    if seconds <= 0:
        raise WindowError("window must be longer than zero")
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"
