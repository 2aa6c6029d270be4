"""Matching log lines against monitor rules: pure, no I/O, no clock.

Like node-problem-detector, a pattern is matched at the *end* of the last
`bufferSize` lines, so a rule may describe a multi-line kernel report. As an
optimisation that keeps the semantics, a pattern that cannot span lines (it
has no newline escape) is matched against the newest line only: neither
Go's nor Python's `.` and `[\\S ]` cross a newline.

Real /dev/kmsg records look like `6,1234,5678901,-;message`; the header is
stripped so the same patterns work on the device and on a plain file.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from .config import PERMANENT, LogMonitorConfig

_KMSG_HEADER = re.compile(r"^\d+,\d+,\d+,[^;]*;")
MAX_MESSAGE = 1024


@dataclass(frozen=True)
class Finding:
    """What one line means: an Event, a condition set, or a condition recovered."""

    kind: str  # "event" | "condition" | "recovered"
    reason: str
    message: str
    condition: str = ""


def strip_kmsg_header(line: str) -> str:
    """The message part of a /dev/kmsg record (the line itself when it has no header)."""
    m = _KMSG_HEADER.match(line)
    return line[m.end():] if m else line


class LogMatcher:
    """Feeds lines through one log monitor's rules, keeping NPD's line buffer."""

    def __init__(self, config: LogMonitorConfig) -> None:
        self.config = config
        self._buffer: deque[str] = deque(maxlen=config.buffer_size)
        self._multiline = any(r.multiline for r in config.rules)
        self._end_patterns = {id(r): r.end_pattern or re.compile(f"(?:{r.pattern.pattern})\\Z")
                              for r in config.rules}
        self._recoveries = [(c.type, c.recovery_pattern) for c in config.conditions if c.recovery_pattern]

    def _message(self, raw: str) -> str | None:
        """The message NPD's watcher would hand to the rules, or None when it drops the line."""
        line = raw.rstrip("\r\n")
        if self.config.plugin in ("kmsg", "journald"):
            # NPD's kmsg and journald watchers TrimSpace the message: `divide error: 0000 [#1] SMP ` matches.
            return (strip_kmsg_header(line) if self.config.plugin == "kmsg" else line).strip()
        if any(s in line for s in self.config.skip_list):
            return None
        if self.config.message_pattern is not None:
            m = self.config.message_pattern.search(line)
            if m is None:
                return None  # NPD's filelog translator skips a line its message pattern does not match
            groups = [g for g in m.groups()]
            line = groups[-1] if groups and groups[-1] is not None else m.group(0)  # NPD: the last submatch
        return line

    def feed(self, raw: str) -> list[Finding]:
        """The findings one new line produces (in rule order; at most one condition change per condition)."""
        message = self._message(raw)
        if message is None:
            return []
        line = message
        self._buffer.append(line)
        joined = "\n".join(self._buffer) if self._multiline else line
        out: list[Finding] = []
        set_conditions: set[str] = set()
        for rule in self.config.rules:
            text = joined if rule.multiline else line
            m = self._end_patterns[id(rule)].search(text)
            if m is None:
                continue
            message = m.group(0).strip()[:MAX_MESSAGE]
            if rule.type == PERMANENT:
                if rule.condition in set_conditions:
                    continue  # the first matching rule of a condition decides its reason
                set_conditions.add(rule.condition)
                out.append(Finding("condition", rule.reason, message, rule.condition))
            else:
                out.append(Finding("event", rule.reason, message))
        for cond, pattern in self._recoveries:
            if cond not in set_conditions and pattern is not None and pattern.search(line):
                out.append(Finding("recovered", "", line.strip()[:MAX_MESSAGE], cond))
        return out
