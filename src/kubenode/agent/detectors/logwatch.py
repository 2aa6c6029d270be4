"""Reading logs incrementally, with a bounded cost.

`FileTail` follows a plain file (a filelog path, or the local-mode kmsg file
that tests append to): it remembers the inode and byte offset (persisted by
the caller, so an agent restart resumes where it stopped), starts over when
the file was truncated or replaced, and only consumes complete lines.

`KmsgDevice` reads the real /dev/kmsg character device, one record per
read, without blocking; on the first read it skips records older than the
monitor's lookback.

`FloodBudget` is the answer to NPD #282 (a log flood burns a CPU): a token
bucket of lines per second. Lines beyond it are counted and dropped without
being matched — splitting bytes on newlines is all they cost.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path

READ_CHUNK = 1 << 20  # bytes per read: bounds memory even when a huge file appears at once


class FileTail:
    """Follows one plain file from a remembered (inode, offset)."""

    def __init__(self, path: Path, position: list[int] | None = None, *, from_end: bool = False) -> None:
        """Resume at `position` ([inode, offset]); without one start at the end when `from_end`, else at 0."""
        self.path = path
        self.inode, self.offset = (position[0], position[1]) if position else (0, -1 if from_end else 0)

    @property
    def position(self) -> list[int]:
        """[inode, offset] to persist."""
        return [self.inode, max(self.offset, 0)]

    def read_lines(self, max_bytes: int = READ_CHUNK) -> list[str]:
        """Complete lines appended since the last call (at most about `max_bytes` of them)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        if self.offset < 0:  # first start: skip what is already there
            self.inode, self.offset = st.st_ino, st.st_size
            return []
        if st.st_ino != self.inode or st.st_size < self.offset:
            # Rotated or truncated: a new file starts at its beginning.
            self.inode, self.offset = st.st_ino, 0
        if st.st_size == self.offset:
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(max_bytes)
        end = data.rfind(b"\n")
        if end < 0:
            if len(data) >= max_bytes:  # one enormous line: skip it rather than stall forever
                self.offset += len(data)
            return []
        self.offset += end + 1
        return data[:end].decode("utf-8", errors="replace").split("\n")


class KmsgDevice:
    """Reads the kernel ring buffer from /dev/kmsg (real hosts)."""

    def __init__(self, path: Path, lookback: float) -> None:
        self.path = path
        self.lookback = lookback
        self._fd: int | None = None

    @staticmethod
    def is_device(path: Path) -> bool:
        """Whether `path` is a character device (the real /dev/kmsg, not the local-mode file)."""
        try:
            return stat.S_ISCHR(os.stat(path).st_mode)
        except OSError:
            return False

    def read_lines(self, max_records: int = 10_000) -> list[str]:
        """Records available now (header kept: the matcher strips it)."""
        first = self._fd is None
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        cutoff_us = (time.clock_gettime(time.CLOCK_BOOTTIME) - self.lookback) * 1e6 if first else None
        out: list[str] = []
        while len(out) < max_records:
            try:
                rec = os.read(self._fd, 8192)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # overwritten before we read it: continue with the next
                    continue
                raise
            if not rec:
                break
            line = rec.decode("utf-8", errors="replace").rstrip("\n")
            if cutoff_us is not None:
                try:
                    if float(line.split(",", 3)[2]) < cutoff_us:
                        continue
                except (IndexError, ValueError):
                    pass
            out.append(line)
        return out

    def close(self) -> None:
        """Close the device."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class FloodBudget:
    """A token bucket of lines per second; counts what it refuses."""

    def __init__(self, per_second: int, now: float) -> None:
        self.rate = float(per_second)
        self.tokens = float(per_second)
        self.stamp = now
        self.dropped = 0

    def admit(self, n: int, now: float) -> int:
        """How many of `n` new lines may be matched now; the rest are counted as dropped."""
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        ok = min(n, int(self.tokens))
        self.tokens -= ok
        self.dropped += n - ok
        return ok
