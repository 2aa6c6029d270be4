"""The agent's recent log lines, kept in a bounded ring buffer for `kubenode diagnose node`.

A `logging.Handler` on the `kubenode` logger: every record the agent logs
(at the configured level) is formatted and appended; the oldest lines fall
out once `capacity` is reached, so memory stays bounded however long the
agent runs. Served only to authorised callers (see :mod:`.access`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

__all__ = ["LogRing"]

DEFAULT_CAPACITY = 2000
MAX_LINE = 4096


class LogRing(logging.Handler):
    """A logging handler that keeps the last `capacity` formatted lines."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.lines: deque[str] = deque(maxlen=capacity)
        self._guard = threading.Lock()  # records may come from worker threads (asyncio.to_thread)

    def emit(self, record: logging.LogRecord) -> None:
        """Format and keep one record (never raises)."""
        try:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            line = f"{stamp}.{int(record.msecs):03d}Z {record.levelname} {record.name}: {record.getMessage()}"
            if record.exc_info and record.exc_info[1] is not None:
                line += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
            with self._guard:
                self.lines.append(line[:MAX_LINE])
        except Exception:  # a log handler must never break the code that logs
            self.handleError(record)

    def tail(self, n: int) -> list[str]:
        """The newest `n` lines, oldest first."""
        with self._guard:
            items = list(self.lines)
        return items[-n:] if n > 0 else []

    def attach(self, logger_name: str = "kubenode") -> None:
        """Start collecting the records of `logger_name` (and its children)."""
        logger = logging.getLogger(logger_name)
        if logger.getEffectiveLevel() > self.level:
            logger.setLevel(self.level)
        logger.addHandler(self)

    def detach(self, logger_name: str = "kubenode") -> None:
        """Stop collecting."""
        logging.getLogger(logger_name).removeHandler(self)
